package tcp

import (
	"bytes"
	"fmt"
	"testing"
	"time"
	"unsafe"
)

// TestShedIdle: on an idle established connection Shed releases every
// buffer the exchange allocated — each slot's receive and send buffer and
// the large buffer given back — at exactly their configured sizes; a
// second Shed returns 0; an exchange afterwards allocates them again and
// completes.
func TestShedIdle(t *testing.T) {
	w := newWire(t, testConfig(1), poolConfig(2, 1024, 4096, 1), 1)
	c, sc, _ := w.connect(80)
	a, b := w.stacks[0], w.stacks[1]
	if n := a.Shed() + b.Shed(); n != 0 {
		t.Fatalf("a handshake allocated %d buffer bytes", n)
	}
	exchange := func() {
		c.Write([]byte("hi"))
		w.run(func() bool { return len(sc.Peek()) == 2 }, 5*time.Second)
		sc.Consume(2)
		rec := pattern(3000, 1)
		sc.Reserve(3000) // borrows the large buffer
		c.Write(rec)
		w.run(func() bool { return len(sc.Peek()) == 3000 }, 5*time.Second)
		if !bytes.Equal(sc.Peek(), rec) {
			t.Fatal("record corrupted")
		}
		sc.Consume(3000)
		sc.Write([]byte("ok"))
		w.run(func() bool { return len(c.Peek()) == 2 }, 5*time.Second)
		c.Consume(2)
		w.settle(time.Second)
	}
	exchange()
	// A: 8,192-byte receive and send buffers. B: its 1,024-byte small
	// receive buffer, its 8,192-byte send buffer, the 4,096 + 536-byte
	// large buffer (free again).
	if n := a.Shed(); n != 8192+8192 {
		t.Fatalf("stack A shed %d bytes", n)
	}
	if n := sc.Shed(); n != 1024+8192 {
		t.Fatalf("connection B shed %d bytes", n)
	}
	if n := b.Shed(); n != 4096+536 {
		t.Fatalf("stack B shed %d bytes after its connection", n)
	}
	if n := a.Shed() + b.Shed() + c.Shed() + sc.Shed(); n != 0 {
		t.Fatalf("second Shed released %d bytes", n)
	}
	if c.rcvBuf() != nil || c.sndBuf() != nil || sc.rcvBuf() != nil || sc.sndBuf() != nil || b.large[0].b != nil {
		t.Fatal("a buffer survived Shed")
	}
	exchange()
	if n := a.Shed() + b.Shed(); n != 8192+8192+1024+8192+4096+536 {
		t.Fatalf("after a second exchange: shed %d bytes", n)
	}
	if err := checkPool(b); err != nil {
		t.Fatal(err)
	}
}

// TestShedQueues: the RST queue and the SYN-cookie ring are allocated by
// the first segment queued there and shed once drained; Shed keeps them
// while a segment waits.
func TestShedQueues(t *testing.T) {
	s := NewStack(testConfig(1))
	if _, err := s.Listen(80, 1); err != nil {
		t.Fatal(err)
	}
	if s.rst != nil || s.cookies != nil || s.Shed() != 0 {
		t.Fatal("queues allocated before use")
	}
	// A SYN takes the backlog; the next one gets a SYN cookie; a segment
	// to a closed port an RST.
	for i := 0; i < 2; i++ {
		s.Input(addrA, addrB, craft(addrA, addrB, uint16(1000+i), 80, 1, 0, FlagSYN, 1000, nil), t0)
	}
	s.Input(addrA, addrB, craft(addrA, addrB, 2000, 81, 1, 0, FlagACK, 1000, nil), t0)
	if s.cookieN != 1 || s.rstN != 1 {
		t.Fatalf("%d cookies, %d RSTs queued", s.cookieN, s.rstN)
	}
	if n := s.Shed(); n != 0 {
		t.Fatalf("shed %d bytes with segments queued", n)
	}
	if out := drain(s, addrB, t0); len(out) != 3 {
		t.Fatalf("%d segments out", len(out))
	}
	want := int(unsafe.Sizeof([rstQueue]pendingRST{})) + cookieQueue*int(unsafe.Sizeof(pendingCookie{}))
	if n := s.Shed(); n != want || s.Shed() != 0 {
		t.Fatalf("shed %d bytes, want %d", n, want)
	}
	// Both queues work again after the Shed.
	s.Input(addrA, addrB, craft(addrA, addrB, 1002, 80, 1, 0, FlagSYN, 1000, nil), t0)
	s.Input(addrA, addrB, craft(addrA, addrB, 2001, 81, 1, 0, FlagACK, 1000, nil), t0)
	if out := drain(s, addrB, t0); len(out) != 2 || out[0].Flags != FlagSYN|FlagACK || out[1].Flags&FlagRST == 0 {
		t.Fatalf("after Shed: %+v", out)
	}
}

// TestShedKeepsData: Shed in the middle of a record keeps the receive
// buffer holding its first part (and a lent large buffer), and a send
// buffer holding unacknowledged data; the record and the data arrive
// whole afterwards.
func TestShedKeepsData(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		t.Run(fmt.Sprint("pooled=", pooled), func(t *testing.T) {
			cb := testConfig(2)
			if pooled {
				cb = poolConfig(2, 1024, 4096, 1)
			}
			w := newWire(t, testConfig(1), cb, 1)
			c, sc, _ := w.connect(80)
			a, b := w.stacks[0], w.stacks[1]
			sc.Write([]byte("hello"))
			w.run(func() bool { return len(c.Peek()) == 5 }, 5*time.Second)
			c.Consume(5)
			w.settle(time.Second)
			rec := pattern(3000, 9)
			if pooled {
				sc.Reserve(len(rec))
			}
			c.Write(rec[:1000])
			w.run(func() bool { return len(sc.Peek()) == 1000 }, 5*time.Second)
			w.settle(time.Second)
			peek := &sc.Peek()[0]
			// B: only the empty send buffer goes; the first part of the
			// record (in the small or the lent large buffer) stays.
			want := cb.SendBuf
			if n := b.Shed(); n != want || &sc.Peek()[0] != peek || !bytes.Equal(sc.Peek(), rec[:1000]) {
				t.Fatalf("shed %d bytes (want %d) in the middle of a record", n, want)
			}
			if pooled && (sc.big == 0 || b.large[0].b == nil) {
				t.Fatal("the lent large buffer was shed")
			}
			// A: the rest of the record is queued and unacknowledged
			// (B's ACKs are lost for a while): only A's empty receive
			// buffer goes.
			lost := true
			w.drop = func(from int, _ Header, _ []byte) bool { return from == 1 && lost }
			c.Write(rec[1000:])
			w.run(func() bool { return c.sndNxt == c.sndBase+2000 }, 5*time.Second)
			if n := a.Shed(); n != 8192 || c.sndBuf() == nil {
				t.Fatalf("stack A shed %d bytes with 2,000 bytes unacknowledged", n)
			}
			lost = false
			w.run(func() bool { return len(sc.Peek()) == 3000 && c.Queued() == 0 }, 10*time.Second)
			if !bytes.Equal(sc.Peek(), rec) {
				t.Fatal("record corrupted")
			}
			if err := checkPool(b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestShedEverywhereIdentical: a lossy exchange of 256 KiB each way with
// both stacks shedding between every Input, Output and Poll sends exactly
// the same segments, byte for byte, in the same virtual time, as the same
// seeded run without shedding (8 KiB, Tiny-sized 1 KiB and paired 4,500-byte
// buffers).
func TestShedEverywhereIdentical(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	// 4,500-byte buffers are paired: 9,000 bytes take 9,472, apart 2 × 4,864.
	for _, sz := range []struct{ buf, mss int }{{8192, 1460}, {1024, 536}, {4500, 1460}} {
		for seed := int64(1); seed <= int64(seeds); seed++ {
			t.Run(fmt.Sprint(sz.buf, "/", seed), func(t *testing.T) {
				plain := simulateRun(t, seed, 256<<10, 0.05, 0.02, 0.05, sz.buf, sz.mss, false)
				shed := simulateRun(t, seed, 256<<10, 0.05, 0.02, 0.05, sz.buf, sz.mss, true)
				if plain.sums != shed.sums || plain.segs != shed.segs || plain.virt != shed.virt || plain.st != shed.st {
					t.Fatalf("shedding changed the exchange: segments %v → %v, virtual %v → %v", plain.segs, shed.segs, plain.virt, shed.virt)
				}
				if shed.shedBytes == 0 || plain.shedBytes != 0 {
					t.Fatalf("shed %d bytes", shed.shedBytes)
				}
				t.Logf("segments %v, virtual %v; %d bytes shed along the way", shed.segs, shed.virt, shed.shedBytes)
			})
		}
	}
}

// TestPoolRandomShed: the large-buffer pool's random record test
// (TestPoolRandom: fairness, no deadlock, windows never shrink) with both
// stacks shedding between every Input, Output and Poll sends the same
// segments as without.
func TestPoolRandomShed(t *testing.T) {
	seeds := 9
	if testing.Short() {
		seeds = 3
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			plain := poolRandom(t, seed, false)
			shed := poolRandom(t, seed, true)
			if plain.sums != shed.sums || plain.st != shed.st || plain.virt != shed.virt {
				t.Fatalf("shedding changed the exchange: %+v → %+v", plain.st, shed.st)
			}
			if shed.shed == 0 {
				t.Fatal("nothing shed")
			}
		})
	}
}

// TestShedAllocsPerBurst: after a Shed, a request and its answer allocate
// each buffer they use once — per stack its receive and send buffer; a
// reserved request goes straight into the large buffer it borrows, so the
// pooled receiver allocates that one instead of its small one — never per
// segment; without Shed, nothing.
func TestShedAllocsPerBurst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pooled bool
		want   float64
	}{{"plain", false, 4}, {"pooled", true, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := testConfig(1), testConfig(2)
			if tc.pooled {
				cb = poolConfig(2, 1024, 8192, 1)
			}
			ca.MSS, cb.MSS = 536, 536
			w := newWire(t, ca, cb, 1)
			c, sc, _ := w.connect(80)
			w.settle(time.Second)
			p := &pair{w: w, c: c, sc: sc, a: w.stacks[0], b: w.stacks[1], now: w.now}
			req, resp := make([]byte, 6000), make([]byte, 5000) // several segments each
			shed := true
			burst := func() {
				if shed {
					p.a.Shed()
					p.b.Shed()
				}
				if tc.pooled {
					sc.Reserve(len(req))
				}
				for left := len(req); left > 0; {
					left -= c.Write(req[len(req)-left:])
					p.shuttle()
				}
				if len(sc.Peek()) != len(req) {
					t.Fatalf("request: %d bytes", len(sc.Peek()))
				}
				sc.Consume(len(req))
				sc.Write(resp)
				p.shuttle()
				if len(c.Peek()) != len(resp) {
					t.Fatalf("response: %d bytes", len(c.Peek()))
				}
				c.Consume(len(resp))
				p.shuttle()
				p.now = p.now.Add(time.Millisecond)
				p.a.Poll(p.now)
				p.b.Poll(p.now)
			}
			burst()
			if a := testing.AllocsPerRun(100, burst); a != tc.want {
				t.Fatalf("%v allocations per burst after Shed, want %v", a, tc.want)
			}
			shed = false
			if a := testing.AllocsPerRun(100, burst); a != 0 {
				t.Fatalf("%v allocations per burst without Shed", a)
			}
			if p.segsAB < 100*12 {
				t.Fatalf("only %d segments", p.segsAB)
			}
		})
	}
}

// TestAllocSize: the size classes the pairing decision uses, and the
// decisions for the built-in profiles' shapes.
func TestAllocSize(t *testing.T) {
	for n, want := range map[int]int{1: 8, 512: 512, 1024: 1024, 3835: 4096, 3926: 4096, 7761: 8192, 16645: 18432,
		16645 + 3835: 20480, 18105: 18432, 32768: 32768, 32769: 40960, 49149: 49152} {
		if got := allocSize(n); got != want {
			t.Errorf("allocSize(%d) = %d, want %d", n, got, want)
		}
	}
	for _, tc := range []struct {
		name                           string
		conns, recv, small, large, snd int
		paired                         bool
	}{
		{"card", 4, 16645, 3926, 1, 3835, false}, // 3,926 + 3,835 take 8,192 either way
		{"card-1", 1, 16645, 0, 1, 3835, true},   // 20,480 together, 18,432 + 4,096 apart
		{"tiny", 1, 1024, 0, 0, 512, false},      // 1,536 either way
		{"host", 16, 32768, 0, 0, 32768, false},
	} {
		s := NewStack(Config{MaxConns: tc.conns, RecvBuf: tc.recv, SmallRecvBuf: tc.small, LargeRecvBufs: tc.large,
			SendBuf: tc.snd, MSS: 1460, Rand: newRand(1)})
		if s.pairBufs != tc.paired {
			t.Errorf("%s: paired %v", tc.name, s.pairBufs)
		}
	}
}

// TestShedPaired: with the one-slot Card profile's buffers (16,645 +
// 3,835 bytes: one 20,480-byte allocation), Shed drops the pair only when
// both halves are empty, and a burst after Shed allocates it once.
func TestShedPaired(t *testing.T) {
	cb := testConfig(2)
	cb.MaxConns, cb.RecvBuf, cb.SendBuf = 1, 16645, 3835
	w := newWire(t, testConfig(1), cb, 1)
	c, sc, _ := w.connect(80)
	a, b := w.stacks[0], w.stacks[1]
	if !b.pairBufs {
		t.Fatal("buffers not paired")
	}
	rec := pattern(10000, 3)
	c.Write(rec[:4000])
	w.run(func() bool { return len(sc.Peek()) == 4000 }, 5*time.Second)
	if cap(sc.rcvBuf()) != 16645 || cap(sc.sndBuf()) != 3835 ||
		uintptr(unsafe.Pointer(&sc.rcvBuf()[0]))+16645 != uintptr(unsafe.Pointer(&sc.sndBuf()[0])) {
		t.Fatalf("buffers %d + %d, not one allocation", cap(sc.rcvBuf()), cap(sc.sndBuf()))
	}
	if n := b.Shed(); n != 0 {
		t.Fatalf("shed %d bytes with unread data", n)
	}
	sc.Consume(4000)
	sc.Write(pattern(3000, 4))
	w.drop = func(from int, _ Header, _ []byte) bool { return from == 1 } // keep it unacknowledged
	w.run(func() bool { return sc.sndNxt == sc.sndBase+3000 }, 5*time.Second)
	if n := b.Shed(); n != 0 {
		t.Fatalf("shed %d bytes with unacknowledged data", n)
	}
	w.drop = nil
	w.run(func() bool { return sc.Queued() == 0 && len(c.Peek()) == 3000 }, 10*time.Second)
	c.Consume(3000)
	w.settle(time.Second)
	if n := b.Shed(); n != 16645+3835 || b.Shed() != 0 {
		t.Fatalf("idle: shed %d bytes", n)
	}
	// The rest of the record after the Shed.
	a.Shed()
	c.Write(rec[4000:])
	w.run(func() bool { return len(sc.Peek()) == 6000 }, 5*time.Second)
	if !bytes.Equal(sc.Peek(), rec[4000:]) {
		t.Fatal("record corrupted")
	}
	sc.Consume(6000)
	w.settle(time.Second)
	p := &pair{w: w, c: c, sc: sc, a: a, b: b, now: w.now}
	burst := func() {
		b.Shed()
		c.Write(rec[:1000])
		p.shuttle()
		sc.Consume(len(sc.Peek()))
		sc.Write(rec[:100])
		p.shuttle()
		c.Consume(len(c.Peek()))
		p.now = p.now.Add(300 * time.Millisecond) // A's delayed ACK
		a.Poll(p.now)
		b.Poll(p.now)
		p.shuttle()
		if sc.Queued() != 0 {
			t.Fatal("answer unacknowledged")
		}
	}
	if n := testing.AllocsPerRun(50, burst); n != 1 {
		t.Fatalf("%v allocations per burst after Shed, want 1", n)
	}
}

// TestShedRecv: ShedRecv drops an empty receive buffer alone — never one
// with unread bytes or a reservation pending, never the send buffer (its
// unacknowledged bytes stay and are delivered), never a paired buffer —
// and a segment afterwards lends it again and is delivered intact.
func TestShedRecv(t *testing.T) {
	cb := testConfig(2)
	cb.MaxConns, cb.RecvBuf, cb.SendBuf = 1, 1024, 512 // the Tiny profile's
	w := newWire(t, testConfig(1), cb, 1)
	c, sc, _ := w.connect(80)
	b := w.stacks[1]
	if b.pairBufs {
		t.Fatal("Tiny's buffers paired")
	}
	c.Write(pattern(300, 1))
	w.run(func() bool { return len(sc.Peek()) == 300 }, 5*time.Second)
	if n := sc.ShedRecv(); n != 0 || sc.rcvBuf() == nil {
		t.Fatalf("shed %d bytes with unread data", n)
	}
	sc.Consume(300)
	sc.Reserve(600)
	if n := sc.ShedRecv(); n != 0 {
		t.Fatalf("shed %d bytes with a reservation pending", n)
	}
	c.Write(pattern(100, 2))
	w.run(func() bool { return len(sc.Peek()) == 100 }, 5*time.Second)
	sc.Consume(100) // ends the reservation
	reply := pattern(400, 3)
	w.drop = func(from int, _ Header, _ []byte) bool { return from == 1 } // keep the reply unacknowledged
	sc.Write(reply)
	w.run(func() bool { return sc.sndNxt == sc.sndBase+400 }, 5*time.Second)
	if n := sc.ShedRecv(); n != 1024 || sc.rcvBuf() != nil || sc.ShedRecv() != 0 {
		t.Fatalf("ShedRecv released %d bytes", n)
	}
	if sc.sndBuf() == nil || sc.Queued() != 400 {
		t.Fatalf("the send buffer went with it (%d queued)", sc.Queued())
	}
	w.drop = nil
	w.run(func() bool { return sc.Queued() == 0 && len(c.Peek()) == 400 }, 10*time.Second)
	if !bytes.Equal(c.Peek(), reply) {
		t.Fatal("reply corrupted")
	}
	c.Consume(400)
	next := pattern(700, 4)
	c.Write(next)
	w.run(func() bool { return len(sc.Peek()) == 700 }, 5*time.Second)
	if !bytes.Equal(sc.Peek(), next) || cap(sc.rcvBuf()) != 1024 {
		t.Fatalf("after ShedRecv: %d bytes in a %d-byte buffer", len(sc.Peek()), cap(sc.rcvBuf()))
	}

	// Paired buffers (the one-slot Card profile's) stay together.
	cp := testConfig(2)
	cp.MaxConns, cp.RecvBuf, cp.SendBuf = 1, 16645, 3835
	w2 := newWire(t, testConfig(1), cp, 1)
	c2, sc2, _ := w2.connect(80)
	c2.Write(pattern(10, 5))
	w2.run(func() bool { return len(sc2.Peek()) == 10 }, 5*time.Second)
	sc2.Consume(10)
	if n := sc2.ShedRecv(); n != 0 || sc2.rcvBuf() == nil {
		t.Fatalf("a paired receive buffer shed alone (%d bytes)", n)
	}
}
