package peers

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// HostAddr is the extra address on the namespace's loopback. slirp's redir
// keeps the client's source address, and a Linux guest drops a SYN from
// 127.0.0.1 arriving on ppp0 as a martian: clients connect to HostAddr.
const HostAddr = "192.0.2.1"

// Netns is a network namespace created by us: only lo (up, with 127.0.0.1
// and HostAddr/32) exists in it, so nothing started inside can reach any
// network outside.
type Netns struct {
	Name string
}

var nsSeq atomic.Int64

// NewNetns creates a fresh namespace named "netcard-<pid>-<n>".
func NewNetns() (*Netns, error) {
	name := fmt.Sprintf("netcard-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	ns := &Netns{Name: name}
	for _, args := range [][]string{
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", HostAddr + "/32", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			ns.Close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return ns, nil
}

// TestNetns creates a namespace for a test (after Require(t, "ip")) and
// deletes it in t.Cleanup.
func TestNetns(t testing.TB) *Netns {
	t.Helper()
	ns, err := NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
	})
	return ns
}

// Command returns a command that runs inside the namespace
// (ip netns exec NAME prog args...). ip execs prog, so the started PID is
// prog's own.
func (n *Netns) Command(prog string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, prog}, args...)...)
}

// Run runs a command inside the namespace and returns its combined output.
func (n *Netns) Run(prog string, args ...string) (string, error) {
	out, err := n.Command(prog, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Path is the namespace's bind-mount file (for setns).
func (n *Netns) Path() string { return "/var/run/netns/" + n.Name }

// Close deletes the namespace. Processes we started in it must have been
// stopped first.
func (n *Netns) Close() error {
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Do runs f on a fresh OS thread switched into the namespace, and waits.
// Sockets f creates (net.Listen, net.Dial) belong to the namespace and stay
// usable from any goroutine afterwards. The thread is discarded after f.
func (n *Netns) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open(n.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
