// Package uml boots User-mode Linux (Debian's user-mode-linux, hostfs root)
// with the real Linux PPP driver and pppd 2.4.9 on its serial line ttyS0, as
// the reference peer of netcard's PPP. Our end of ttyS0 is one end of a
// socketpair (UML gets the other as ssl0=fd:0,fd:1).
//
// One boot (about 4 s) serves several sequential pppd runs, each with its own
// options and secrets; the guest init script (guest-init.sh, embedded) and
// this harness talk through files in a host directory that the guest sees
// through hostfs.
//
// Typical use:
//
//	u, err := uml.Boot(ctx, uml.Config{Dir: t.TempDir()})
//	defer u.Close()
//	sess, err := u.Start(uml.Run{Options: []string{"10.0.2.2:10.0.2.15", "require-chap"},
//		CHAPSecrets: "card * secret *\n", Cmd: "ping -c 2 $IPREMOTE\n"})
//	line := peers.Borrow(u.Line())  // run the card on line (host.NewDriver)
//	up, err := sess.WaitUp(ctx)      // pppd's ip-up: up.Local, up.Remote
//	rc, out, err := sess.CmdResult(ctx)
//	sess.Stop(ctx)                   // SIGTERM: LCP Terminate-Request
//	line.Close()                     // then the next Start, same boot
package uml

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"netcard/host/peers"
)

//go:embed guest-init.sh
var guestInit []byte

// Kernel is the UML kernel binary looked up on PATH.
const Kernel = "linux.uml"

// Config configures a boot.
type Config struct {
	Dir string       // results directory (required): console.log, guest.log, run-N.* files
	Mem string       // guest memory, default "256M"
	NS  *peers.Netns // optional: run UML inside this namespace
}

// UML is a booted user-mode Linux guest waiting for pppd runs.
type UML struct {
	Dir  string
	Args []string // the UML command line
	line net.Conn
	p    *peers.Process
	runs int
	once sync.Once
}

var seq atomic.Int64

// Boot starts UML and waits (until ctx ends) for its init script to be
// ready for pppd runs.
func Boot(ctx context.Context, cfg Config) (*UML, error) {
	if cfg.Dir == "" {
		return nil, errors.New("uml: Config.Dir is required")
	}
	if cfg.Mem == "" {
		cfg.Mem = "256M"
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "uml_dir"), 0o755); err != nil {
		return nil, err
	}
	initPath := filepath.Join(dir, "guest-init.sh")
	if err := os.WriteFile(initPath, guestInit, 0o755); err != nil {
		return nil, err
	}
	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return nil, err
	}
	defer console.Close()
	ours, theirs, err := peers.SocketPairForChild()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	args := []string{Kernel, "mem=" + cfg.Mem, "rootfstype=hostfs", "rootflags=/", "rw",
		"init=" + initPath, "uml_dir=" + filepath.Join(dir, "uml_dir"),
		fmt.Sprintf("umid=netcard%d-%d", os.Getpid(), seq.Add(1)),
		"con=null", "ssl=null", "con0=null,fd:2", "ssl0=fd:0,fd:1", "NC_OUT=" + dir}
	// A -race binary cannot run inside UML (ThreadSanitizer's mappings).
	if exe, err := os.Executable(); err == nil && !raceEnabled && !strings.ContainsAny(exe, " \t") {
		args = append(args, "NC_INSMOD="+exe)
	}
	var cmd *exec.Cmd
	if cfg.NS != nil {
		cmd = cfg.NS.Command(args[0], args[1:]...)
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, console
	// Own process group: UML forks helpers; Close kills them one PID at a time.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := peers.StartProcess(cmd)
	if err != nil {
		ours.Close()
		return nil, err
	}
	u := &UML{Dir: dir, Args: args, line: ours, p: p}
	if err := u.waitFile(ctx, "ready"); err != nil {
		u.Close()
		return nil, fmt.Errorf("uml: boot: %w; console: %s", err, tail(filepath.Join(dir, "console.log"), 15))
	}
	return u, nil
}

// Line is our end of the guest's /dev/ttyS0.
func (u *UML) Line() net.Conn { return u.line }

// CommandLine is the UML command line, for reports.
func (u *UML) CommandLine() string { return strings.Join(u.Args, " ") }

// waitFile polls for Dir/name (or UML's exit) until ctx ends.
func (u *UML) waitFile(ctx context.Context, name string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(filepath.Join(u.Dir, name)); err == nil {
			return nil
		}
		if u.p.Exited() {
			return fmt.Errorf("UML exited while waiting for %s", name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// Run describes one pppd run in the guest.
type Run struct {
	// Options are appended to the fixed command line
	// "pppd /dev/ttyS0 115200 nodetach noauth local nocrtscts nolock
	// lcp-echo-interval 0 debug kdebug 0 logfile … ipparam …", one option
	// (with its arguments) per element, e.g. "10.0.2.2:10.0.2.15",
	// "require-chap", "user card". Never "record".
	Options     []string
	PAPSecrets  string // contents of /etc/ppp/pap-secrets, if any
	CHAPSecrets string // contents of /etc/ppp/chap-secrets, if any
	Cmd         string // sh script run in the guest after ip-up (env IFNAME IPLOCAL IPREMOTE)
}

// Session is a pppd run in progress.
type Session struct {
	u      *UML
	N      int
	prefix string
}

// Start starts pppd in the guest with r. Runs are sequential: the previous
// session must have been stopped.
func (u *UML) Start(r Run) (*Session, error) {
	for _, o := range r.Options {
		if strings.Fields(o) != nil && strings.Fields(o)[0] == "record" {
			return nil, errors.New("uml: pppd's record option wedges UML's serial line")
		}
	}
	u.runs++
	s := &Session{u: u, N: u.runs, prefix: filepath.Join(u.Dir, fmt.Sprintf("run-%d", u.runs))}
	files := []struct{ ext, body string }{
		{".pap-secrets", r.PAPSecrets}, {".chap-secrets", r.CHAPSecrets}, {".cmd", r.Cmd},
	}
	for _, f := range files {
		if f.body != "" {
			if err := os.WriteFile(s.prefix+f.ext, []byte(f.body), 0o600); err != nil {
				return nil, err
			}
		}
	}
	// Written last: its appearance starts the run.
	if err := writeAtomic(s.prefix+".opts", strings.Join(r.Options, "\n")+"\n"); err != nil {
		return nil, err
	}
	return s, nil
}

// IPUp is what pppd's ip-up script saw. DNS1 and DNS2 are the servers the
// peer offered (RFC 1877), set only with pppd's usepeerdns option.
type IPUp struct {
	Iface, Local, Remote string
	DNS1, DNS2           string
}

// WaitUp waits for pppd's ip-up (IPCP Opened on the Linux side).
func (s *Session) WaitUp(ctx context.Context) (IPUp, error) {
	name := filepath.Base(s.prefix) + ".ipup"
	if err := s.waitFileOrRC(ctx, name); err != nil {
		return IPUp{}, fmt.Errorf("%w; pppd log:\n%s", err, s.Log())
	}
	b, err := os.ReadFile(s.prefix + ".ipup")
	if err != nil {
		return IPUp{}, err
	}
	var up IPUp
	for _, kv := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "IFNAME":
			up.Iface = v
		case "IPLOCAL":
			up.Local = v
		case "IPREMOTE":
			up.Remote = v
		case "DNS1":
			up.DNS1 = v
		case "DNS2":
			up.DNS2 = v
		}
	}
	return up, nil
}

// waitFileOrRC waits for a result file; it fails early if pppd exits.
func (s *Session) waitFileOrRC(ctx context.Context, name string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(filepath.Join(s.u.Dir, name)); err == nil {
			return nil
		}
		if rc, err := os.ReadFile(s.prefix + ".rc"); err == nil {
			return fmt.Errorf("pppd run %d exited with status %s before %s", s.N, strings.TrimSpace(string(rc)), name)
		}
		if s.u.p.Exited() {
			return fmt.Errorf("UML exited while waiting for %s", name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// CmdResult waits for the Run.Cmd script's exit status and output.
func (s *Session) CmdResult(ctx context.Context) (rc string, output string, err error) {
	if err := s.waitFileOrRC(ctx, filepath.Base(s.prefix)+".cmd.rc"); err != nil {
		return "", "", err
	}
	b, _ := os.ReadFile(s.prefix + ".cmd.rc")
	out, _ := os.ReadFile(s.prefix + ".cmd.log")
	return strings.TrimSpace(string(b)), string(out), nil
}

// Stop sends SIGTERM to pppd (it sends LCP Terminate-Request) and waits for
// its exit status.
func (s *Session) Stop(ctx context.Context) (rc string, err error) {
	if err := writeAtomic(s.prefix+".stop", "stop\n"); err != nil {
		return "", err
	}
	return s.WaitExit(ctx)
}

// WaitExit waits until pppd exits on its own (for example after a failed
// authentication) and returns its exit status (pppd(8): 19 = we failed to
// authenticate ourselves to the peer, 11 = the peer failed to authenticate).
func (s *Session) WaitExit(ctx context.Context) (rc string, err error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(s.prefix + ".rc"); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		if s.u.p.Exited() {
			return "", errors.New("UML exited before pppd")
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for pppd to exit: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Log returns pppd's debug log of this run (decoded packets).
func (s *Session) Log() string {
	b, _ := os.ReadFile(s.prefix + ".pppd.log")
	return string(b)
}

// Diagnostics returns the guest log and the tail of the UML console, for
// failure messages.
func (u *UML) Diagnostics() string {
	g, _ := os.ReadFile(filepath.Join(u.Dir, "guest.log"))
	return "guest.log:\n" + string(g) + "console (tail):\n" + tail(filepath.Join(u.Dir, "console.log"), 20)
}

// Close asks the guest to power off, waits briefly, then kills UML and its
// helper processes by PID, and closes our end of the line.
func (u *UML) Close() error {
	u.once.Do(func() {
		_ = writeAtomic(filepath.Join(u.Dir, "quit"), "quit\n")
		select {
		case <-u.p.Done():
		case <-time.After(5 * time.Second):
		}
		u.p.Stop(2*time.Second, true)
		u.line.Close()
	})
	return nil
}

func writeAtomic(path, body string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
