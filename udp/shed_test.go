package udp

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestShedIdle: a bound socket's empty receive queue and an empty send
// queue are released by Shed (a second Shed releases nothing); a queue
// holding a datagram stays; the socket keeps working after Shed.
func TestShedIdle(t *testing.T) {
	s := NewStack(Config{MaxSockets: 2, QueueBytes: 600, SendBytes: 300})
	if s.Shed() != 0 {
		t.Fatal("a new stack shed something")
	}
	c, _ := s.Bind(5353)
	c.SendTo(a1, 53, []byte("query"))
	buf := make([]byte, 100)
	// The send queue holds the query, the receive queue nothing.
	if n := s.Shed(); n != 600 || s.Footprint() != 300 {
		t.Fatalf("Shed with a datagram queued released %d (footprint %d)", n, s.Footprint())
	}
	s.Output(buf, a2, t0)
	if n := s.Shed(); n != 300 || s.Shed() != 0 || s.Footprint() != 0 {
		t.Fatalf("Shed after the send released %d", n)
	}
	// A datagram arriving lends the receive queue again; it is kept until read.
	s.Input(a1, a2, Append(nil, a1, a2, 53, 5353, []byte("answer")), t0)
	if n := s.Shed(); n != 0 {
		t.Fatalf("Shed with a datagram received released %d", n)
	}
	if n, _, _, ok := c.RecvFrom(buf); !ok || string(buf[:n]) != "answer" {
		t.Fatal("datagram lost")
	}
	if n := s.Shed(); n != 600 {
		t.Fatalf("Shed after reading released %d", n)
	}
	// Too big for the queue: refused without lending it.
	s.Input(a1, a2, Append(nil, a1, a2, 53, 5353, make([]byte, 600)), t0)
	if s.Footprint() != 0 || s.Stats().InQueueFull != 1 {
		t.Fatalf("oversized datagram: footprint %d, %+v", s.Footprint(), s.Stats())
	}
}

// udpRun is a seeded mix of sends, arrivals (some too big for the queue),
// reads and outputs on two sockets; with shed, the stack is shed between
// every call. It returns everything sent and read.
func udpRun(seed int64, shed bool) ([]byte, Stats, int) {
	s := NewStack(Config{MaxSockets: 2, QueueBytes: 600, SendBytes: 500})
	c1, _ := s.Bind(1000)
	c2, _ := s.Bind(2000)
	rng := rand.New(rand.NewSource(seed))
	var got []byte
	shedBytes := 0
	buf := make([]byte, 1500)
	for round := 0; round < 2000; round++ {
		if shed {
			shedBytes += s.Shed()
		}
		c := c1
		if rng.Intn(2) == 0 {
			c = c2
		}
		switch rng.Intn(4) {
		case 0:
			p := make([]byte, rng.Intn(300))
			rng.Read(p)
			if err := c.SendTo(a1, 53, p); err != nil {
				got = append(got, 'E')
			}
		case 1:
			p := make([]byte, rng.Intn(400))
			rng.Read(p)
			s.Input(a1, a2, Append(nil, a1, a2, 53, c.LocalPort(), p), t0)
		case 2:
			n, _, port, ok := c.RecvFrom(buf[:rng.Intn(400)])
			if ok {
				got = append(append(got, 'R', byte(port>>8), byte(port)), buf[:n]...)
			}
		default:
			n, _ := s.Output(buf, a2, t0)
			got = append(append(got, 'O'), buf[:n]...)
		}
	}
	return got, s.Stats(), shedBytes
}

// TestShedByteIdentical: the same seeded traffic, shed between every call
// or not, gives the same datagrams out, the same reads and the same
// counters.
func TestShedByteIdentical(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		o0, s0, _ := udpRun(seed, false)
		o1, s1, shed := udpRun(seed, true)
		if !bytes.Equal(o0, o1) || s0 != s1 || shed == 0 || s0.InQueueFull == 0 {
			t.Fatalf("seed %d: differs (%d vs %d bytes), shed %d\n%+v\n%+v", seed, len(o0), len(o1), shed, s0, s1)
		}
	}
}

// TestShedAllocsPerBurst: a query and its answer on a bound socket
// allocate nothing in the steady state, and two queues after a Shed.
func TestShedAllocsPerBurst(t *testing.T) {
	s := NewStack(Config{MaxSockets: 1, QueueBytes: 600, SendBytes: 300})
	c, _ := s.Bind(4000)
	d := Append(nil, a1, a2, 53, 4000, []byte("answer"))
	buf := make([]byte, 100)
	burst := func() {
		c.SendTo(a1, 53, []byte("query"))
		s.Output(buf, a2, t0)
		s.Input(a1, a2, d, t0)
		if _, _, _, ok := c.RecvFrom(buf); !ok {
			panic("not received")
		}
	}
	if a := testing.AllocsPerRun(100, burst); a != 0 {
		t.Fatalf("steady state: %v allocations", a)
	}
	if a := testing.AllocsPerRun(100, func() { s.Shed(); burst() }); a != 2 {
		t.Fatalf("after Shed: %v allocations, want 2", a)
	}
}
