package udp

import (
	"bytes"
	"math"
	"netcard/internal/count/counttest"
	"testing"
	"unsafe"
)

// TestStackSize holds the Stack and a Socket to the allocator classes the
// narrow counters and rings bought (48 bytes for a Socket, from 64), and
// the Stack to 80 bytes (from 128) now that its socket table and send ring
// are lent (table); a one-socket table is one 112-byte object.
func TestStackSize(t *testing.T) {
	if n := unsafe.Sizeof(Stack{}); n > 80 {
		t.Errorf("Stack is %d bytes, want ≤ 80", n)
	}
	if n := TableBytes(1); n > 112 {
		t.Errorf("a one-socket table is %d bytes, want ≤ 112", n)
	}
	if n := unsafe.Sizeof(Socket{}); n > 48 {
		t.Errorf("Socket is %d bytes, want ≤ 48", n)
	}
}

// TestStatsWiden checks that every counter of Stats is kept and widened,
// and that one wraps modulo 2^32.
func TestStatsWiden(t *testing.T) {
	counttest.CheckWiden(t, (*stats32).export, 0)
	s := NewStack(Config{})
	s.stats.InDatagrams = math.MaxUint32
	s.Input(a1, a2, []byte{1, 2, 3}, t0) // a runt: counted, dropped
	if st := s.Stats(); st.InDatagrams != 0 || st.InShort != 1 {
		t.Fatalf("after 2^32 datagrams: InDatagrams %d, InShort %d", st.InDatagrams, st.InShort)
	}
}

// TestLargestQueue fills the largest queue a Config can ask for (clamped to
// 1<<15 bytes) to its last byte, across the wrap, in both directions: the
// rings' 16-bit positions and counts hold it.
func TestLargestQueue(t *testing.T) {
	s := NewStack(Config{MaxSockets: 1, QueueBytes: 1 << 20, SendBytes: 1 << 20})
	if s.queueBytes != 1<<15 || s.sendBytes != 1<<15 {
		t.Fatalf("queues %d, %d bytes: not clamped to 1<<15", s.queueBytes, s.sendBytes)
	}
	c, err := s.Bind(9)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<15)
	for round := 0; round < 3; round++ {
		// Shift the read position so the full queue wraps.
		for i := 0; i <= round; i++ {
			s.Input(a1, a2, Append(nil, a1, a2, 1, 9, make([]byte, 1000+round)), t0)
			if _, _, _, ok := c.RecvFrom(buf); !ok {
				t.Fatal("no datagram")
			}
		}
		// 4096 records of rxMeta bytes: 32768 bytes, full.
		var sent int
		for {
			p := []byte{byte(sent), byte(sent >> 8)}[:0]
			if sent%2 == 1 {
				p = []byte{byte(sent), byte(sent >> 8)}
			}
			before := s.Stats().InQueueFull
			s.Input(a1, a2, Append(nil, a1, a2, 1, 9, p), t0)
			if s.Stats().InQueueFull != before {
				break
			}
			sent++
		}
		if c.rx.n < 1<<15-rxMeta-1 || c.Pending() != sent {
			t.Fatalf("round %d: %d bytes, %d records queued, %d sent", round, c.rx.n, c.Pending(), sent)
		}
		for i := 0; i < sent; i++ {
			n, _, _, ok := c.RecvFrom(buf)
			want := []byte{}
			if i%2 == 1 {
				want = []byte{byte(i), byte(i >> 8)}
			}
			if !ok || !bytes.Equal(buf[:n], want) {
				t.Fatalf("round %d: datagram %d: %x, %v", round, i, buf[:n], ok)
			}
		}
		// The send queue, full the same way.
		k := 0
		for c.SendTo(a1, 7, make([]byte, 100)) == nil {
			k++
		}
		if k != (1<<15)/(txMeta+100) {
			t.Fatalf("round %d: %d datagrams of 100 bytes fit the send queue", round, k)
		}
		out := make([]byte, 200)
		for i := 0; i < k; i++ {
			if n, _ := s.Output(out, a2, t0); n != HeaderLen+100 {
				t.Fatalf("round %d: output %d: %d bytes", round, i, n)
			}
		}
		if n, _ := s.Output(out, a2, t0); n != 0 {
			t.Fatalf("round %d: %d bytes after the queue drained", round, n)
		}
	}
}

// TestTableLentPerQuery: a one-socket stack (the card's) holds no socket
// table while no socket is bound; Bind lends it (one allocation with its
// socket, then the receive queue), the last Close with the send queue
// drained releases it. A datagram for the port with no query pending (a
// late or spoofed DNS answer) is dropped and counted (InNoPort) without
// lending anything, and a query survives Shed.
func TestTableLentPerQuery(t *testing.T) {
	s := NewStack(Config{MaxSockets: 1, QueueBytes: 520, SendBytes: 300})
	if s.Lent() != 0 || s.t != nil {
		t.Fatalf("idle stack lends %d", s.Lent())
	}
	late := Append(nil, a1, a2, 53, 50000, []byte("late answer"))
	if s.Input(a1, a2, late, t0) || s.Stats().InNoPort != 1 || s.Lent() != 0 {
		t.Fatalf("answer with nothing pending: %+v, lent %d", s.Stats(), s.Lent())
	}
	if s.Shed() != 0 {
		t.Fatal("an idle stack shed something")
	}
	c, err := s.Bind(50000)
	if err != nil || s.Lent() != TableBytes(1)+520 {
		t.Fatalf("Bind: %v, lent %d", err, s.Lent())
	}
	if _, err := s.Bind(50001); err != ErrNoSockets {
		t.Fatalf("second Bind: %v", err)
	}
	if err := c.SendTo(a1, 53, []byte("query")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	s.Output(buf, a2, t0)
	// Shed in the middle of the query: the queues go, the table and the
	// socket stay, and the answer still arrives.
	if n := s.Shed(); n != 520+300 || s.Lent() != TableBytes(1) {
		t.Fatalf("Shed released %d, lent %d", n, s.Lent())
	}
	if !s.Input(a1, a2, late, t0) {
		t.Fatal("answer refused during the query")
	}
	if n, _, _, ok := c.RecvFrom(buf); !ok || string(buf[:n]) != "late answer" {
		t.Fatal("answer lost after Shed")
	}
	c.Close()
	if s.Lent() != 0 || s.t != nil {
		t.Fatalf("after Close: lent %d", s.Lent())
	}
	if c.SendTo(a1, 53, []byte("x")) != ErrClosed {
		t.Fatal("closed socket sent")
	}
	// A closed socket's send still drains, then the table goes.
	c, _ = s.Bind(0)
	c.SendTo(a1, 53, []byte("q"))
	c.Close()
	if s.t == nil {
		t.Fatal("table released with a datagram queued")
	}
	if n, _ := s.Output(buf, a2, t0); n != HeaderLen+1 || s.t != nil {
		t.Fatalf("output %d, table still lent", n)
	}
	allocs := testing.AllocsPerRun(100, func() {
		c, _ := s.Bind(4000)
		c.SendTo(a1, 53, []byte("query"))
		s.Output(buf, a2, t0)
		c.Close()
	})
	if allocs != 3 {
		t.Fatalf("%v allocations per query, want 3 (table, receive and send queues)", allocs)
	}
}
