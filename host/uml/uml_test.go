package uml

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/host/peers"
)

// TestSlirpPPPD validates both harnesses without netcard's PPP: slirp (in a
// namespace) and the Linux pppd (in UML) bring a link up with each other
// through a relay that deframes every frame; the guest pings slirp's
// 10.0.2.2 over the link. If this fails, the harness (not netcard) is broken.
func TestSlirpPPPD(t *testing.T) {
	if testing.Short() {
		t.Skip("boots user-mode Linux")
	}
	peers.Require(t, "ip", peers.SlirpProgram, Kernel, "pppd")
	t0 := time.Now()
	ns := peers.TestNetns(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, err := Boot(ctx, Config{Dir: filepath.Join(dir, "uml")})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	defer func() {
		if t.Failed() {
			t.Log(u.Diagnostics())
		}
	}()
	t.Logf("UML booted in %v: %s", time.Since(t0), u.CommandLine())

	var mu sync.Mutex
	frames := map[string]int{}
	var bad int
	tap := func(dirn string) *peers.Deframer {
		return &peers.Deframer{Frame: func(f []byte, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				bad++
				return
			}
			frames[dirn+" "+protoName(f)]++
		}}
	}
	for run, opts := range [][]string{
		{"10.0.2.15:10.0.2.2", "ipcp-accept-local", "ipcp-accept-remote", "noipv6"},
	} {
		t1 := time.Now()
		s, err := peers.StartSlirp(ns, peers.SlirpConfig{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			t.Logf("slirp: %s", s.CommandLine())
		}
		relayDone := make(chan struct{})
		line := peers.Borrow(u.Line())
		go func() { peers.Relay(s, line, tap("slirp>pppd"), tap("pppd>slirp")); close(relayDone) }()
		sess, err := u.Start(Run{Options: opts, Cmd: "ping -c 2 -W 2 10.0.2.2\n"})
		if err != nil {
			t.Fatal(err)
		}
		up, err := sess.WaitUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if up.Local != "10.0.2.15" {
			t.Errorf("run %d: pppd got local address %q, want 10.0.2.15", sess.N, up.Local)
		}
		rc, out, err := sess.CmdResult(ctx)
		if err != nil || rc != "0" {
			t.Errorf("run %d: ping 10.0.2.2 in the guest: rc=%s err=%v\n%s", sess.N, rc, err, out)
		}
		if rc, err := sess.Stop(ctx); err != nil {
			t.Error(err)
		} else {
			t.Logf("run %d (%v): up %+v in %v; pppd exit %s", sess.N, opts, up, time.Since(t1), rc)
		}
		s.Close()
		<-relayDone
	}
	mu.Lock()
	t.Logf("frames seen: %v (bad FCS: %d)", frames, bad)
	if frames["slirp>pppd IPCP"] == 0 || frames["pppd>slirp IPCP"] == 0 || frames["pppd>slirp IP"] == 0 {
		t.Errorf("missing IPCP/IP frames: %v", frames)
	}
	mu.Unlock()
	if b, err := os.ReadFile(filepath.Join(dir, "uml", "guest.log")); err == nil {
		t.Logf("guest.log:\n%s", strings.TrimSpace(string(b)))
	}
	t.Logf("total %v", time.Since(t0))
}

func protoName(f []byte) string {
	if len(f) >= 2 && f[0] == 0xff && f[1] == 0x03 {
		f = f[2:]
	}
	var p uint16
	if len(f) > 0 && f[0]&1 == 1 {
		p = uint16(f[0])
	} else if len(f) >= 2 {
		p = uint16(f[0])<<8 | uint16(f[1])
	}
	switch p {
	case 0xc021:
		return "LCP"
	case 0x8021:
		return "IPCP"
	case 0x80fd:
		return "CCP"
	case 0x0021:
		return "IP"
	case 0x002d, 0x002f:
		return "VJ"
	case 0xc023:
		return "PAP"
	case 0xc223:
		return "CHAP"
	}
	return "other"
}
