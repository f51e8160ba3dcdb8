package ppp

import (
	"bytes"
	"testing"
	"time"
)

// TestSmallMRUAndACCM: a card with a 296-octet MRU that asks the host to
// escape XON/XOFF; both are honoured, and control characters the line
// inserts are discarded.
func TestSmallMRUAndACCM(t *testing.T) {
	cc := cardConfig()
	cc.MRU, cc.ACCM = 296, 0x000a0000
	h := newHarness(t, cc, hostConfig())
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	if h.b.l.MTU() != 296 || h.a.l.MTU() != 296 || h.b.l.txACCM != 0x000a0000 {
		t.Fatalf("host MTU %d card MTU %d host txACCM %x", h.b.l.MTU(), h.a.l.MTU(), h.b.l.txACCM)
	}
	// The host's frames carry no raw XON/XOFF; a line inserting them is harmless.
	h.fault = func(fromA bool, p []byte) []byte {
		if fromA {
			return p
		}
		if bytes.IndexByte(p, 0x11) >= 0 || bytes.IndexByte(p, 0x13) >= 0 {
			t.Errorf("host sent a raw XON/XOFF")
		}
		var out []byte
		for _, c := range p {
			out = append(out, c, 0x11) // XON after every octet
		}
		return out
	}
	for i := 0; i < 5; i++ {
		h.b.queue = append(h.b.queue, ipPacket(i, 296))
	}
	h.pump()
	if len(h.a.got) != 5 || !bytes.Equal(h.a.got[4], ipPacket(4, 296)) {
		t.Fatalf("card got %d packets", len(h.a.got))
	}
	// A frame beyond the MRU is counted and dropped.
	big := append([]byte{0x21}, ipPacket(9, 400)...)
	h.a.l.Input(encodeFrame(big, 0), h.now)
	if s := h.a.l.Stats(); s.Oversize != 1 || len(h.a.got) != 5 {
		t.Errorf("oversize %d, got %d", s.Oversize, len(h.a.got))
	}
}

// TestSilentPeer: with nobody answering, LCP sends Max-Configure requests
// at the restart interval, finishes, and re-tries after the hold-off.
func TestSilentPeer(t *testing.T) {
	var reqs []time.Time
	var events []Event
	l := New(Config{Event: func(e Event) { events = append(events, e) },
		Tap: func(sent bool, fr []byte) {
			if sent && len(fr) > 4 && fr[2] == 0xc0 && fr[3] == 0x21 && fr[4] == codeConfReq {
				reqs = append(reqs, time.Time{})
			}
		}})
	now := testNow
	l.Open(now)
	var buf [256]byte
	finishedAt := time.Duration(0)
	for i := 0; i < 400; i++ { // 40 s in 100 ms steps
		for l.Output(buf[:], now) > 0 {
		}
		l.Poll(now)
		if finishedAt == 0 && len(events) > 0 && events[0] == EventLCPFinished {
			finishedAt = now.Sub(testNow)
		}
		now = now.Add(100 * time.Millisecond)
	}
	if finishedAt != 30*time.Second {
		t.Errorf("finished at %v, want 30s (10 requests 3 s apart)", finishedAt)
	}
	if len(reqs) < 12 {
		t.Errorf("%d requests: no re-try after the hold-off", len(reqs))
	}
	if l.Stats().LCPState != ReqSent {
		t.Errorf("state %v", l.Stats().LCPState)
	}
}

// TestLoopback: a line looped back on itself is detected via the Magic-Number.
func TestLoopback(t *testing.T) {
	var events []Event
	l := New(Config{Event: func(e Event) { events = append(events, e) }})
	now := testNow
	l.Open(now)
	var buf [256]byte
	for i := 0; i < 300; i++ {
		for {
			n := l.Output(buf[:], now)
			if n == 0 {
				break
			}
			l.Input(buf[:n], now)
		}
		l.Poll(now)
		now = now.Add(100 * time.Millisecond)
	}
	found := false
	for _, e := range events {
		found = found || e == EventLoopback
		if e == EventIPCPUp {
			t.Fatal("IPCP up over a looped line", events)
		}
	}
	if !found {
		t.Errorf("loopback not reported: %v", events)
	}
	if testing.Verbose() {
		t.Log(events)
	}
}

// TestIPCPRejected: a peer that Protocol-Rejects IPCP ends the link (there
// is no network protocol left) rather than idling with LCP open.
func TestIPCPRejected(t *testing.T) {
	var events []Event
	l := scriptLink(t, Config{Event: func(e Event) { events = append(events, e) }}, "020600000000050601020304")
	drain(l)
	l.Input(encodeFrame(unhex("ff03c0210805000a"+"8021"+"010000"+"04"), 0xffffffff), testNow)
	if l.lcp.state != Closing || l.ipcp.state != Starting {
		t.Fatalf("LCP %v IPCP %v", l.lcp.state, l.ipcp.state)
	}
	if l.Stats().ProtoRejectsRecv != 1 {
		t.Errorf("stats %+v", l.Stats())
	}
}

// TestControlPriority: PullIP is never called before IPCP is Opened, and a
// control packet goes out at the next frame boundary even while IP is
// streaming (the frame being sent is finished first).
func TestControlPriority(t *testing.T) {
	h := newHarness(t, cardConfig(), hostConfig())
	pulls := 0
	pkt := ipPacket(1, 1000)
	h.a.l.pull = true
	h.a.l.fu().pull = func(dst []byte) int {
		pulls++
		if !h.a.l.Up() {
			t.Fatal("PullIP called before IPCP Opened")
		}
		return copy(dst, pkt)
	}
	h.a.l.setTap(nil)
	h.a.l.Open(h.now)
	h.b.l.Open(h.now)
	// Only the card's LCP Conf-Req may be queued; run negotiation without
	// letting the card stream forever: pump manually with a bounded budget.
	var buf [300]byte
	for i := 0; i < 200 && !h.bothUp(); i++ {
		if n := h.a.l.Output(buf[:], h.now); n > 0 {
			h.b.l.Input(buf[:n], h.now)
		}
		if n := h.b.l.Output(buf[:], h.now); n > 0 {
			h.a.l.Input(buf[:n], h.now)
		}
	}
	if !h.bothUp() {
		t.Fatal("not up")
	}
	// Mid-frame: the card has sent part of an IP frame.
	var order []uint16
	h.a.l.setTap(func(sent bool, fr []byte) {
		if sent {
			if fr[0] == 0xff {
				fr = fr[2:]
			}
			if fr[0]&1 != 0 {
				order = append(order, uint16(fr[0]))
			} else {
				order = append(order, uint16(fr[0])<<8|uint16(fr[1]))
			}
		}
	})
	h.a.l.Output(buf[:100], h.now)
	// An Echo-Request arrives from the host.
	h.a.l.Input(encodeFrame(unhex("ff03c0210977"+"0008"+"00000000"), 0), h.now)
	for i := 0; i < 20; i++ {
		h.a.l.Output(buf[:], h.now)
	}
	if pulls == 0 {
		t.Error("PullIP never called")
	}
	if len(order) < 3 || order[0] != ProtoIP || order[1] != ProtoLCP || order[2] != ProtoIP {
		t.Errorf("frame order %x", order)
	}
}

// TestRenegotiateHold: a Configure-Request arriving while LCP is Opened is
// discarded for RenegotiateHold after LCP opened (counted), and restarts
// LCP afterwards as RFC 1661 says; IPCP comes back with the same
// addresses. With a negative hold every such request restarts LCP at once.
func TestRenegotiateHold(t *testing.T) {
	confReq := func(id byte) []byte {
		// Address/control, LCP, Configure-Request with a Magic-Number.
		return encodeFrame([]byte{0xff, 0x03, 0xc0, 0x21, codeConfReq, id, 0, 10, optMagic, 6, 1, 2, 3, byte(id)}, 0xffffffff)
	}
	for _, hold := range []time.Duration{0, -1} {
		cc := cardConfig()
		cc.RenegotiateHold = hold
		h := newHarness(t, cc, hostConfig())
		h.open()
		if !h.run(10*time.Second, h.bothUp) {
			t.Fatal("not up")
		}
		local, peer := h.a.l.LocalIP(), h.a.l.PeerIP()
		h.a.l.Input(confReq(200), h.now) // LCP opened at most 1 s (a harness step) ago
		s := h.a.l.Stats()
		if hold < 0 {
			if s.LCPState == Opened || s.ConfReqDamped != 0 || h.a.l.Up() {
				t.Fatalf("strict: LCP %v, damped %d, up %v", s.LCPState, s.ConfReqDamped, h.a.l.Up())
			}
			continue
		}
		if s.LCPState != Opened || s.ConfReqDamped != 1 || !h.a.l.Up() {
			t.Fatalf("within the hold: LCP %v, damped %d, up %v", s.LCPState, s.ConfReqDamped, h.a.l.Up())
		}
		h.now = h.now.Add(DefaultRenegotiateHold)
		h.a.l.Input(confReq(201), h.now)
		if s := h.a.l.Stats(); s.LCPState == Opened || s.ConfReqDamped != 1 || h.a.l.Up() {
			t.Fatalf("after the hold: LCP %v, damped %d, up %v", s.LCPState, s.ConfReqDamped, h.a.l.Up())
		}
		// The host (which never sent that request) renegotiates with the card.
		if !h.run(10*time.Second, h.bothUp) {
			t.Fatal("not up again")
		}
		if s := h.a.l.Stats(); s.LCPOpens != 2 || s.IPCPOpens != 2 || h.a.l.LocalIP() != local || h.a.l.PeerIP() != peer {
			t.Fatalf("LCP opens %d, IPCP opens %d, addresses %v %v (were %v %v)", s.LCPOpens, s.IPCPOpens,
				h.a.l.LocalIP(), h.a.l.PeerIP(), local, peer)
		}
	}
}

// TestRenegotiateAfterShed: after negotiation settled and Shed dropped
// every buffer (control queue, option scratch, request options; the
// Authentication phase's state is dropped when it ends), a peer's
// Configure-Request in Opened (RFC 1661 §4.1: tld, scr, sca) renegotiates
// the whole link: LCP, CHAP both ways (the phase's state lent again, and
// dropped again), IPCP with VJ; the profile's shared constants are
// untouched, and VJ-compressed TCP crosses byte-exact afterwards.
func TestRenegotiateAfterShed(t *testing.T) {
	good := secrets(map[string]string{"card": "s3cret", "host": "h0st"})
	cc, hc := vjConfigs(1, 16)
	cc.RequireAuth, cc.Secrets, cc.User, cc.Secret = AuthCHAP, good, "card", "s3cret"
	hc.RequireAuth, hc.Secrets, hc.User, hc.Secret = AuthCHAP, good, "host", "h0st"
	cc.RenegotiateHold = -1
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(20*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	c := h.a.l
	consts := *c.cfg.linkConsts
	c.Shed()
	if c.ctrlq != nil || c.optScratch != nil || c.lcp.reqOpts != nil || c.ipcp.reqOpts != nil || c.aup != nil ||
		c.rx.buf != nil || c.tx.buf != nil {
		t.Fatal("buffers held after Shed")
	}
	count := func(evs []Event, e Event) int {
		n := 0
		for _, x := range evs {
			if x == e {
				n++
			}
		}
		return n
	}
	// The peer restarts: its Configure-Request (a new Magic-Number).
	c.Input(encodeFrame([]byte{0xff, 0x03, 0xc0, 0x21, codeConfReq, 77, 0, 10, optMagic, 6, 9, 8, 7, 6}, 0xffffffff), h.now)
	if c.Up() || c.lcp.state == Opened {
		t.Fatalf("a Configure-Request in Opened did not restart LCP: %v", c.lcp.state)
	}
	if !h.run(30*time.Second, h.bothUp) {
		t.Fatalf("not up again: card %v host %v", h.a.events, h.b.events)
	}
	if n := count(h.a.events, EventPeerAuthOK); n != 2 {
		t.Fatalf("card authenticated the host %d times, want 2: %v", n, h.a.events)
	}
	if n := count(h.a.events, EventAuthOK); n != 2 {
		t.Fatalf("the host authenticated the card %d times, want 2: %v", n, h.a.events)
	}
	if c.aup != nil || *c.cfg.linkConsts != consts {
		t.Fatal("after renegotiating: auth state held, or the shared constants changed")
	}
	if st := c.VJStats(); !st.TxOn || !st.RxOn {
		t.Fatalf("VJ not renegotiated: %+v", st)
	}
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 100}
	var want [][]byte
	for i := 0; i < 5; i++ {
		p := tcpSeg(s)
		want = append(want, p)
		h.a.queue = append(h.a.queue, p)
		s.seq += uint32(s.data)
		s.id++
	}
	h.b.got = nil
	h.pump()
	if len(h.b.got) != len(want) {
		t.Fatalf("delivered %d of %d", len(h.b.got), len(want))
	}
	for i := range want {
		if !bytes.Equal(h.b.got[i], want[i]) {
			t.Fatalf("packet %d differs", i)
		}
	}
	if st := c.VJStats(); st.CompOut < 4 {
		t.Fatalf("not compressed after renegotiating: %+v", st)
	}
}
