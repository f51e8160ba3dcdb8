package tcp

import (
	"crypto/sha256"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// endpoint moves a stream through a Conn with the zero-copy API.
type endpoint struct {
	c      *Conn
	src    []byte
	sent   int
	closed bool
	recv   int
	hash   interface{ Write([]byte) (int, error) }
	sum    func() []byte
	eof    bool
	rng    *rand.Rand
}

func newEndpoint(c *Conn, src []byte, rng *rand.Rand) *endpoint {
	h := sha256.New()
	return &endpoint{c: c, src: src, hash: h, sum: func() []byte { return h.Sum(nil) }, rng: rng}
}

func (e *endpoint) pump() {
	if e.c == nil {
		return
	}
	// write in random-sized chunks into Free()
	if e.sent < len(e.src) {
		f := e.c.Free()
		n := min(len(f), len(e.src)-e.sent)
		if n > 0 {
			n = 1 + e.rng.Intn(n)
			copy(f, e.src[e.sent:e.sent+n])
			e.c.Commit(n)
			e.sent += n
		}
	} else if !e.closed {
		e.c.CloseWrite()
		e.closed = true
	}
	for p := e.c.Peek(); len(p) > 0; p = e.c.Peek() {
		n := 1 + e.rng.Intn(len(p))
		e.hash.Write(p[:n])
		e.recv += n
		e.c.Consume(n)
	}
	if e.c.EOF() {
		e.eof = true
	}
}

func simulate(t testing.TB, seed int64, size int, loss, dup, reorder float64) (segs [2]int, virt time.Duration, st [2]Stats) {
	return simulateCfg(t, seed, size, loss, dup, reorder, 8192, 1460)
}

func simulateCfg(t testing.TB, seed int64, size int, loss, dup, reorder float64, buf, mss int) (segs [2]int, virt time.Duration, st [2]Stats) {
	r := simulateRun(t, seed, size, loss, dup, reorder, buf, mss, false)
	return r.segs, r.virt, r.st
}

// simResult is what a simulated exchange produced: segment counts,
// virtual time, both stacks' counters, the SHA-256 of each stack's
// segments, and the bytes shedding released (shed mode).
type simResult struct {
	segs      [2]int
	virt      time.Duration
	st        [2]Stats
	sums      [2]string
	shedBytes int
}

// simulateRun is simulateCfg, optionally shedding both stacks' empty
// buffers between every Input, Output and Poll.
func simulateRun(t testing.TB, seed int64, size int, loss, dup, reorder float64, buf, mss int, shed bool) simResult {
	a, b := testConfig(seed), testConfig(seed+1000)
	a.RecvBuf, a.SendBuf, a.MSS = buf, buf, mss
	b.RecvBuf, b.SendBuf, b.MSS = buf, buf, mss
	w := newWire(t, a, b, seed)
	w.shed = shed
	w.loss, w.dup, w.reorder = loss, dup, reorder
	if loss > 0 {
		w.corrupt = 0.01
	}
	w.trace = traceSim
	rng := rand.New(rand.NewSource(seed))
	srcA, srcB := make([]byte, size), make([]byte, size)
	rng.Read(srcA)
	rng.Read(srcB)
	l, _ := w.stacks[1].Listen(443, 2)
	c, err := w.stacks[0].Dial(addrA, addrB, 443, w.now)
	if err != nil {
		t.Fatal(err)
	}
	ea := newEndpoint(c, srcA, rng)
	eb := newEndpoint(nil, srcB, rng)
	w.apps = append(w.apps, func() {
		if eb.c == nil {
			eb.c = l.Accept()
		}
		ea.pump()
		eb.pump()
	})
	w.run(func() bool {
		return ea.eof && eb.eof && ea.recv == size && eb.recv == size
	}, 2*time.Hour)
	if c.Err() != nil || eb.c.Err() != nil {
		t.Fatalf("seed %d: errors %v %v", seed, c.Err(), eb.c.Err())
	}
	wa, wb := sha256.Sum256(srcA), sha256.Sum256(srcB)
	if string(eb.sum()) != string(wa[:]) || string(ea.sum()) != string(wb[:]) {
		t.Fatalf("seed %d: SHA-256 mismatch", seed)
	}
	c.Close()
	eb.c.Close()
	w.run(func() bool { return !c.inUse && !eb.c.inUse }, time.Hour)
	return simResult{w.sent, w.now.Sub(t0), [2]Stats{w.stacks[0].Stats(), w.stacks[1].Stats()}, w.sums(), w.shedBytes}
}

// TestLossySimulation moves 1 MiB each way over a link with 10% loss, 5%
// duplication, 10% reordering and 1% of segments with a flipped bit, for 20
// seeds, and compares SHA-256 of both streams.
func TestLossySimulation(t *testing.T) {
	const size = 1 << 20
	seeds := 20
	if testing.Short() {
		seeds = 3
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			segs, virt, st := simulate(t, seed, size, 0.10, 0.05, 0.10)
			t.Logf("segments %d/%d, virtual %v, rtx %d/%d, fast %d/%d, timeouts %d/%d, bad checksums %d/%d",
				segs[0], segs[1], virt.Round(time.Millisecond), st[0].Retransmits, st[1].Retransmits,
				st[0].FastRetransmits, st[1].FastRetransmits, st[0].Timeouts, st[1].Timeouts,
				st[0].DropChecksum, st[1].DropChecksum)
			if st[0].DropChecksum+st[1].DropChecksum == 0 {
				t.Error("no corrupted segment was caught")
			}
		})
	}
}

// TestLossyTiny runs the lossy link with the Tiny profile's sizes: 1 KiB
// buffers (smaller than two segments) and MSS 536.
func TestLossyTiny(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			segs, virt, st := simulateCfg(t, seed, 256<<10, 0.10, 0.05, 0.10, 1024, 536)
			t.Logf("segments %d/%d, virtual %v, rtx %d/%d", segs[0], segs[1], virt.Round(time.Millisecond),
				st[0].Retransmits, st[1].Retransmits)
		})
	}
}

func TestCleanTransfer(t *testing.T) {
	segs, virt, st := simulate(t, 99, 1<<20, 0, 0, 0)
	t.Logf("segments %d/%d, virtual %v, rtx %d", segs[0], segs[1], virt, st[0].Retransmits+st[1].Retransmits)
	if st[0].Retransmits+st[1].Retransmits != 0 {
		t.Fatal("retransmissions on a clean link")
	}
	// 8 KiB windows, 10 ms RTT: ~1.3 s at the window limit, plus 2 s TIME-WAIT.
	// Stop-and-wait against delayed ACKs would take over a minute.
	if virt > 4*time.Second {
		t.Fatalf("clean transfer took %v", virt)
	}
}

var traceSim = false
