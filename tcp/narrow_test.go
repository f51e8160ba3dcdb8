package tcp

import (
	"math"
	"testing"
	"time"

	"netcard/ipv6"
)

// TestUsec: the RTT estimators' microsecond type clamps instead of
// wrapping, and a positive duration below a microsecond is one (0 means no
// sample: SRTT must not fall back to it after a sub-µs sample).
func TestUsec(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want usec
	}{
		{0, 0}, {1, 1}, {999, 1}, {time.Microsecond, 1}, {1500 * time.Nanosecond, 1},
		{time.Second, 1_000_000}, {-time.Second, -1_000_000},
		{time.Hour, math.MaxInt32}, {-time.Hour, math.MinInt32},
	} {
		if got := usOf(c.d); got != c.want {
			t.Errorf("usOf(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if usOf(60*time.Second).d() != 60*time.Second {
		t.Error("60 s does not round-trip")
	}
	s := NewStack(testConfig(1))
	c := &s.conns[0]
	c.init(ipv6.From4(addrA), ipv6.From4(addrB), 1, 2, time.Unix(1, 0))
	for i := 0; i < 100; i++ {
		c.rttSample(time.Nanosecond)
		if c.srtt == 0 || c.SRTT() <= 0 {
			t.Fatalf("sample %d: SRTT %v after a 1 ns sample", i, c.SRTT())
		}
	}
	if c.rto.d() != s.cfg.MinRTO {
		t.Fatalf("RTO %v, want MinRTO %v", c.rto.d(), s.cfg.MinRTO)
	}
}

// TestCountersSaturate: the 16-bit counters a peer drives stop at
// MaxInt16: 40,000 duplicate ACKs leave dupAcks there, not negative (a
// wrapped count would re-enter limited transmit and fast retransmit).
func TestCountersSaturate(t *testing.T) {
	var c int16
	for i := 0; i < 40000; i++ {
		inc16(&c)
	}
	if c != math.MaxInt16 {
		t.Fatalf("counter %d after 40,000 increments", c)
	}
	s := NewStack(testConfig(1))
	cn := &s.conns[0]
	cn.init(ipv6.From4(addrA), ipv6.From4(addrB), 1, 2, time.Unix(1, 0))
	cn.inRecovery = true
	for i := 0; i < 40000; i++ {
		cn.dupAck()
	}
	if cn.dupAcks != math.MaxInt16 {
		t.Fatalf("dupAcks %d after 40,000 duplicate ACKs", cn.dupAcks)
	}
}

// TestBornOrderWraps: the oldest half-open connection is found by creation
// order modulo 2^32, across the counter's wrap.
func TestBornOrderWraps(t *testing.T) {
	s := NewStack(testConfig(3))
	l, err := s.Listen(80, 3)
	if err != nil {
		t.Fatal(err)
	}
	s.born = math.MaxUint32 - 1
	var cs []*Conn
	for i := range 3 {
		c := &s.conns[i]
		c.init(ipv6.From4(addrB), ipv6.From4(addrA), 80, uint16(1000+i), time.Unix(1, 0))
		c.state, c.passive, c.inUse = SynReceived, true, true
		l.add(c)
		cs = append(cs, c)
	}
	if cs[0].born != math.MaxUint32 || cs[1].born != 0 || cs[2].born != 1 {
		t.Fatalf("born %d %d %d", cs[0].born, cs[1].born, cs[2].born)
	}
	if old := l.oldestHalfOpen(); old != cs[0] {
		t.Fatalf("oldest half-open: port %d, want %d", old.rport, cs[0].rport)
	}
	// The backlog is accepted in the same order, across the wrap.
	for _, c := range cs {
		c.state = Established
	}
	for i := range cs {
		if c := l.Accept(); c != cs[i] || l.Pending() != 2-i {
			t.Fatalf("accept %d: %v, pending %d", i, c, l.Pending())
		}
	}
	if l.Accept() != nil {
		t.Fatal("accepted from an empty backlog")
	}
}

// TestChallengeSecond: the challenge-ACK budget's second is kept in
// milliseconds mod 2^32: spent within a second, renewed at the second's
// end, renewed when the clock goes back, and at a UnixMilli of 0 mod 2^32.
func TestChallengeSecond(t *testing.T) {
	cfg := testConfig(1)
	cfg.ChallengeACKLimit = 2
	s := NewStack(cfg)
	c := &s.conns[0]
	c.init(ipv6.From4(addrA), ipv6.From4(addrB), 1, 2, time.Unix(1, 0))
	t0 := time.UnixMilli(5_000_000)
	ok := func(at time.Time) bool { return c.challengeOK(at) }
	if !ok(t0) || !ok(t0.Add(500*time.Millisecond)) || ok(t0.Add(999*time.Millisecond)) {
		t.Fatal("budget of 2 within one second")
	}
	t1 := t0.Add(time.Second)
	if a, b, c := ok(t1), ok(t1.Add(time.Millisecond)), ok(t0.Add(1500*time.Millisecond)); !a || !b || c {
		t.Fatal("budget not renewed at the second's end")
	}
	if !ok(t0.Add(-time.Hour)) {
		t.Fatal("budget not renewed when the clock went back")
	}
	z := time.UnixMilli(1 << 32) // 0 mod 2^32
	c.chalAt, c.chalN = 0, 0
	if a, b, c := ok(z), ok(z.Add(time.Millisecond)), ok(z.Add(2*time.Millisecond)); !a || !b || c {
		t.Fatal("budget at 0 mod 2^32 ms")
	}
}
