package peers

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SlirpProgram is the slirp binary used. Plain /usr/bin/slirp exits at once
// on amd64 (bogus select timeout); the FULL_BOLT build works.
const SlirpProgram = "/usr/bin/slirp-fullbolt"

// Redir forwards TCP HostPort (bound on 0.0.0.0 inside the namespace) to
// the PPP peer's GuestPort at 10.0.2.15.
type Redir struct{ HostPort, GuestPort int }

// SlirpConfig configures a slirp peer.
type SlirpConfig struct {
	Dir    string   // working directory and HOME (required; slirp writes its debug files there)
	Redirs []Redir  // TCP port redirections into the PPP peer
	Extra  []string // further slirp options, one word each (e.g. "debugppp FILE")
}

// Slirp is slirp-fullbolt in PPP mode inside a namespace, attached to us by
// a socketpair: it is the host-side PPP peer (it assigns 10.0.2.15 to us,
// 10.0.2.2 is the namespace's loopback). Read and Write are the serial line.
type Slirp struct {
	net.Conn
	Args []string // the slirp command line
	Log  string   // path of slirp's stderr
	p    *Process
	once sync.Once
}

// SlirpArgs returns the slirp command line for cfg.
func SlirpArgs(cfg SlirpConfig) []string {
	args := []string{SlirpProgram, "ppp", "nozeros", "host addr 127.0.0.1", "dns 127.0.0.1", "mtu 1500", "mru 1500"}
	for _, r := range cfg.Redirs {
		args = append(args, fmt.Sprintf("redir %d %d", r.HostPort, r.GuestPort))
	}
	return append(args, cfg.Extra...)
}

// StartSlirp starts slirp inside ns. The socketpair end slirp gets is both
// its stdin and stdout (slirp writes to fd 0, so pipes would not work).
func StartSlirp(ns *Netns, cfg SlirpConfig) (*Slirp, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("peers: SlirpConfig.Dir is required")
	}
	ours, theirs, err := SocketPairForChild()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	args := SlirpArgs(cfg)
	logPath := filepath.Join(cfg.Dir, "slirp.log")
	logf, err := os.Create(logPath)
	if err != nil {
		ours.Close()
		return nil, err
	}
	defer logf.Close()
	cmd := ns.Command(args[0], args[1:]...)
	cmd.Dir = cfg.Dir
	cmd.Env = []string{"HOME=" + cfg.Dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := StartProcess(cmd)
	if err != nil {
		ours.Close()
		return nil, err
	}
	return &Slirp{Conn: ours, Args: args, Log: logPath, p: p}, nil
}

// CommandLine is the slirp command line, shell-quoted, for reports.
func (s *Slirp) CommandLine() string { return quoteArgs(s.Args) }

// Exited reports whether slirp has ended.
func (s *Slirp) Exited() bool { return s.p.Exited() }

// Close closes our end of the line and stops slirp by its PID.
func (s *Slirp) Close() error {
	var err error
	s.once.Do(func() {
		err = s.Conn.Close()
		s.p.Stop(2*time.Second, true)
	})
	return err
}

func quoteArgs(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \t\"'$\\,") {
			b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}
