package tcp

import (
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
