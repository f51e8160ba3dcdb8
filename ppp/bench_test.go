package ppp

import (
	"math/rand"
	"testing"
	"time"
)

// upPair brings a card and a host link up and replaces the harness
// callbacks with allocation-free ones: a.PullIP sends pkt when *pending.
func upPair(tb testing.TB, pkt []byte, pending *bool, delivered *int) *harness {
	cc := cardConfig()
	cc.EchoInterval = time.Second
	h := newHarness(tb, cc, hostConfig())
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		tb.Fatal("not up")
	}
	for _, e := range []*end{h.a, h.b} {
		e.l.setTap(nil)
		e.l.fu().event = nil
		e.l.fu().deliver = func(p []byte) { *delivered++ }
		e.l.pull = true
		e.l.fu().pull = func(dst []byte) int {
			if !*pending {
				return 0
			}
			*pending = false
			return copy(dst, pkt)
		}
	}
	return h
}

func randomPacket(n int) []byte {
	p := ipPacket(1, n)
	rand.New(rand.NewSource(3)).Read(p[20:])
	return p
}

// TestZeroAllocs proves the steady state allocates nothing per frame: IP
// both ways, keepalive echoes, timers.
func TestZeroAllocs(t *testing.T) {
	pkt := randomPacket(1500)
	pending, delivered := false, 0
	h := upPair(t, pkt, &pending, &delivered)
	buf := make([]byte, 700)
	now := h.now
	allocs := testing.AllocsPerRun(200, func() {
		pending = true
		for _, pair := range [2][2]*Link{{h.a.l, h.b.l}, {h.b.l, h.a.l}} {
			for {
				n := pair[0].Output(buf, now)
				if n == 0 {
					break
				}
				pair[1].Input(buf[:n], now)
			}
			pending = true
		}
		now = now.Add(300 * time.Millisecond)
		h.a.l.Poll(now)
		h.b.l.Poll(now)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round", allocs)
	}
	if delivered < 300 || !h.bothUp() || h.a.l.Stats().EchoRecv == 0 {
		t.Errorf("delivered %d, up %v, echoes %d", delivered, h.bothUp(), h.a.l.Stats().EchoRecv)
	}
}

// BenchmarkFrame measures framing (escaping, FCS, Output) of 1500-byte IP packets.
func BenchmarkFrame(b *testing.B) {
	pkt := randomPacket(1500)
	pending, delivered := false, 0
	h := upPair(b, pkt, &pending, &delivered)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pending = true
		h.a.l.Output(buf, h.now)
	}
}

// BenchmarkDeframe measures deframing (un-escaping, FCS check, delivery) of
// 1500-byte IP packets.
func BenchmarkDeframe(b *testing.B) {
	pkt := randomPacket(1500)
	pending, delivered := false, 0
	h := upPair(b, pkt, &pending, &delivered)
	buf := make([]byte, 4096)
	pending = true
	n := h.a.l.Output(buf, h.now)
	wire := buf[:n]
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.b.l.Input(wire, h.now)
	}
	b.StopTimer()
	if delivered != b.N || h.b.l.Stats().BadFCS != 0 {
		b.Fatalf("delivered %d of %d", delivered, b.N)
	}
}
