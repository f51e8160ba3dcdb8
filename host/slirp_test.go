package host

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/host/peers"
	"netcard/link"
	"netcard/ppp"
)

// TestSlirpInterop: our PPP (card role) against slirp, an independent
// userspace PPP peer, in a fresh namespace. slirp asks for VJ compression
// (we Configure-Reject it) and opens CCP (we Protocol-Reject it); it
// assigns us 10.0.2.15. The link then stays up across LCP echo keepalives
// and carries IP: slirp answers an ICMP echo to 10.0.2.2 itself.
func TestSlirpInterop(t *testing.T) {
	peers.Require(t, "ip", peers.SlirpProgram)
	t0 := time.Now()
	netns := peers.TestNetns(t)
	s, err := peers.StartSlirp(netns, peers.SlirpConfig{Dir: t.TempDir(), Redirs: []peers.Redir{{HostPort: 18080, GuestPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("slirp: %s", s.CommandLine())
	sd := newSeeds("slirp")
	var mu sync.Mutex
	var rejectedVJ, rejectedCCP bool
	tap := func(sent bool, f []byte) {
		sd.tap(sent, f)
		// Our IPCP Configure-Reject (code 4) carrying option 2 (VJ); the
		// address and control field may be compressed away (ACFC).
		f = bytes.TrimPrefix(f, []byte{0xff, 0x03})
		if sent && len(f) >= 8 && bytes.HasPrefix(f, []byte{0x80, 0x21, 4}) && bytes.Contains(f[6:], []byte{2, 6, 0, 0x2d}) {
			mu.Lock()
			rejectedVJ = true
			mu.Unlock()
		}
		// Our LCP Protocol-Reject (code 8) of CCP (0x80fd).
		if sent && len(f) >= 8 && bytes.HasPrefix(f, []byte{0xc0, 0x21, 8}) && f[6] == 0x80 && f[7] == 0xfd {
			mu.Lock()
			rejectedCCP = true
			mu.Unlock()
		}
	}
	c := startCard(t, s, ppp.Config{EchoInterval: time.Second, EchoFailure: 3}, tap)
	c.waitUp(t, 15*time.Second)
	tUp := time.Since(t0)
	if got := netip.AddrFrom4(c.localIP()); got != netip.MustParseAddr("10.0.2.15") {
		t.Fatalf("card address %v, want 10.0.2.15 from slirp", got)
	}
	c.ping(c.localIP(), [4]byte{10, 0, 2, 2}, 1)
	if err := c.drv.WaitFor(ctxFor(t, 5*time.Second), func(time.Time) bool { _, r := c.counts(); return r >= 1 }); err != nil {
		t.Fatalf("no ICMP echo reply from slirp's 10.0.2.2: %v", err)
	}
	// At least 3 echo round trips with the link up all along.
	err = c.drv.WaitFor(ctxFor(t, 10*time.Second), func(time.Time) bool {
		if !c.link.Up() {
			return true
		}
		return c.link.Stats().EchoRecv >= 3
	})
	st := c.stats()
	if err != nil || !c.hasEventOnly(ppp.EventIPCPUp, 1) || c.hasEvent(ppp.EventIPCPDown) || st.EchoRecv < 3 {
		t.Fatalf("keepalive: err=%v, echo replies %d, events %v", err, st.EchoRecv, c.eventList())
	}
	mu.Lock()
	if !rejectedVJ {
		t.Errorf("no IPCP Configure-Reject of VJ compression seen")
	}
	if !rejectedCCP {
		t.Errorf("no LCP Protocol-Reject of CCP seen")
	}
	mu.Unlock()
	if st.ProtoRejectsSent == 0 {
		t.Errorf("expected a Protocol-Reject of slirp's CCP, stats %+v", st)
	}
	t.Logf("up after %v; %d echo replies, %d Protocol-Rejects sent, bad FCS %d; total %v",
		tUp, st.EchoRecv, st.ProtoRejectsSent, st.BadFCS, time.Since(t0))
	sd.write(t)
}

// TestSlirpTCP: the card role of our PPP with gVisor as the card's IP stack
// (Netstack with Card: true) behind slirp. A client in the namespace
// reaches the card's HTTP server through slirp's redir, and the card
// fetches from a server on the namespace's loopback through 10.0.2.2.
func TestSlirpTCP(t *testing.T) {
	peers.Require(t, "ip", peers.SlirpProgram)
	t0 := time.Now()
	netns := peers.TestNetns(t)
	// A server on the namespace's loopback, for the card to reach.
	var hostLn net.Listener
	if err := netns.Do(func() (err error) { hostLn, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go http.Serve(hostLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the host loopback")
	}))
	s, err := peers.StartSlirp(netns, peers.SlirpConfig{Dir: t.TempDir(), Redirs: []peers.Redir{{HostPort: 18080, GuestPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pcapPath := filepath.Join(t.TempDir(), "slirp.pcap")
	pf, err := os.Create(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := link.NewPcap(pf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewNetstack(s, Config{Card: true, PPP: ppp.Config{LocalIP: [4]byte{10, 0, 2, 15}, EchoInterval: time.Second, Tap: pw.Tap()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitUp(ctxFor(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}
	ln, err := c.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.0.2.15:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the card")
	}))

	// Namespace client -> slirp redir 18080 -> card:80.
	var conn net.Conn
	if err := netns.Do(func() (err error) { conn, err = net.Dial("tcp", peers.HostAddr+":18080"); return }); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}}
	body := get(t, cl, "http://card/")
	if body != "hello from the card" {
		t.Fatalf("via redir: %q", body)
	}
	// Card -> 10.0.2.2:port -> slirp -> namespace loopback.
	port := hostLn.Addr().(*net.TCPAddr).Port
	cl2 := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return c.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), uint16(port)))
	}}}
	if body := get(t, cl2, "http://host/"); body != "hello from the host loopback" {
		t.Fatalf("from the card: %q", body)
	}
	st, _ := c.Stats()
	t.Logf("HTTP both ways through slirp in %v; card link: %d frames in, %d out, bad FCS %d", time.Since(t0), st.FramesIn, st.FramesOut, st.BadFCS)
	c.Close()
	pf.Close()
	checkPcap(t, pcapPath, "http")
}

// checkPcap decodes a capture of a real session with tshark: no malformed
// packets, no expert errors, and the wanted protocol present.
func checkPcap(t *testing.T, path, want string) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is needed to check the pcap (Debian package tshark)")
		}
		t.Log("tshark not installed: pcap not checked")
		return
	}
	out, err := exec.Command("tshark", "-n", "-r", path, "-z", "expert,error").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "Malformed") || strings.Contains(text, "Errors (") {
		t.Fatalf("tshark reports problems in %s:\n%s", path, text)
	}
	if !strings.Contains(strings.ToLower(text), want) {
		t.Fatalf("tshark shows no %s in %s:\n%s", want, path, text)
	}
	t.Logf("tshark decodes the %s capture with no malformed packets or expert errors", want)
}

func get(t *testing.T, cl *http.Client, url string) string {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSlirpLossy: our card against slirp through a seeded lossy line (10%
// of frames dropped, bit-error rate 1e-4, both ways). The link still comes
// up with the address slirp assigns, FCS catches the corruption, and IP
// gets through.
func TestSlirpLossy(t *testing.T) {
	peers.Require(t, "ip", peers.SlirpProgram)
	t0 := time.Now()
	netns := peers.TestNetns(t)
	s, err := peers.StartSlirp(netns, peers.SlirpConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fp := link.FaultPort(s, link.Faults{Seed: 3, DropFrame: 0.1, BER: 1e-4})
	defer fp.Close()
	c := startCard(t, fp, ppp.Config{}, nil)
	c.waitUp(t, 60*time.Second)
	tUp := time.Since(t0)
	if got := netip.AddrFrom4(c.localIP()); got != netip.MustParseAddr("10.0.2.15") {
		t.Fatalf("card address %v, want 10.0.2.15", got)
	}
	// Pings until 3 replies come back (a lost frame can also make slirp
	// renegotiate IPCP, which takes its 3 s restart timer).
	ctx := ctxFor(t, 60*time.Second)
	for seq := uint16(1); ; seq++ {
		c.ping(c.localIP(), [4]byte{10, 0, 2, 2}, seq)
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_ = c.drv.WaitFor(wctx, func(time.Time) bool { _, r := c.counts(); return r >= 3 })
		cancel()
		if _, r := c.counts(); r >= 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("fewer than 3 echo replies through the lossy line after %d pings", seq)
		}
	}
	st := c.stats()
	rx, tx := fp.Rx().Stats(), fp.Tx().Stats()
	t.Logf("up after %v through the lossy line; injected: to us %d dropped / %d corrupted of %d frames, to slirp %d / %d of %d; card counted bad FCS %d, runts %d, aborts %d",
		tUp, rx.Dropped, rx.Corrupted, rx.Frames, tx.Dropped, tx.Corrupted, tx.Frames, st.BadFCS, st.Runts, st.Aborts)
}
