package tcp

import (
	"bytes"
	"testing"
	"time"
)

func TestUserTimeout(t *testing.T) {
	a := testConfig(1)
	a.UserTimeout = 10 * time.Second
	w := newWire(t, a, testConfig(2), 1)
	c, _, _ := w.connect(80)
	w.drop = func(int, Header, []byte) bool { return true } // the peer vanishes
	c.Write([]byte("anyone there?"))
	start := w.now
	w.run(func() bool { return c.Err() != nil }, time.Minute)
	if c.Err() != ErrTimeout {
		t.Fatalf("err %v", c.Err())
	}
	if d := w.now.Sub(start); d < 10*time.Second || d > 40*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	st := w.stacks[0].Stats()
	if st.ConnsTimedOut != 1 || st.Timeouts < 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSynTimeout(t *testing.T) {
	a := testConfig(1)
	a.UserTimeout = 5 * time.Second
	w := newWire(t, a, testConfig(2), 1)
	w.drop = func(int, Header, []byte) bool { return true }
	c, _ := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	w.run(func() bool { return c.Err() != nil }, time.Minute)
	if c.Err() != ErrTimeout {
		t.Fatalf("err %v", c.Err())
	}
}

func TestKeepAlive(t *testing.T) {
	a := testConfig(1)
	a.KeepAlive, a.KeepAliveInterval, a.KeepAliveCount = 10*time.Second, time.Second, 3
	w := newWire(t, a, testConfig(2), 1)
	c, sc, _ := w.connect(80)
	// an idle but live peer answers the probes: the connection stays up
	w.settle(65 * time.Second)
	if c.State() != Established || c.Err() != nil || sc.State() != Established {
		t.Fatalf("live idle connection: %v %v", c.State(), c.Err())
	}
	if w.sent[0] < 6 {
		t.Fatalf("only %d segments: no keepalive probes", w.sent[0])
	}
	// the peer disappears
	w.drop = func(int, Header, []byte) bool { return true }
	start := w.now
	w.run(func() bool { return c.Err() != nil }, time.Minute)
	if c.Err() != ErrTimeout {
		t.Fatalf("err %v", c.Err())
	}
	if d := w.now.Sub(start); d > 15*time.Second {
		t.Fatalf("dead peer detected after %v", d)
	}
}

func TestKeepAliveOffByDefault(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, _, _ := w.connect(80)
	n := w.sent[0]
	w.settle(time.Hour)
	if w.sent[0] != n || c.State() != Established {
		t.Fatalf("idle connection sent %d segments, state %v", w.sent[0]-n, c.State())
	}
}

func TestTimeWaitRecycled(t *testing.T) {
	a := testConfig(1)
	a.MaxConns = 1
	a.TimeWait = time.Hour
	w := newWire(t, a, testConfig(2), 1)
	c, sc, _ := w.connect(80)
	c.Close()
	w.run(func() bool { return sc.EOF() }, time.Second)
	sc.Close()
	w.run(func() bool { return c.State() == TimeWait && !sc.inUse }, time.Second)
	c2, err := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	if err != nil {
		t.Fatal(err)
	}
	if w.stacks[0].Stats().SlotsRecycled != 1 {
		t.Fatal("TIME-WAIT slot not recycled")
	}
	w.run(func() bool { return c2.State() == Established }, time.Second)
	if _, err := w.stacks[0].Dial(addrA, addrB, 80, w.now); err != ErrNoSlot {
		t.Fatalf("dial with no slot: %v", err)
	}
}

func TestListenerClose(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, _, l := w.connect(80)
	c2, _ := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	w.run(func() bool { return c2.State() == Established && l.Pending() == 1 }, time.Second)
	l.Close()
	w.run(func() bool { return c2.Err() != nil }, time.Second)
	if c2.Err() != ErrReset || c.State() != Established {
		t.Fatalf("c2 %v, c %v", c2.Err(), c.State())
	}
	if _, err := w.stacks[1].Listen(80, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.stacks[1].Listen(80, 1); err != ErrPortInUse {
		t.Fatal(err)
	}
}

// TestSmallWrites checks that Nagle with delayed ACKs does not degrade into
// stop-and-wait: 200 small writes of 100 bytes, one per millisecond.
func TestSmallWrites(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	msg := make([]byte, 100)
	writes, got := 0, 0
	next := w.now
	w.apps = append(w.apps, func() {
		if writes < 200 && !w.now.Before(next) {
			c.Write(msg)
			writes++
			next = w.now.Add(time.Millisecond)
		}
		got += len(sc.Peek())
		sc.Consume(len(sc.Peek()))
	})
	start := w.now
	w.wake = func() time.Time {
		if writes < 200 {
			return next
		}
		return time.Time{}
	}
	w.run(func() bool { return got == 200*100 }, 10*time.Second)
	t.Logf("200 writes of 100 bytes: %v, %d segments", w.now.Sub(start), w.sent[0])
	if d := w.now.Sub(start); d > 400*time.Millisecond {
		t.Fatalf("200 small writes took %v", d)
	}
	if w.sent[0] > 120 {
		t.Fatalf("%d segments for 200 writes: Nagle not coalescing", w.sent[0])
	}
}

// TestTimeWaitReopen: a client reusing its port reaches a server whose end
// of the previous connection is still in TIME-WAIT.
func TestTimeWaitReopen(t *testing.T) {
	b := testConfig(2)
	b.TimeWait = time.Hour
	w := newWire(t, testConfig(1), b, 1)
	c, sc, l := w.connect(80)
	lport := c.lport
	sc.Close() // the server closes first (HTTP/1.0 style) and ends in TIME-WAIT
	w.run(func() bool { return c.EOF() }, time.Second)
	c.Close()
	w.run(func() bool { return sc.State() == TimeWait && !c.inUse }, time.Second)
	// reconnect from the same port
	c2 := w.stacks[0].alloc(false)
	c2.init(m4(addrA), m4(addrB), lport, 80, w.now.Add(time.Second)) // later clock: higher ISN
	c2.state = SynSent
	var sc2 *Conn
	w.run(func() bool { sc2 = l.Accept(); return sc2 != nil && c2.State() == Established }, 500*time.Millisecond)
	if st := w.stacks[1].Stats(); st.SlotsRecycled != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPollBeforeOutput: a caller that computes its sleep with Poll before
// draining Output (as card.Runner does) must still wake up for the
// retransmission timer that Output arms.
func TestPollBeforeOutput(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, _, _ := w.connect(80)
	w.settle(time.Second)
	s := w.stacks[0]
	c.Write([]byte("data"))
	next := s.Poll(w.now)
	if next.IsZero() {
		t.Fatal("no deadline announced for data waiting to be sent")
	}
	var buf [1500]byte
	if n, _ := s.Output(buf[:], addrA, w.now); n == 0 { // sent, then lost
		t.Fatal("nothing sent")
	}
	if real := s.Poll(w.now); next.After(real) {
		t.Fatalf("announced %v, retransmission due %v", next.Sub(w.now), real.Sub(w.now))
	}
}

// TestZeroWindowAfterLoss: data in flight is lost while the peer closes its
// window; after the retransmission timeout nothing may be sent, and the
// persist timer (not a stall) must take over until the window reopens.
func TestZeroWindowAfterLoss(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	w.drop = func(from int, h Header, p []byte) bool { return from == 0 } // c's data is lost
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i)
	}
	c.Write(data)
	w.step()
	if c.sndMax == c.sndUna {
		t.Fatal("nothing in flight")
	}
	// the peer acknowledges nothing new and closes its window
	s := w.stacks[0]
	s.Input(addrB, addrA, craft(addrB, addrA, 80, c.lport, sc.sndMax, c.sndUna, FlagACK, 0, nil), w.now)
	if c.sndWnd != 0 {
		t.Fatal("window not closed")
	}
	w.settle(10 * time.Second) // RTOs, then persist probes (all lost)
	if c.Err() != nil || c.persistAt == 0 {
		t.Fatalf("err %v, persist timer %v", c.Err(), c.persistAt)
	}
	w.drop = nil
	w.run(func() bool { return len(sc.Peek()) == len(data) }, 2*time.Minute)
	if !bytes.Equal(sc.Peek(), data) {
		t.Fatal("mismatch")
	}
}
