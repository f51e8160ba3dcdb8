package tcp

import (
	"testing"
	"time"
)

// pair is an established connection with direct (queue-free) delivery.
type pair struct {
	w      *wire
	c, sc  *Conn
	a, b   *Stack
	buf    [1500]byte
	now    time.Time
	segsAB int
}

func newPair(tb testing.TB, recvBuf, sendBuf int) *pair {
	ca, cb := testConfig(1), testConfig(2)
	ca.RecvBuf, ca.SendBuf, cb.RecvBuf, cb.SendBuf = recvBuf, sendBuf, recvBuf, sendBuf
	w := newWire(tb, ca, cb, 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	return &pair{w: w, c: c, sc: sc, a: w.stacks[0], b: w.stacks[1], now: w.now}
}

// shuttle moves every pending segment both ways until both stacks are quiet.
func (p *pair) shuttle() {
	for {
		moved := false
		for {
			n, _ := p.a.Output(p.buf[:], addrA, p.now)
			if n == 0 {
				break
			}
			p.b.Input(addrA, addrB, p.buf[:n], p.now)
			moved = true
			p.segsAB++
		}
		for {
			n, _ := p.b.Output(p.buf[:], addrB, p.now)
			if n == 0 {
				break
			}
			p.a.Input(addrB, addrA, p.buf[:n], p.now)
			moved = true
		}
		if !moved {
			return
		}
	}
}

// TestSteadyStateAllocs proves that a data segment in and its ACK out
// allocate nothing.
func TestSteadyStateAllocs(t *testing.T) {
	p := newPair(t, 8192, 8192)
	data := make([]byte, 2*1460)
	step := func() {
		p.c.Write(data)
		for i := 0; i < 2; i++ { // two full segments A → B
			n, _ := p.a.Output(p.buf[:], addrA, p.now)
			if n != HeaderLen+1460 {
				t.Fatalf("segment %d bytes", n)
			}
			p.b.Input(addrA, addrB, p.buf[:n], p.now)
		}
		p.sc.Consume(len(p.sc.Peek()))
		n, _ := p.b.Output(p.buf[:], addrB, p.now) // the ACK
		if n != HeaderLen {
			t.Fatalf("ack %d bytes", n)
		}
		p.a.Input(addrB, addrA, p.buf[:n], p.now)
		p.now = p.now.Add(time.Millisecond)
		p.a.Poll(p.now)
		p.b.Poll(p.now)
	}
	step()
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Fatalf("%v allocs per round", allocs)
	}
	if p.c.Queued() != 0 {
		t.Fatal("data left unacknowledged")
	}
}

// BenchmarkSegment measures one full data segment through Output and Input
// at both ends, with half an ACK (ACK every second segment).
func BenchmarkSegment(b *testing.B) {
	p := newPair(b, 8192, 8192)
	data := make([]byte, 1460)
	b.SetBytes(1460)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.c.Write(data)
		n, _ := p.a.Output(p.buf[:], addrA, p.now)
		p.b.Input(addrA, addrB, p.buf[:n], p.now)
		p.sc.Consume(len(p.sc.Peek()))
		if n, _ = p.b.Output(p.buf[:], addrB, p.now); n > 0 {
			p.a.Input(addrB, addrA, p.buf[:n], p.now)
		}
		p.now = p.now.Add(time.Microsecond)
		if i%64 == 0 {
			p.a.Poll(p.now)
			p.b.Poll(p.now)
		}
	}
}

// BenchmarkBulk moves data one way between two stacks over a lossless,
// zero-latency in-memory link (16 KiB buffers, MSS 1460).
func BenchmarkBulk(b *testing.B) {
	p := newPair(b, 16384, 16384)
	chunk := make([]byte, 16384)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	got := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		left := len(chunk)
		for left > 0 {
			left -= p.c.Write(chunk[len(chunk)-left:])
			p.shuttle()
			got += len(p.sc.Peek())
			p.sc.Consume(len(p.sc.Peek()))
			p.shuttle()
		}
		p.now = p.now.Add(time.Millisecond)
		p.a.Poll(p.now)
		p.b.Poll(p.now)
	}
	b.StopTimer()
	if got < b.N*len(chunk)-len(chunk) {
		b.Fatalf("delivered %d of %d bytes", got, b.N*len(chunk))
	}
}
