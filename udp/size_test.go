package udp

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"unsafe"
)

// TestStackSize holds the Stack and a Socket to the allocator classes the
// narrow counters and rings bought (128 and 48 bytes, from 192 and 64).
func TestStackSize(t *testing.T) {
	if n := unsafe.Sizeof(Stack{}); n > 128 {
		t.Errorf("Stack is %d bytes, want ≤ 128", n)
	}
	if n := unsafe.Sizeof(Socket{}); n > 48 {
		t.Errorf("Socket is %d bytes, want ≤ 48", n)
	}
}

// TestStatsWiden checks that every counter of Stats is kept and widened,
// and that one wraps modulo 2^32.
func TestStatsWiden(t *testing.T) {
	wide, narrow := reflect.TypeOf(Stats{}), reflect.TypeOf(stats32{})
	if wide.NumField() != narrow.NumField() {
		t.Fatalf("Stats has %d counters, the Stack keeps %d", wide.NumField(), narrow.NumField())
	}
	var c stats32
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		if wide.Field(i).Name != narrow.Field(i).Name {
			t.Fatalf("counter %d: %s kept as %s", i, wide.Field(i).Name, narrow.Field(i).Name)
		}
		v.Field(i).SetUint(uint64(1000 + i))
	}
	got := reflect.ValueOf(c.export())
	for i := 0; i < got.NumField(); i++ {
		if got.Field(i).Uint() != uint64(1000+i) {
			t.Errorf("%s = %d, want %d", wide.Field(i).Name, got.Field(i).Uint(), 1000+i)
		}
	}
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
