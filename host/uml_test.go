package host

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/host/peers"
	"netcard/host/uml"
	"netcard/ipv4"
	"netcard/link"
	"netcard/ppp"
)

// TestPPPDInterop: our PPP (card role) against the real Linux PPP driver
// and pppd 2.4.9 in user-mode Linux, on UML's ttyS0. One boot, sequential
// pppd runs: default options (pppd assigns 10.0.2.15), pppd requiring PAP,
// pppd requiring CHAP (the card authenticates), and the card requiring CHAP
// from pppd; then both authentication failures. In each run the guest pings
// the card through the kernel (answered by netcard's ipv4 package in the
// default run, by a test responder in the others). Then gVisor stands in
// for the card's TCP and the guest curls 200 kB from it. Last, our PPP in
// host role (Netstack) against pppd as the client, with DNS offers and PAP.
func TestPPPDInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("boots user-mode Linux")
	}
	peers.Require(t, uml.Kernel, "pppd")
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	u, err := uml.Boot(ctx, uml.Config{Dir: filepath.Join(t.TempDir(), "uml")})
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
	sd := newSeeds("pppd")
	const addrs = "10.0.2.2:10.0.2.15"
	ping := "ping -c 2 -i 0.3 -W 3 $IPREMOTE\n"
	runs := []struct {
		name   string
		run    uml.Run
		card   ppp.Config
		check  []ppp.Event
		rc     string // pppd's exit status when authentication must fail
		realIP bool   // use netcard's ipv4 package instead of the test responder
	}{
		{"default", uml.Run{Options: []string{addrs}, Cmd: ping}, ppp.Config{}, nil, "", true},
		{"pppd requires PAP", uml.Run{
			Options:    []string{addrs, "require-pap"},
			PAPSecrets: "card * cardsecret *\n", Cmd: ping,
		}, ppp.Config{User: "card", Secret: "cardsecret"}, []ppp.Event{ppp.EventAuthOK}, "", false},
		{"pppd requires CHAP", uml.Run{
			Options:     []string{addrs, "require-chap", "name uml"},
			CHAPSecrets: "card uml cardsecret *\n", Cmd: ping,
		}, ppp.Config{User: "card", Secret: "cardsecret"}, []ppp.Event{ppp.EventAuthOK}, "", false},
		{"card requires CHAP", uml.Run{
			Options:     []string{addrs, "user umluser"},
			CHAPSecrets: "umluser * umlsecret *\n", Cmd: ping,
		}, ppp.Config{RequireAuth: ppp.AuthCHAP, Secrets: func(user string) (string, bool) {
			return "umlsecret", user == "umluser"
		}}, []ppp.Event{ppp.EventPeerAuthOK}, "", false},
		{"card gives a wrong CHAP secret", uml.Run{
			Options:     []string{addrs, "require-chap", "name uml"},
			CHAPSecrets: "card uml cardsecret *\n",
		}, ppp.Config{User: "card", Secret: "wrong"}, []ppp.Event{ppp.EventAuthFailed}, "11", false},
		{"pppd gives a wrong CHAP secret", uml.Run{
			Options:     []string{addrs, "user umluser"},
			CHAPSecrets: "umluser * wrong *\n",
		}, ppp.Config{RequireAuth: ppp.AuthCHAP, Secrets: func(user string) (string, bool) {
			return "umlsecret", user == "umluser"
		}}, []ppp.Event{ppp.EventPeerAuthFailed}, "19", false},
	}
	for _, r := range runs {
		ok := t.Run(r.name, func(t *testing.T) {
			t1 := time.Now()
			sess, err := u.Start(r.run)
			if err != nil {
				t.Fatal(err)
			}
			var ip *ipv4.Host
			if r.realIP {
				// netcard's own IPv4/ICMP layer answers the guest's ping.
				ip = ipv4.NewHost(ipv4.Config{Local: ipv4.Addr(DefaultPeerIP)})
				r.card.DeliverIP = func(p []byte) { ip.Input(p, time.Now()) }
				r.card.PullIP = func(dst []byte) int { return ip.Output(dst, time.Now()) }
			}
			c := startCardOnData(t, peers.Borrow(u.Line()), r.card, sd.tap)
			if r.rc != "" {
				// Authentication must fail on both sides and pppd give up.
				rc, err := sess.WaitExit(ctxFor(t, 60*time.Second))
				c.drv.Close()
				if err != nil || rc != r.rc {
					t.Fatalf("pppd exit status %q (%v), want %s; log:\n%s", rc, err, r.rc, sess.Log())
				}
				for _, e := range r.check {
					if !c.hasEvent(e) {
						t.Errorf("missing event %v (events %v)", e, c.eventList())
					}
				}
				if c.hasEvent(ppp.EventIPCPUp) {
					t.Errorf("IPCP came up despite failed authentication: %v", c.eventList())
				}
				t.Logf("%s: pppd exit %s, card events %v, %v", r.name, rc, c.eventList(), time.Since(t1))
				return
			}
			defer func() {
				if rc, err := sess.Stop(ctx); err != nil {
					t.Errorf("stopping pppd: %v", err)
				} else if t.Failed() {
					t.Logf("pppd exit %s; log:\n%s", rc, sess.Log())
				}
				c.drv.Close()
			}()
			up, err := sess.WaitUp(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c.waitUp(t, 10*time.Second)
			tUp := time.Since(t1)
			if got := netip.AddrFrom4(c.localIP()); got.String() != "10.0.2.15" || up.Remote != "10.0.2.15" || up.Local != "10.0.2.2" {
				t.Fatalf("addresses: card %v, pppd %+v", got, up)
			}
			for _, e := range r.check {
				if !c.hasEvent(e) {
					t.Errorf("missing event %v (events %v)", e, c.eventList())
				}
			}
			rc, out, err := sess.CmdResult(ctx)
			if err != nil || rc != "0" {
				t.Errorf("guest ping of the card: rc=%s err=%v\n%s", rc, err, out)
			}
			echoed, _ := c.counts()
			if ip != nil {
				c.drv.Do(func(time.Time) { echoed = int(ip.Stats().ICMPEchoOut) })
			}
			t.Logf("%s: up in %v (pppd %s %s->%s), card answered %d pings, total %v",
				r.name, tUp, up.Iface, up.Local, up.Remote, echoed, time.Since(t1))
		})
		if !ok {
			break
		}
	}
	if !t.Failed() {
		t.Run("guest curl to a gVisor card", func(t *testing.T) { testPPPDCurl(t, ctx, u) })
	}
	if !t.Failed() {
		t.Run("host role: gVisor pings Linux", func(t *testing.T) { testPPPDHostRole(t, ctx, u, false) })
	}
	if !t.Failed() {
		t.Run("host role requires PAP", func(t *testing.T) { testPPPDHostRole(t, ctx, u, true) })
	}
	sd.write(t)
	t.Logf("total %v", time.Since(t0))
}

// testPPPDCurl: the card role of our PPP with gVisor as the card's IP stack
// serves 200 kB over HTTP; curl in the guest fetches it through the Linux
// kernel's PPP (full-size frames both ways).
func testPPPDCurl(t *testing.T, ctx context.Context, u *uml.UML) {
	t1 := time.Now()
	const size = 200000
	sess, err := u.Start(uml.Run{
		Options: []string{"10.0.2.2:10.0.2.15"},
		Cmd:     "curl -sS -m 20 -o /dev/null -w 'size=%{size_download} speed=%{speed_download}\\n' http://$IPREMOTE/blob\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	pcapPath := filepath.Join(t.TempDir(), "pppd.pcap")
	pf, err := os.Create(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	pw, err := link.NewPcap(pf)
	if err != nil {
		t.Fatal(err)
	}
	vjTap := &vjFrames{tap: pw.Tap()}
	c, err := NewNetstack(peers.Borrow(u.Line()), Config{Card: true, PPP: ppp.Config{LocalIP: DefaultPeerIP, Tap: vjTap.count}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := sess.Stop(ctx); err != nil {
			t.Errorf("stopping pppd: %v", err)
		}
		c.Close()
	}()
	if err := c.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := c.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.0.2.15:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	blob := make([]byte, size)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }))
	rc, out, err := sess.CmdResult(ctx)
	if err != nil || rc != "0" || !strings.Contains(out, "size=200000") {
		t.Fatalf("guest curl: rc=%s err=%v: %s", rc, err, out)
	}
	st, _ := c.Stats()
	t.Logf("guest curl: %s; card frames in %d out %d, bad FCS %d; %v", strings.TrimSpace(out), st.FramesIn, st.FramesOut, st.BadFCS, time.Since(t1))
	// VJ header compression (RFC 1144) both ways with Linux's slhc: pppd
	// offers it by default and our bridge does too.
	checkVJ(t, c.Bridge, vjTap)
	c.Close() // the capture is complete
	pf.Close()
	checkPcapVJ(t, pcapPath, "http", checkVJPcap(t, pcapPath))
}

// testPPPDHostRole: our PPP in host role (bridged to gVisor) against pppd
// acting as the client: we assign it 10.0.2.15 and offer DNS servers (RFC
// 1877), optionally demand PAP, and gVisor pings the Linux kernel.
func testPPPDHostRole(t *testing.T, ctx context.Context, u *uml.UML, pap bool) {
	t1 := time.Now()
	run := uml.Run{Options: []string{"noipdefault", "usepeerdns"}}
	cfg := Config{PPP: ppp.Config{DNS: [2][4]byte{{10, 0, 2, 3}, {192, 0, 2, 53}}}}
	if pap {
		run.Options = append(run.Options, "user umluser", "password umlsecret")
		cfg.PPP.RequireAuth = ppp.AuthPAP
		cfg.PPP.Secrets = func(user string) (string, bool) { return "umlsecret", user == "umluser" }
	}
	var events []ppp.Event
	var mu sync.Mutex
	cfg.PPP.Event = func(e ppp.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	sess, err := u.Start(run)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewNetstack(peers.Borrow(u.Line()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := sess.Stop(ctx); err != nil {
			t.Errorf("stopping pppd: %v", err)
		}
		h.Close()
	}()
	up, err := sess.WaitUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	if up.Local != "10.0.2.15" || up.Remote != "10.0.2.2" || up.DNS1 != "10.0.2.3" || up.DNS2 != "192.0.2.53" {
		t.Fatalf("pppd saw %+v, want local 10.0.2.15, remote 10.0.2.2, DNS 10.0.2.3 and 192.0.2.53", up)
	}
	if h.PeerIP().String() != "10.0.2.15" {
		t.Fatalf("host role: peer %v", h.PeerIP())
	}
	mu.Lock()
	gotPAP := false
	for _, e := range events {
		gotPAP = gotPAP || e == ppp.EventPeerAuthOK
	}
	mu.Unlock()
	if pap && !gotPAP {
		t.Fatalf("no EventPeerAuthOK: %v", events)
	}
	pc, err := h.Net().DialPingAddr(netip.Addr{}, netip.MustParseAddr("10.0.2.15"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for seq := 1; seq <= 2; seq++ {
		req := []byte{8, 0, 0, 0, 0x4e, 0x43, 0, byte(seq), 'n', 'e', 't', 'c', 'a', 'r', 'd'}
		if _, err := pc.Write(req); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1500)
		n, err := pc.Read(buf)
		if err != nil || n < 8 || buf[0] != 0 || buf[7] != byte(seq) {
			t.Fatalf("echo %d from Linux: % x %v", seq, buf[:n], err)
		}
	}
	// VJ compression negotiated both ways (ICMP only here: nothing compressed).
	if v := vjStats(h.Bridge); !v.TxOn || !v.RxOn || v.TxSlots != 16 {
		t.Fatalf("host role: VJ with pppd %+v", v)
	}
	t.Logf("host role up (pppd %s, DNS %s %s, VJ both ways), Linux answered 2 pings; %v", up.Local, up.DNS1, up.DNS2, time.Since(t1))
}
