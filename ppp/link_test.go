package ppp

import (
	"bytes"
	"io"
	"testing"
	"time"
)

func TestLinkUp(t *testing.T) {
	h := newHarness(t, cardConfig(), hostConfig())
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatalf("link not up: card %v/%v host %v/%v", h.a.l.lcp.state, h.a.l.ipcp.state, h.b.l.lcp.state, h.b.l.ipcp.state)
	}
	c, s := h.a.l, h.b.l
	if c.LocalIP() != [4]byte{10, 0, 2, 15} || c.PeerIP() != [4]byte{10, 0, 2, 2} {
		t.Errorf("card addresses %v %v", c.LocalIP(), c.PeerIP())
	}
	if s.LocalIP() != [4]byte{10, 0, 2, 2} || s.PeerIP() != [4]byte{10, 0, 2, 15} {
		t.Errorf("host addresses %v %v", s.LocalIP(), s.PeerIP())
	}
	if c.DNS() != [2][4]byte{{10, 0, 2, 3}, {10, 0, 2, 4}} {
		t.Errorf("card DNS %v", c.DNS())
	}
	if c.MTU() != 1500 {
		t.Errorf("MTU %d", c.MTU())
	}
	if !c.txPFC || !c.txACFC || c.txACCM != 0 || c.rx.accm != 0 {
		t.Errorf("negotiated framing pfc=%v acfc=%v txaccm=%x rxaccm=%x", c.txPFC, c.txACFC, c.txACCM, c.rx.accm)
	}
	// IP both ways, with every byte value.
	for i := 0; i < 20; i++ {
		h.a.queue = append(h.a.queue, ipPacket(i, 40+i*70))
		h.b.queue = append(h.b.queue, ipPacket(100+i, 1500-i))
	}
	h.run(time.Second, func() bool { return len(h.a.got) == 20 && len(h.b.got) == 20 })
	for i := 0; i < 20; i++ {
		if len(h.b.got) <= i || !bytes.Equal(h.b.got[i], ipPacket(i, 40+i*70)) {
			t.Fatalf("host got packet %d wrong", i)
		}
		if len(h.a.got) <= i || !bytes.Equal(h.a.got[i], ipPacket(100+i, 1500-i)) {
			t.Fatalf("card got packet %d wrong", i)
		}
	}
	st := c.Stats()
	if st.BadFCS+st.Runts+st.Oversize+st.Aborts != 0 || st.LCPState != Opened || st.IPCPState != Opened {
		t.Errorf("stats %+v", st)
	}
	if h.a.badRx+h.b.badRx != 0 {
		t.Errorf("frames received that were never sent")
	}
	// Compressed IP frames: protocol 0x21 alone, no FF 03.
	var seen []byte
	c.setTap(func(sent bool, fr []byte) { seen = append(seen[:0], fr...) })
	h.a.queue = append(h.a.queue, ipPacket(1, 60))
	h.pump()
	if len(seen) != 61 || seen[0] != 0x21 {
		t.Errorf("IP frame header % x", seen[:4])
	}
	// Close: both sides go down cleanly.
	c.Close(h.now)
	h.run(10*time.Second, func() bool { return c.lcp.state == Closed })
	if c.Up() || s.Up() || c.lcp.state != Closed {
		t.Errorf("after close: card %v host %v", c.lcp.state, s.lcp.state)
	}
	if !h.b.has(EventTerminated) || s.lcp.state == Opened {
		t.Errorf("host: %v, LCP %v", h.b.events, s.lcp.state)
	}
}

func secrets(m map[string]string) func(string) (string, bool) {
	return func(u string) (string, bool) { s, ok := m[u]; return s, ok }
}

func TestAuth(t *testing.T) {
	good := secrets(map[string]string{"card": "s3cret", "host": "h0st"})
	cases := []struct {
		name               string
		cardReq, hostReq   Auth
		cardUser, cardPass string
		hostUser, hostPass string
		up                 bool
		cardEv, hostEv     []Event
	}{
		{"host requires PAP", AuthNone, AuthPAP, "card", "s3cret", "", "", true,
			[]Event{EventAuthOK}, []Event{EventPeerAuthOK}},
		{"host requires CHAP", AuthNone, AuthCHAP, "card", "s3cret", "", "", true,
			[]Event{EventAuthOK}, []Event{EventPeerAuthOK}},
		{"card requires PAP", AuthPAP, AuthNone, "", "", "host", "h0st", true,
			[]Event{EventPeerAuthOK}, []Event{EventAuthOK}},
		{"card requires CHAP", AuthCHAP, AuthNone, "", "", "host", "h0st", true,
			[]Event{EventPeerAuthOK}, []Event{EventAuthOK}},
		{"both CHAP", AuthCHAP, AuthCHAP, "card", "s3cret", "host", "h0st", true,
			[]Event{EventPeerAuthOK, EventAuthOK}, []Event{EventPeerAuthOK, EventAuthOK}},
		{"both PAP", AuthPAP, AuthPAP, "card", "s3cret", "host", "h0st", true,
			[]Event{EventPeerAuthOK, EventAuthOK}, []Event{EventPeerAuthOK, EventAuthOK}},
		{"card wrong CHAP secret", AuthNone, AuthCHAP, "card", "wrong", "", "", false,
			[]Event{EventAuthFailed}, []Event{EventPeerAuthFailed}},
		{"card wrong PAP secret", AuthNone, AuthPAP, "card", "wrong", "", "", false,
			[]Event{EventAuthFailed}, []Event{EventPeerAuthFailed}},
		{"host wrong CHAP secret", AuthCHAP, AuthNone, "", "", "host", "nope", false,
			[]Event{EventPeerAuthFailed}, []Event{EventAuthFailed}},
		{"unknown user", AuthPAP, AuthNone, "", "", "mallory", "h0st", false,
			[]Event{EventPeerAuthFailed}, []Event{EventAuthFailed}},
		{"card has no credentials", AuthNone, AuthCHAP, "", "", "", "", false,
			nil, []Event{EventPeerAuthFailed}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc, hc := cardConfig(), hostConfig()
			cc.RequireAuth, cc.Secrets, cc.User, cc.Secret = tc.cardReq, good, tc.cardUser, tc.cardPass
			hc.RequireAuth, hc.Secrets, hc.User, hc.Secret = tc.hostReq, good, tc.hostUser, tc.hostPass
			h := newHarness(t, cc, hc)
			h.open()
			up := h.run(20*time.Second, h.bothUp)
			if up != tc.up {
				t.Fatalf("up=%v, want %v; card %v host %v", up, tc.up, h.a.events, h.b.events)
			}
			if !up {
				// Fails cleanly: no IP, both LCPs leave Opened, keep failing on retries.
				h.run(10*time.Second, func() bool { return false })
				if h.a.l.Up() || h.b.l.Up() || h.a.has(EventIPCPUp) || h.b.has(EventIPCPUp) {
					t.Errorf("IPCP came up after an authentication failure")
				}
			}
			for _, ev := range tc.cardEv {
				if !h.a.has(ev) {
					t.Errorf("card lacks event %v: %v", ev, h.a.events)
				}
			}
			for _, ev := range tc.hostEv {
				if !h.b.has(ev) {
					t.Errorf("host lacks event %v: %v", ev, h.b.events)
				}
			}
		})
	}
}

func TestEchoDeadPeer(t *testing.T) {
	cc := cardConfig()
	cc.EchoInterval, cc.EchoFailure = 5*time.Second, 3
	hc := hostConfig()
	hc.EchoInterval = 7 * time.Second
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	// Keepalive keeps the link up.
	h.run(time.Minute, func() bool { return false })
	if !h.bothUp() || h.a.l.Stats().EchoRecv < 5 || h.b.l.Stats().EchoReqRecv < 5 {
		t.Fatalf("keepalive: up=%v stats %+v", h.bothUp(), h.a.l.Stats())
	}
	// The peer vanishes.
	h.cut = true
	if !h.run(time.Minute, func() bool { return h.a.has(EventEchoTimeout) }) {
		t.Fatal("dead peer not detected")
	}
	if h.a.l.Up() {
		t.Fatal("card still up with a dead peer")
	}
	// It stays away for a few minutes; the card keeps trying.
	h.run(3*time.Minute, func() bool { return false })
	h.cut = false
	if !h.run(time.Minute, h.bothUp) {
		t.Fatalf("link not re-established: card %v/%v host %v/%v", h.a.l.lcp.state, h.a.l.ipcp.state, h.b.l.lcp.state, h.b.l.ipcp.state)
	}
	h.a.queue = append(h.a.queue, ipPacket(7, 100))
	h.pump()
	if len(h.b.got) != 1 {
		t.Fatal("no IP after re-establishment")
	}
}

// recUpper records what a link hands its Upper.
type recUpper struct {
	events []Event
	pulls  int
}

func (u *recUpper) DeliverIP([]byte)      {}
func (u *recUpper) PullIP(dst []byte) int { u.pulls++; return 0 }
func (u *recUpper) PendingIP() bool       { return true }
func (u *recUpper) Event(e Event)         { u.events = append(u.events, e) }

// TestUpperReplacesCallbacks: with Config.Upper the link reports to it and
// not to the callbacks Upper replaces, and asks it for packets (PullIP and
// PendingIP count as set).
func TestUpperReplacesCallbacks(t *testing.T) {
	u := &recUpper{}
	called := false
	l := New(Config{Upper: u, Event: func(Event) { called = true }, DeliverIP: func([]byte) { called = true }})
	if !l.pull || !l.pending || l.cfg.up != Upper(u) {
		t.Fatalf("Upper not in force: pull %v pending %v", l.pull, l.pending)
	}
	l.event(EventLCPUp)
	if called || len(u.events) != 1 || u.events[0] != EventLCPUp {
		t.Fatalf("event: callback called %v, Upper got %v", called, u.events)
	}
	// Without Upper and without PullIP, no packet is asked for.
	if l := New(Config{}); l.pull || l.pending {
		t.Fatalf("no callbacks: pull %v pending %v", l.pull, l.pending)
	}
}

// TestAuthPendLent: the Authentication phase's timers and challenge are
// lent for the phase and dropped once both sides are done; what the rest of
// the LCP session needs stays. After the drop the authenticator may still
// re-challenge (RFC 1994 §2.3: "at random intervals"), and is answered with
// the right MD5 response; a retransmitted Response after our Success was
// lost gets Success again; IP keeps flowing.
func TestAuthPendLent(t *testing.T) {
	good := secrets(map[string]string{"card": "s3cret", "host": "h0st"})
	cc, hc := cardConfig(), hostConfig()
	cc.RequireAuth, cc.Secrets, cc.User, cc.Secret = AuthCHAP, good, "card", "s3cret"
	hc.RequireAuth, hc.Secrets, hc.User, hc.Secret = AuthCHAP, good, "host", "h0st"
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(20*time.Second, h.bothUp) {
		t.Fatalf("not up: card %v host %v", h.a.events, h.b.events)
	}
	c := h.a.l
	if c.aup != nil || h.b.l.aup != nil {
		t.Fatalf("authPend held after both sides authenticated: card %v host %v", c.aup != nil, h.b.l.aup != nil)
	}
	if srv, cli := c.authTimers(); srv != 0 || cli != 0 {
		t.Fatalf("auth timers %d %d after the phase", srv, cli)
	}

	// The host re-challenges the card.
	c.Shed()
	chal := []byte("0123456789abcdef")
	pkt := append([]byte{chapChl, 77, 0, byte(4 + 1 + len(chal) + 4), byte(len(chal))}, chal...)
	pkt = append(pkt, "host"...)
	c.chapInput(pkt, h.now)
	q := c.queued()
	if len(q) < 8+1+chapLen || q[2] != byte(ProtoCHAP>>8) || q[3] != byte(ProtoCHAP&0xff) || q[4] != chapRsp || q[5] != 77 {
		t.Fatalf("no CHAP Response to a re-challenge: %x", q)
	}
	want := chapHash(77, "s3cret", chal)
	if q[8] != chapLen || string(q[9:9+chapLen]) != string(want[:]) || string(q[9+chapLen:]) != "card" {
		t.Fatalf("re-challenge Response %x, want value %x name card", q[8:], want)
	}
	if c.aup != nil {
		t.Error("a re-challenge after the phase lent its state again")
	}
	h.run(time.Second, func() bool { return false })

	// The card's Success was lost: the host's Response, again, gets Success.
	rsp := []byte{chapRsp, c.au.chalID, 0, 4 + 1 + chapLen, chapLen}
	rsp = append(rsp, make([]byte, chapLen)...) // the value is not checked again
	c.chapInput(rsp, h.now)
	if q := c.queued(); len(q) < 8 || q[4] != chapOK || q[5] != c.au.chalID {
		t.Fatalf("no Success for a repeated Response: %x", q)
	}
	if !h.bothUp() {
		t.Fatal("the link went down")
	}
	// A Response with another identifier is ignored.
	n := len(c.queued())
	rsp[1]++
	c.chapInput(rsp, h.now)
	if len(c.queued()) != n {
		t.Fatal("a Response to no challenge was answered")
	}
}

// TestAuthPendPhase: while we wait for the peer's CHAP Response the phase's
// state is lent and its retransmission timer runs; after Max-Configure
// unanswered challenges the peer fails and the state is dropped.
func TestAuthPendPhase(t *testing.T) {
	l := New(Config{RequireAuth: AuthCHAP, Secrets: secrets(nil)})
	l.lo.auth = AuthCHAP
	l.lcp.state = Opened
	now := testNow
	l.authStart(now)
	if l.aup == nil {
		t.Fatal("no state lent for the Authentication phase")
	}
	sent := 0
	for i := 0; i < 2*maxConfigure && l.aup != nil; i++ {
		q := l.queued()
		for len(q) > 0 {
			if q[4] == chapChl && q[2] == byte(ProtoCHAP>>8) {
				sent++
			}
			q = q[int(q[0])<<8|int(q[1]):]
		}
		l.ctrlH, l.ctrlT = 0, 0
		next := l.Poll(now)
		if next.IsZero() {
			t.Fatal("no timer while waiting for a Response")
		}
		now = next
		l.Poll(now)
	}
	if l.aup != nil || sent != maxConfigure {
		t.Fatalf("after the timeouts: state held %v, %d challenges sent, want %d", l.aup != nil, sent, maxConfigure)
	}
	if !l.authFailed {
		t.Fatal("the peer did not fail authentication")
	}
}

type failingRand struct{ n int }

func (r *failingRand) Read(p []byte) (int, error) { r.n++; return 0, io.ErrUnexpectedEOF }

// TestRandFallback: a link without Config.Rand, or whose Rand fails, draws
// from the fixed-seed fallback generator (now an allocation of such links
// only): non-zero Magic-Numbers, the same sequence for every such link,
// and a failing source is asked once, not at every draw.
func TestRandFallback(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	fr := &failingRand{}
	c := New(Config{Rand: fr})
	for i := 0; i < 100; i++ {
		va, vb, vc := a.random32(), b.random32(), c.random32()
		if va == 0 || va != vb || va != vc {
			t.Fatalf("draw %d: %08x %08x %08x", i, va, vb, vc)
		}
	}
	if fr.n != 1 {
		t.Fatalf("the failing source was read %d times", fr.n)
	}
	if _, ok := c.cfg.Rand.(*fallback); !ok {
		t.Fatalf("Rand is %T after a failure", c.cfg.Rand)
	}
}

// TestRenegotiationKeepsDNSAndTimers: the host's offered DNS servers
// (Config.DNS, kept where a card keeps the ones it learned, Link.dns)
// survive a renegotiation, and the card learns them again; the one LCP
// timer outside the automaton (Link.lcpAt: the re-try of a finished link,
// the echo timer while Opened) serves both in turn: a card whose link
// finished (the host closed it) re-tries after the holdoff, and a card
// reopened by the host before its re-try keeps its echo timer (echoes go
// out, no spurious re-try).
func TestRenegotiationKeepsDNSAndTimers(t *testing.T) {
	cc := cardConfig()
	cc.EchoInterval = 5 * time.Second
	want := hostConfig().DNS
	h := newHarness(t, cc, hostConfig())
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	c, s := h.a.l, h.b.l
	for round := 0; round < 2; round++ {
		if c.DNS() != want || s.DNS() != want {
			t.Fatalf("round %d: card DNS %v, host offers %v", round, c.DNS(), s.DNS())
		}
		// The host closes the link: the card's LCP finishes and arms its re-try.
		s.Close(h.now)
		if !h.run(10*time.Second, func() bool { return c.lcp.state == Stopped || c.lcp.state == Closed }) {
			t.Fatalf("round %d: card LCP %v after the host closed", round, c.lcp.state)
		}
		if c.lcpAt == 0 || c.DNS() != want {
			t.Fatalf("round %d: no re-try armed (%d), DNS %v", round, c.lcpAt, c.DNS())
		}
		opens := c.Stats().LCPOpens
		if round == 0 {
			// The host reopens first: the card's pending re-try gives way
			// to its echo timer.
			s.Open(h.now)
		} else {
			// The card re-tries by itself after the holdoff; the host
			// answers once it is open again.
			out := c.Stats().FramesOut
			if !h.run(2*holdoff, func() bool { return c.Stats().FramesOut > out }) {
				t.Fatalf("round %d: the card did not re-try (LCP %v)", round, c.lcp.state)
			}
			s.Open(h.now)
		}
		if !h.run(time.Minute, h.bothUp) {
			t.Fatalf("round %d: not up again: card %v/%v host %v/%v", round, c.lcp.state, c.ipcp.state, s.lcp.state, s.ipcp.state)
		}
		sent := c.Stats().EchoSent
		h.run(30*time.Second, func() bool { return false })
		if !h.bothUp() || c.Stats().EchoSent < sent+5 || c.Stats().LCPOpens != opens+1 {
			t.Fatalf("round %d: up %v, echoes %d → %d, LCP opens %d → %d", round, h.bothUp(), sent, c.Stats().EchoSent, opens, c.Stats().LCPOpens)
		}
	}
	if c.DNS() != want || s.DNS() != want {
		t.Fatalf("after renegotiation: card DNS %v, host offers %v", c.DNS(), s.DNS())
	}
}
