package ppp

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// upVJPair brings a card (VJ cardSlots, MRU mru) and a host link up and
// quiet, with VJ negotiated both ways.
func upVJPair(t testing.TB, mru, cardSlots int) *harness {
	cc, hc := vjConfigs(cardSlots, 16)
	cc.MRU, hc.MRU = mru, mru
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	h.pump()
	return h
}

// TestShedIdle: an idle link that has negotiated sheds its receive buffer
// (with the VJ headroom) and its transmit buffer — the Card profile (MRU
// 1500, 4 VJ states) and Tiny (MRU 296, 1 state) —, and a second Shed
// releases nothing. The control queue, the option scratch and the LCP and
// IPCP requests' options (no reply awaited) went as negotiation ended
// (shedSettled), though RAM still counts them. A new link has lent
// nothing yet.
func TestShedIdle(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mru, vj   int
		want, new int
	}{
		{"card", 1500, 4, (vjRxHdr + 1508) + 1508, 0},
		{"tiny", 296, 1, (vjRxHdr + 304) + 304, 0},
		{"novj", 1500, 0, 1508 + 1508, 0},
	} {
		if n := New(Config{MRU: tc.mru, VJSlots: tc.vj}).Shed(); n != tc.new {
			t.Fatalf("%s: a new link sheds %d", tc.name, n)
		}
		h := upVJPair(t, tc.mru, tc.vj)
		l := h.a.l
		if l.Lent() != tc.want || l.RAM() != tc.want+ctrlQueueSize+3*maxOptLen {
			t.Fatalf("%s: lent %d, RAM %d, want %d", tc.name, l.Lent(), l.RAM(), tc.want)
		}
		if l.ctrlq != nil || l.optScratch != nil || l.lcp.reqOpts != nil || l.ipcp.reqOpts != nil {
			t.Fatalf("%s: negotiation over, control buffers still held", tc.name)
		}
		if n := l.Shed(); n != tc.want {
			t.Fatalf("%s: Shed released %d, want %d", tc.name, n, tc.want)
		}
		if n := l.Shed(); n != 0 || l.Lent() != 0 {
			t.Fatalf("%s: second Shed released %d (lent %d)", tc.name, n, l.Lent())
		}
		t.Logf("%s: Shed releases %d bytes", tc.name, tc.want)
		// The shed link still carries traffic both ways.
		p := ipPacket(1, 200)
		h.a.queue = append(h.a.queue, p)
		h.b.queue = append(h.b.queue, p)
		h.pump()
		if len(h.a.got) != 1 || len(h.b.got) != 1 || !bytes.Equal(h.b.got[0], p) || !bytes.Equal(h.a.got[0], p) {
			t.Fatalf("%s: after Shed: card got %d, host got %d", tc.name, len(h.a.got), len(h.b.got))
		}
	}
}

// lineRun is one seeded exchange over a lossy line: the link negotiates
// (VJ both ways), then carries TCP segments and raw IP packets both ways
// with an LCP Echo keepalive, in line chunks of random sizes. With shed,
// both links are shed between every call. It returns the line transcript
// and what each side delivered.
func lineRun(t *testing.T, seed int64, shed bool) (line []byte, got [2][][]byte, shedBytes int) {
	cc, hc := vjConfigs(4, 16)
	cc.EchoInterval = 2 * time.Second
	h := newHarness(t, cc, hc)
	rng := rand.New(rand.NewSource(seed))
	doShed := func() {
		if shed {
			shedBytes += h.a.l.Shed() + h.b.l.Shed()
		}
	}
	h.fault = func(fromA bool, p []byte) []byte {
		doShed()
		out := p[:0]
		for _, c := range p {
			if rng.Intn(30000) == 0 {
				continue
			}
			if rng.Intn(30000) == 0 {
				c ^= byte(1 << rng.Intn(8))
			}
			out = append(out, c)
		}
		if fromA {
			line = append(line, 'A')
		} else {
			line = append(line, 'B')
		}
		line = append(line, out...)
		h.chunk = 1 + rng.Intn(700)
		return out
	}
	h.open()
	for i := 0; i < 40 && !h.bothUp(); i++ {
		doShed()
		h.step()
	}
	if !h.bothUp() {
		t.Fatalf("seed %d shed %v: not up", seed, shed)
	}
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000}
	for round := 0; round < 150; round++ {
		switch rng.Intn(3) {
		case 0:
			s.data = 1 + rng.Intn(1400)
			h.a.queue = append(h.a.queue, tcpSeg(s))
			s.seq += uint32(s.data)
			s.id++
		case 1:
			h.b.queue = append(h.b.queue, ipPacket(round, 20+rng.Intn(1480)))
		default:
			doShed()
			h.step()
		}
		doShed()
		h.pump()
	}
	return line, [2][][]byte{h.a.got, h.b.got}, shedBytes
}

// TestShedByteIdentical: the same seeded exchange (negotiation, VJ TCP
// and plain IP both ways, keepalives, a lossy line, frames spanning calls)
// gives the same line octets and the same delivered packets whether or
// not both links are shed between every call.
func TestShedByteIdentical(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		l0, g0, _ := lineRun(t, seed, false)
		l1, g1, shed := lineRun(t, seed, true)
		if !bytes.Equal(l0, l1) {
			i := 0
			for i < len(l0) && i < len(l1) && l0[i] == l1[i] {
				i++
			}
			t.Fatalf("seed %d: line differs at octet %d of %d/%d", seed, i, len(l0), len(l1))
		}
		for k := range g0 {
			if len(g0[k]) != len(g1[k]) {
				t.Fatalf("seed %d: side %d delivered %d vs %d", seed, k, len(g0[k]), len(g1[k]))
			}
			for i := range g0[k] {
				if !bytes.Equal(g0[k][i], g1[k][i]) {
					t.Fatalf("seed %d: side %d packet %d differs", seed, k, i)
				}
			}
		}
		if shed == 0 || len(g0[0]) == 0 || len(g0[1]) == 0 {
			t.Fatalf("seed %d: nothing shed (%d) or delivered (%d, %d)", seed, shed, len(g0[0]), len(g0[1]))
		}
		t.Logf("seed %d: %d line octets, %d+%d packets delivered, %d bytes shed along the way", seed, len(l0), len(g0[0]), len(g0[1]), shed)
	}
}

// TestShedKeepsPartialFrame: Shed in the middle of a received frame keeps
// the receive buffer (and, with VJ, its headroom); Shed in the middle of a
// frame being sent keeps the transmit buffer. Both frames complete.
func TestShedKeepsPartialFrame(t *testing.T) {
	h := upVJPair(t, 1500, 4)
	a, b := h.a.l, h.b.l
	a.Shed()
	b.Shed()
	p := ipPacket(7, 1000)
	h.a.queue = append(h.a.queue, p)
	var buf [300]byte
	n := a.Output(buf[:], h.now) // the frame's first 300 octets
	if n != len(buf) || a.tx.phase == txIdle {
		t.Fatalf("output %d, phase %d", n, a.tx.phase)
	}
	if got := a.Shed(); got != 0 || a.tx.buf == nil {
		t.Fatalf("Shed of a link sending a frame released %d", got)
	}
	b.Input(buf[:n], h.now)
	if b.rx.idle() {
		t.Fatal("no partial frame stored")
	}
	if got := b.Shed(); got != 0 || b.rx.buf == nil {
		t.Fatalf("Shed of a link receiving a frame released %d", got)
	}
	h.pump()
	if len(h.b.got) != 1 || !bytes.Equal(h.b.got[0], p) {
		t.Fatalf("frame lost: %d delivered", len(h.b.got))
	}
	// Now idle: both buffers go.
	if got := a.Shed(); got != 1508 {
		t.Fatalf("sender sheds %d after the frame", got)
	}
	if got := b.Shed(); got != vjRxHdr+1508 {
		t.Fatalf("receiver sheds %d after the frame", got)
	}
	// An escape seen between frames is state, not data: the buffer goes.
	b.Input([]byte{0x7e, 0x7d}, h.now)
	if got := b.Shed(); got != 0 {
		t.Fatalf("an escape lent a buffer: %d", got)
	}
}

// TestShedPendingIP: after Shed, an idle Output lends no transmit buffer
// with Config.PendingIP; without it, the buffer lent to ask PullIP is given
// back at once (one allocation). A packet is sent either way.
func TestShedPendingIP(t *testing.T) {
	h := upVJPair(t, 1500, 4)
	a := h.a.l
	var out [64]byte
	a.Shed()
	if n := testing.AllocsPerRun(10, func() { a.Output(out[:], h.now) }); n != 1 || a.Lent() != 0 {
		t.Fatalf("without PendingIP: %v allocations per idle Output, lent %d", n, a.Lent())
	}
	a.pending = true
	a.fu().pending = func() bool { return len(h.a.queue) > 0 }
	if n := testing.AllocsPerRun(10, func() { a.Output(out[:], h.now) }); n != 0 || a.Lent() != 0 {
		t.Fatalf("with PendingIP: %v allocations per idle Output, lent %d", n, a.Lent())
	}
	h.a.queue = append(h.a.queue, ipPacket(1, 100))
	h.pump()
	if len(h.b.got) != 1 || a.Lent() != 1508 {
		t.Fatalf("delivered %d, lent %d", len(h.b.got), a.Lent())
	}
}

// TestShedAllocsPerBurst: the steady state allocates nothing; after a
// Shed, a burst (a TCP segment each way) lends the two frame buffers of
// each link once: 4 allocations for the pair, then none.
func TestShedAllocsPerBurst(t *testing.T) {
	pkt := tcpSeg(seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 1400})
	pending, delivered := false, 0
	h := vjUpPair(t, pkt, &pending, &delivered)
	buf := make([]byte, 700)
	now := h.now
	burst := func() {
		for _, pair := range [2][2]*Link{{h.a.l, h.b.l}, {h.b.l, h.a.l}} {
			pending = true
			for {
				n := pair[0].Output(buf, now)
				if n == 0 {
					break
				}
				pair[1].Input(buf[:n], now)
			}
		}
	}
	burst()
	if a := testing.AllocsPerRun(50, burst); a != 0 {
		t.Fatalf("steady state: %v allocations per burst", a)
	}
	if a := testing.AllocsPerRun(50, func() { h.a.l.Shed(); h.b.l.Shed(); burst() }); a != 4 {
		t.Fatalf("after Shed: %v allocations per burst, want 4", a)
	}
	if a := testing.AllocsPerRun(50, func() { h.a.l.Shed(); h.b.l.Shed() }); a != 0 {
		t.Fatalf("Shed allocates: %v", a)
	}
}

// TestShedSettled: the control queue, option scratch and request options
// go as soon as negotiation is over; Echo keepalives afterwards lend the
// queue per packet, are answered, and leave nothing held; while IPV6CP
// (configured on one side only, so never Opened) is unsettled they stay.
func TestShedSettled(t *testing.T) {
	cc, hc := vjConfigs(1, 16)
	cc.MRU, hc.MRU = 296, 296
	cc.EchoInterval = 2 * time.Second
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	h.pump()
	for _, l := range []*Link{h.a.l, h.b.l} {
		if l.ctrlq != nil || l.optScratch != nil || l.lcp.reqOpts != nil || l.ipcp.reqOpts != nil {
			t.Fatal("negotiation over, control buffers still held")
		}
	}
	start := h.a.l.Stats()
	h.run(7*time.Second, func() bool { return false })
	st := h.a.l.Stats()
	if st.EchoSent-start.EchoSent < 3 || st.EchoRecv-start.EchoRecv != st.EchoSent-start.EchoSent || !h.bothUp() {
		t.Fatalf("echoes sent %d, answered %d; up %v", st.EchoSent-start.EchoSent, st.EchoRecv-start.EchoRecv, h.bothUp())
	}
	if h.a.l.ctrlq != nil || h.b.l.ctrlq != nil {
		t.Fatal("the control queue stayed after the echoes")
	}

	cc6, hc6 := vjConfigs(1, 16)
	cc6.IPv6 = &IPv6Config{} // the host does not speak IPV6CP: it rejects it
	h6 := newHarness(t, cc6, hc6)
	h6.open()
	if !h6.run(10*time.Second, h6.bothUp) {
		t.Fatal("not up")
	}
	h6.pump()
	if h6.a.l.Up6() || h6.a.l.ctrlq == nil {
		t.Fatalf("IPV6CP unsettled (up %v): control queue dropped", h6.a.l.Up6())
	}
}
