package tcp

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// poolConfig is a stack whose slots own small receive buffers and share
// nLarge large ones.
func poolConfig(seed int64, small, large, nLarge int) Config {
	c := testConfig(seed)
	c.RecvBuf, c.SmallRecvBuf, c.LargeRecvBufs = large, small, nLarge
	c.MSS = 536
	return c
}

// checkPool verifies the large-buffer bookkeeping of a stack.
func checkPool(s *Stack) error {
	free := 0
	for i, l := range s.larges() {
		o := l.owner
		if o == nil {
			free++
			continue
		}
		if int(o.big) != i+1 || !o.inUse || len(l.b) != s.largeSize() || &o.buf()[0] != &l.b[0] {
			return fmt.Errorf("large buffer %d: owner holds %d", i, o.big)
		}
	}
	if s.largePool != nil && free != int(s.nfree) {
		return fmt.Errorf("%d free large buffers, counted %d", free, s.nfree)
	}
	for i := range s.conns {
		c := &s.conns[i]
		if c.big != 0 && s.large[c.big-1].owner != c {
			return fmt.Errorf("slot %d holds large buffer %d it does not own", i, c.big)
		}
		if c.waiting && c.big != 0 {
			return fmt.Errorf("slot %d waits while holding a large buffer", i)
		}
		if err := checkInvariants(c); err != nil {
			return fmt.Errorf("slot %d: %v", i, err)
		}
	}
	return nil
}

// edgeWatch fails the test if stack `from` ever moves the right edge of an
// advertised window (SEG.ACK + SEG.WND) to the left (RFC 9293 §3.8.6).
func edgeWatch(w *wire, from int) {
	edges := map[uint16]uint32{}
	w.drop = func(f int, h Header, _ []byte) bool {
		if f != from || h.Flags&FlagACK == 0 || h.Flags&FlagRST != 0 {
			return false
		}
		e := h.Ack + uint32(h.Window)
		if old, ok := edges[h.DstPort]; ok && seqLT(e, old) && h.Flags&FlagSYN == 0 {
			w.t.Fatalf("window shrank: port %d edge %d → %d", h.DstPort, old, e)
		}
		edges[h.DstPort] = e
		return false
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// TestReserveBorrowsAndReturns: a reservation above the small buffer
// borrows the large one, opens the window at once, receives a record the
// small buffer could not hold, and gives the buffer back after Consume.
func TestReserveBorrowsAndReturns(t *testing.T) {
	w := newWire(t, testConfig(1), poolConfig(2, 1024, 4096, 1), 1)
	edgeWatch(w, 1)
	c, sc, _ := w.connect(80)
	s := w.stacks[1]
	w.settle(time.Second)
	if sc.bufSize() != 1024 || c.sndWnd != 1024 {
		t.Fatalf("small buffer %d, peer sees window %d", sc.bufSize(), c.sndWnd)
	}
	if !sc.Reserve(1000) || s.nfree != 1 {
		t.Fatal("a reservation within the small buffer borrowed")
	}
	if sc.Reserve(5000) {
		t.Fatal("a reservation above RecvBuf succeeded")
	}
	if !sc.Reserve(3000) || s.nfree != 0 || sc.bufSize() != 4096+536 {
		t.Fatalf("Reserve(3000): nfree %d, buffer %d", s.nfree, sc.bufSize())
	}
	w.settle(time.Second) // the window update
	if c.sndWnd < 3000 {
		t.Fatalf("peer sees window %d after Reserve(3000)", c.sndWnd)
	}
	rec := pattern(3000, 1)
	c.Write(rec)
	w.run(func() bool { return len(sc.Peek()) == 3000 }, 5*time.Second)
	if !bytes.Equal(sc.Peek(), rec) {
		t.Fatal("record corrupted")
	}
	if err := checkPool(s); err != nil {
		t.Fatal(err)
	}
	sc.Consume(3000)
	if s.nfree != 1 || sc.bufSize() != 1024 {
		t.Fatalf("after Consume: nfree %d, buffer %d (adv %d)", s.nfree, sc.bufSize(), sc.rcvAdv-sc.rcvNxt)
	}
	// Small traffic stays in the small buffer.
	c.Write([]byte("hello"))
	w.run(func() bool { return len(sc.Peek()) == 5 }, 5*time.Second)
	if st := s.Stats(); st.LargeBorrows != 1 || st.LargeWaits != 0 || st.LargeGrowths != 0 || s.nfree != 1 {
		t.Fatalf("stats %+v nfree %d", st, s.nfree)
	}
}

// TestBorrowWhenFull: a reader that never announces its record still gets
// it: the full small buffer borrows the large one.
func TestBorrowWhenFull(t *testing.T) {
	w := newWire(t, testConfig(1), poolConfig(2, 1024, 4096, 1), 1)
	edgeWatch(w, 1)
	c, sc, _ := w.connect(80)
	s := w.stacks[1]
	rec := pattern(3500, 2)
	c.Write(rec)
	w.run(func() bool { return len(sc.Peek()) == 3500 }, 5*time.Second)
	if st := s.Stats(); !bytes.Equal(sc.Peek(), rec) || st.LargeBorrows != 1 || st.LargeGrowths != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Reading in pieces: the buffer goes back once data and window fit.
	for len(sc.Peek()) > 0 {
		sc.Consume(700)
		if err := checkPool(s); err != nil {
			t.Fatal(err)
		}
	}
	w.settle(time.Second)
	if s.nfree != 1 {
		t.Fatalf("large buffer kept: rcvLen %d adv %d", sc.rcvLen, sc.rcvAdv-sc.rcvNxt)
	}
}

// TestPoolExhaustedWaits: with one large buffer and two connections that
// both need it, the second keeps its small window (zero once full) until
// the first gives the buffer back, then gets it with a window update and
// completes; nobody deadlocks.
func TestPoolExhaustedWaits(t *testing.T) {
	w := newWire(t, testConfig(1), poolConfig(2, 1024, 4096, 1), 1)
	edgeWatch(w, 1)
	s := w.stacks[1]
	c1, sc1, l := w.connect(80)
	c2, err := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	if err != nil {
		t.Fatal(err)
	}
	var sc2 *Conn
	w.run(func() bool { sc2 = l.Accept(); return sc2 != nil }, 5*time.Second)
	if !sc1.Reserve(4000) {
		t.Fatal("first reservation failed")
	}
	if sc2.Reserve(4000) || !sc2.waiting {
		t.Fatal("second reservation did not wait")
	}
	r1, r2 := pattern(4000, 3), pattern(4000, 4)
	c1.Write(r1)
	c2.Write(r2)
	w.run(func() bool { return len(sc1.Peek()) == 4000 }, 10*time.Second)
	// The second connection is stuck at its small buffer, and stays so.
	w.run(func() bool { return w.now.Sub(t0) > 20*time.Second }, time.Minute)
	if len(sc2.Peek()) != 1024 || c2.sndWnd != 0 {
		t.Fatalf("waiting connection: %d bytes, peer window %d", len(sc2.Peek()), c2.sndWnd)
	}
	if err := checkPool(s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sc1.Peek(), r1) {
		t.Fatal("first record corrupted")
	}
	sc1.Consume(4000)
	released := w.now
	w.run(func() bool { return len(sc2.Peek()) == 4000 }, 10*time.Second)
	if !bytes.Equal(sc2.Peek(), r2) {
		t.Fatal("second record corrupted")
	}
	// The grant sends a window update: no wait for the persist timer (it
	// has backed off to several seconds by now).
	if d := w.now.Sub(released); d > 200*time.Millisecond {
		t.Fatalf("second record took %v after the release", d)
	}
	sc2.Consume(4000)
	if st := s.Stats(); st.LargeBorrows != 2 || st.LargeWaits != 1 || s.nfree != 1 {
		t.Fatalf("stats %+v nfree %d", st, s.nfree)
	}
	if err := checkPool(s); err != nil {
		t.Fatal(err)
	}
}

// TestWaiterProceedsAfterAbort: a holder whose peer stalls in the middle
// of its record keeps the large buffer until the layer above gives the
// connection up; then the waiter gets it at once.
func TestWaiterProceedsAfterAbort(t *testing.T) {
	w := newWire(t, testConfig(1), poolConfig(2, 1024, 4096, 1), 1)
	edgeWatch(w, 1)
	s := w.stacks[1]
	c1, sc1, l := w.connect(80)
	c2, err := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	if err != nil {
		t.Fatal(err)
	}
	var sc2 *Conn
	w.run(func() bool { sc2 = l.Accept(); return sc2 != nil }, 5*time.Second)
	sc1.Reserve(4000)
	c1.Write(pattern(2000, 5)) // half a record, then silence
	w.run(func() bool { return len(sc1.Peek()) == 2000 }, 5*time.Second)
	sc2.Reserve(4000)
	r2 := pattern(4000, 6)
	c2.Write(r2)
	w.run(func() bool { return w.now.Sub(t0) > 30*time.Second }, time.Minute)
	if len(sc2.Peek()) != 1024 || !sc2.waiting {
		t.Fatalf("waiter has %d bytes (waiting %v)", len(sc2.Peek()), sc2.waiting)
	}
	sc1.Abort()
	aborted := w.now
	w.run(func() bool { return len(sc2.Peek()) == 4000 }, 10*time.Second)
	if !bytes.Equal(sc2.Peek(), r2) {
		t.Fatal("record corrupted")
	}
	if d := w.now.Sub(aborted); d > 200*time.Millisecond {
		t.Fatalf("waiter took %v after the abort", d)
	}
	if err := checkPool(s); err != nil {
		t.Fatal(err)
	}
}

// TestLargeBufferFreedOnClose: Close and Abort give a held buffer back.
func TestLargeBufferFreedOnClose(t *testing.T) {
	w := newWire(t, testConfig(1), poolConfig(2, 1024, 4096, 1), 1)
	s := w.stacks[1]
	_, sc, _ := w.connect(80)
	if !sc.Reserve(2000) || s.nfree != 0 {
		t.Fatal("no borrow")
	}
	sc.Close()
	if s.nfree != 1 {
		t.Fatal("Close kept the large buffer")
	}
	if err := checkPool(s); err != nil {
		t.Fatal(err)
	}
	_, sc, _ = w.connect(81)
	sc.Reserve(2000)
	sc.Abort()
	if s.nfree != 1 {
		t.Fatal("Abort kept the large buffer")
	}
	if err := checkPool(s); err != nil {
		t.Fatal(err)
	}
}

// recordReader is the layer above on one connection: it reads records
// (2-byte length, then the body) like TLS reads its records, announcing
// each with Reserve (or, when !reserve, waiting for the data like a
// reader that does not know the API), sometimes pausing, and compares each
// with the reference stream.
type recordReader struct {
	c       *Conn
	want    []byte // reference: every byte the peer sends
	got     int
	reserve bool
	rng     *rand.Rand
	records int
}

func (r *recordReader) pump(t testing.TB) {
	for r.c != nil {
		in := r.c.Peek()
		if len(in) < 2 || r.rng.Intn(8) == 0 {
			return
		}
		n := 2 + (int(in[0])<<8 | int(in[1]))
		if len(in) < n {
			if r.reserve {
				r.c.Reserve(n)
			}
			return
		}
		if !bytes.Equal(in[:n], r.want[r.got:r.got+n]) {
			t.Fatalf("record %d at %d differs", r.records, r.got)
		}
		r.got += n
		r.records++
		r.c.Consume(n)
	}
}

// records returns a stream of records of random sizes up to max bytes
// (length field included).
func records(rng *rand.Rand, total, max int) []byte {
	var b []byte
	for len(b) < total {
		n := 1 + rng.Intn(max-2)
		if rng.Intn(3) == 0 {
			n = 1 + rng.Intn(200) // small records are common
		}
		b = append(b, byte(n>>8), byte(n))
		for i := 0; i < n; i++ {
			b = append(b, byte(rng.Intn(256)))
		}
	}
	return b
}

// TestPoolRandom: three connections send record streams (sizes up to the
// large buffer) over a link with loss, duplication and reordering to a
// stack with small buffers and one or two large ones (or, without a pool,
// 3000-byte buffers: in-place readers must not deadlock on receiver SWS
// avoidance either); readers pause at random. Every record arrives intact (checked against the reference
// stream), the pool bookkeeping and the connection invariants hold after
// every step, no advertised window ever shrinks, and every transfer ends.
func TestPoolRandom(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 6
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { poolRandom(t, seed, false) })
	}
}

// poolRunResult is what poolRandom saw: the pool's counters and the
// SHA-256 of each stack's segments.
type poolRunResult struct {
	st   Stats
	sums [2]string
	virt time.Duration
	shed int
}

func poolRandom(t *testing.T, seed int64, shed bool) poolRunResult {
	rng := rand.New(rand.NewSource(seed))
	nLarge := int(seed % 3)
	cfg := poolConfig(seed+100, 700, 3000, nLarge)
	if nLarge == 0 {
		cfg.SmallRecvBuf = 0
	}
	w := newWire(t, testConfig(seed), cfg, seed)
	w.shed = shed
	w.loss, w.dup, w.reorder = 0.05, 0.02, 0.05
	edgeWatch(w, 1)
	s := w.stacks[1]
	l, _ := s.Listen(443, 4)
	var readers []*recordReader
	var senders []*endpoint
	for i := 0; i < 3; i++ {
		c, err := w.stacks[0].Dial(addrA, addrB, 443, w.now)
		if err != nil {
			t.Fatal(err)
		}
		src := records(rng, 40_000, 3000)
		senders = append(senders, &endpoint{c: c, src: src, rng: rand.New(rand.NewSource(seed*10 + int64(i)))})
		readers = append(readers, &recordReader{want: src, reserve: i != 2, rng: rand.New(rand.NewSource(seed*20 + int64(i)))})
	}
	accepted := 0
	w.apps = append(w.apps, func() {
		for x := l.Accept(); x != nil; x = l.Accept() {
			// Match by port: connections may complete in any order.
			for i, e := range senders {
				if _, p := x.Remote(); p == e.c.lport {
					readers[i].c = x
					accepted++
				}
			}
		}
		for _, e := range senders {
			if e.sent < len(e.src) {
				e.sent += e.c.Write(e.src[e.sent:min(len(e.src), e.sent+1+e.rng.Intn(3000))])
			}
		}
		for _, r := range readers {
			r.pump(t)
		}
		if err := checkPool(s); err != nil {
			t.Fatal(err)
		}
	})
	w.run(func() bool {
		for _, r := range readers {
			if r.got < len(r.want) {
				return false
			}
		}
		return true
	}, time.Hour)
	st := s.Stats()
	t.Logf("virtual %v, borrows %d, waits %d, records %d/%d/%d", w.now.Sub(t0).Round(time.Millisecond),
		st.LargeBorrows, st.LargeWaits, readers[0].records, readers[1].records, readers[2].records)
	if nLarge > 0 && (st.LargeBorrows == 0 || (nLarge == 1 && st.LargeWaits == 0)) {
		t.Fatalf("pool not exercised: %+v", st)
	}
	for _, r := range readers {
		r.c.Close()
	}
	w.settle(5 * time.Second)
	if nLarge > 0 && int(s.nfree) != nLarge || nLarge == 0 && s.largePool != nil {
		t.Fatalf("large buffers back after Close: %d, want %d", len(s.larges()), nLarge)
	}
	return poolRunResult{s.Stats(), w.sums(), w.now.Sub(t0), w.shedBytes}
}

// TestPoolAllocs: borrowing, filling and giving back a large buffer
// allocates nothing.
func TestPoolAllocs(t *testing.T) {
	ca, cb := testConfig(1), poolConfig(2, 1024, 4096, 1)
	ca.MSS = 536
	w := newWire(t, ca, cb, 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	a, b := w.stacks[0], w.stacks[1]
	var buf [1500]byte
	rec := make([]byte, 3000)
	shuttle := func() {
		for moved := true; moved; {
			moved = false
			for n, _ := a.Output(buf[:], addrA, w.now); n > 0; n, _ = a.Output(buf[:], addrA, w.now) {
				b.Input(addrA, addrB, buf[:n], w.now)
				moved = true
			}
			for n, _ := b.Output(buf[:], addrB, w.now); n > 0; n, _ = b.Output(buf[:], addrB, w.now) {
				a.Input(addrB, addrA, buf[:n], w.now)
				moved = true
			}
		}
	}
	round := func() {
		sc.Reserve(len(rec))
		c.Write(rec)
		shuttle()
		if len(sc.Peek()) != len(rec) {
			t.Fatalf("got %d bytes", len(sc.Peek()))
		}
		sc.Consume(len(rec))
		shuttle()
		w.now = w.now.Add(time.Millisecond)
		a.Poll(w.now)
		b.Poll(w.now)
	}
	round()
	if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
		t.Fatalf("%v allocs per record", allocs)
	}
	if st := b.Stats(); st.LargeBorrows < 200 || b.nfree != 1 {
		t.Fatalf("borrows %d, nfree %d", st.LargeBorrows, b.nfree)
	}
}

// BenchmarkPooledRecords moves 16 KiB records to a receiver with 4 KiB
// slot buffers and one large buffer (the Card profile's shape), announcing
// each record with Reserve.
func BenchmarkPooledRecords(b *testing.B) {
	ca, cb := testConfig(1), poolConfig(2, 3926, 16645, 1)
	ca.RecvBuf, ca.SendBuf, ca.MSS, cb.MSS = 32768, 32768, 1460, 1460
	p := &pair{}
	w := newWire(b, ca, cb, 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	p.w, p.c, p.sc, p.a, p.b, p.now = w, c, sc, w.stacks[0], w.stacks[1], w.now
	rec := make([]byte, 16384+16+5)
	rec[3], rec[4] = byte((len(rec)-5)>>8), byte(len(rec)-5)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		left := len(rec)
		for left > 0 || len(p.sc.Peek()) > 0 {
			left -= p.c.Write(rec[len(rec)-left:])
			p.shuttle()
			if in := p.sc.Peek(); len(in) >= 5 {
				n := 5 + (int(in[3])<<8 | int(in[4]))
				if len(in) >= n {
					p.sc.Consume(n)
				} else {
					p.sc.Reserve(n)
				}
			}
			p.shuttle()
		}
		p.now = p.now.Add(time.Millisecond)
		p.a.Poll(p.now)
		p.b.Poll(p.now)
	}
}

// TestZeroWindowAcceptsACKs: with its window closed, a receiver still takes
// the ACKs of segments whose sequence number is not RCV.NXT — a window
// probe (RCV.NXT-1) and a pure ACK from a peer whose SND.NXT lies beyond
// the window — or its own data would never be acknowledged. Far-off
// sequence numbers are still refused.
func TestZeroWindowAcceptsACKs(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int32 // SEG.SEQ - RCV.NXT
		ok   bool
	}{{"probe", -1, true}, {"beyond", 811, true}, {"far", 1 << 20, false}, {"behind", -2000, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := testConfig(1), testConfig(2)
			b.RecvBuf = 2000
			w := newWire(t, a, b, 1)
			c, sc, _ := w.connect(80)
			c.Write(make([]byte, 5000)) // fills sc's window; sc does not read
			w.run(func() bool { return len(sc.Peek()) == 2000 && c.sndWnd == 0 }, 5*time.Second)
			w.settle(100 * time.Millisecond)
			w.drop = func(from int, h Header, p []byte) bool { return from == 0 }
			sc.Write([]byte("reply"))
			w.run(func() bool { return string(c.Peek()) == "reply" }, time.Second)
			s := w.stacks[1]
			seg := craft(addrA, addrB, c.lport, 80, sc.rcvNxt+uint32(tc.off), sc.sndMax, FlagACK, 8192, nil)
			s.Input(addrA, addrB, seg, w.now)
			if acked := sc.Queued() == 0; acked != tc.ok {
				t.Fatalf("ACK taken: %v, want %v", acked, tc.ok)
			}
			if len(sc.Peek()) != 2000 {
				t.Fatal("data accepted beyond a zero window")
			}
		})
	}
}

// TestWindowFromAdvancingACK: a segment with an older sequence number (a
// retransmission) that acknowledges new data updates the send window, so
// the right edge SND.UNA+SND.WND stays where the peer put it.
func TestWindowFromAdvancingACK(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, _, _ := w.connect(80)
	w.settle(time.Second)
	s := w.stacks[0]
	// c sends 3000 bytes; the peer acknowledges nothing yet but a later
	// segment (higher SEG.SEQ) sets SND.WL1.
	w.drop = func(int, Header, []byte) bool { return true }
	c.Write(make([]byte, 3000))
	w.settle(10 * time.Millisecond)
	una := c.sndUna
	later := craft(addrB, addrA, 80, c.lport, c.rcvNxt+100, una, FlagACK, 4000, nil)
	s.Input(addrB, addrA, later, w.now)
	// A retransmission from the peer (SEG.SEQ = RCV.NXT, older) acknowledges
	// 2000 bytes and offers 1000 more.
	old := craft(addrB, addrA, 80, c.lport, c.rcvNxt, una+2000, FlagACK, 1000, nil)
	s.Input(addrB, addrA, old, w.now)
	if c.sndUna != una+2000 || c.sndWnd != 1000 {
		t.Fatalf("una +%d, window %d; want +2000, 1000", c.sndUna-una, c.sndWnd)
	}
}
