// Package peers runs independent PPP implementations (slirp, the Linux pppd
// in user-mode Linux) as test peers of netcard, each inside a throw-away
// network namespace, and connects them to the caller through a socketpair.
//
// It is host-side test infrastructure: it needs root, iproute2 and the peer
// programs. Require reports missing prerequisites as a test skip, or as a
// failure when CI=true, so that CI never silently skips a real-peer test.
//
// Typical use (slirp assigns 10.0.2.15 to us; 10.0.2.2 is the namespace's
// loopback; redirected ports listen on 0.0.0.0 inside the namespace):
//
//	peers.Require(t, "ip", peers.SlirpProgram)
//	ns := peers.TestNetns(t)                        // deleted in t.Cleanup
//	s, err := peers.StartSlirp(ns, peers.SlirpConfig{Dir: t.TempDir(),
//		Redirs: []peers.Redir{{HostPort: 8080, GuestPort: 80}}})
//	defer s.Close()
//	// s is the serial line: run a ppp.Link on it with host.NewDriver.
//	// Clients reach the card from the namespace with ns.Do(net.Dial to
//	// peers.HostAddr:8080) or ns.Run("curl", ...).
package peers

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Require checks that the test runs as root, that every named program is
// on PATH (or is an existing absolute path) and that every named /dev/ node
// exists. When something is missing the
// test is skipped, or fails when the environment variable CI is "true".
func Require(t testing.TB, programs ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root privileges")
	}
	for _, p := range programs {
		if strings.HasPrefix(p, "/dev/") {
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, p)
			}
		} else if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("real-peer test needs %v (Debian packages: iproute2 slirp user-mode-linux ppp iputils-ping)", missing)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// SocketPair returns the two connected ends of an AF_UNIX stream socketpair
// as net.Conns: a full-duplex, kernel-buffered in-memory serial line.
func SocketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	a, err := fileConn(fds[0], "line-a")
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	b, err := fileConn(fds[1], "line-b")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// SocketPairForChild returns our end as a net.Conn and the child's end as an
// *os.File (blocking, to be passed as a child's stdin/stdout).
func SocketPairForChild() (net.Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	ours, err := fileConn(fds[0], "line")
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return ours, os.NewFile(uintptr(fds[1]), "line-child"), nil
}

func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close() // net.FileConn dups the descriptor
	return net.FileConn(f)
}

// Process is a child process we started; Stop ends it by its PID only.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess starts cmd and reaps it in the background.
func StartProcess(cmd *exec.Cmd) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL. When group is true
// it also kills, one PID at a time, the processes still in the process
// group the child leads (it was started with Setpgid), e.g. UML's helpers.
func (p *Process) Stop(grace time.Duration, group bool) {
	pid := p.cmd.Process.Pid
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if group {
		// UML may still be forking while we kill: repeat until none is left.
		for round := 0; round < 20; round++ {
			ms := groupMembers(pid)
			if len(ms) == 0 {
				break
			}
			for _, q := range ms {
				_ = syscall.Kill(q, syscall.SIGKILL)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// groupMembers lists the PIDs whose process group is pgid (from /proc).
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == pgid {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// Borrow lends c as an io.ReadWriteCloser whose Close only interrupts
// pending and future Reads and Writes of this loan (by setting a past
// deadline), leaving c open for the next Borrow. Use it to run successive
// sessions over one long-lived line (UML's ttyS0).
func Borrow(c net.Conn) io.ReadWriteCloser {
	_ = c.SetDeadline(time.Time{})
	return &loan{c: c}
}

type loan struct {
	c    net.Conn
	once sync.Once
	done atomic.Bool
}

func (l *loan) Read(p []byte) (int, error) {
	if l.done.Load() {
		return 0, net.ErrClosed
	}
	return l.c.Read(p)
}

func (l *loan) Write(p []byte) (int, error) {
	if l.done.Load() {
		return 0, net.ErrClosed
	}
	return l.c.Write(p)
}

func (l *loan) Close() error {
	l.once.Do(func() {
		l.done.Store(true)
		_ = l.c.SetDeadline(time.Unix(1, 0))
	})
	return nil
}

// File returns a duplicate of a socket connection's descriptor (blocking
// mode) to hand to a child process as its stdin and stdout, for example
// `netcard serve --link stdio` on slirp's or UML's line. Close the File in
// the parent once the child has started.
func File(c net.Conn) (*os.File, error) {
	fc, ok := c.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("peers: %T has no file descriptor", c)
	}
	return fc.File()
}
