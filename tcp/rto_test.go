package tcp

import (
	"bytes"
	"testing"
	"time"

	"netcard/ipv4"
)

// serialLine connects two stacks over a full-duplex serial line: a stack
// hands over its next segment only when its direction of the line is idle
// (as a PPP link pulls packets), the segment then takes its bytes plus
// framing at baud (10 bits a byte) to send, and arrives whole when its last
// byte is through. Time spent sending a segment counts in its RTT.
type serialLine struct {
	t        testing.TB
	now      time.Time
	stacks   [2]*Stack
	addrs    [2]ipv4.Addr
	baud     int
	overhead int          // framing bytes per segment: IPv4 header and PPP
	busy     [2]time.Time // direction i sends until then
	flight   [2][]packet  // segments on the line, in order
	buf      [1500]byte
	// drop, if set, loses a segment (it still takes its time on the line).
	drop func(from int, h Header) bool
}

func newSerialLine(t testing.TB, a, b Config, baud int) *serialLine {
	return &serialLine{
		t: t, now: t0, baud: baud, overhead: 28,
		stacks: [2]*Stack{NewStack(a), NewStack(b)},
		addrs:  [2]ipv4.Addr{addrA, addrB},
	}
}

// wireTime is how long n segment bytes take on the line.
func (l *serialLine) wireTime(n int) time.Duration {
	return time.Duration(int64(n+l.overhead) * 10 * int64(time.Second) / int64(l.baud))
}

func (l *serialLine) step() bool {
	progress := false
	for i, s := range l.stacks {
		s.Poll(l.now)
		if l.busy[i].After(l.now) {
			continue
		}
		n, _ := s.Output(l.buf[:], l.addrs[i], l.now)
		if n == 0 {
			continue
		}
		l.busy[i] = l.now.Add(l.wireTime(n))
		h, err := ParseHeader(l.buf[:n])
		if err != nil {
			l.t.Fatalf("stack %d sent a malformed segment: %v", i, err)
		}
		if l.drop == nil || !l.drop(i, h) {
			l.flight[i] = append(l.flight[i], packet{at: l.busy[i], data: append([]byte(nil), l.buf[:n]...)})
		}
		progress = true
	}
	for i := range l.flight {
		for len(l.flight[i]) > 0 && !l.flight[i][0].at.After(l.now) {
			p := l.flight[i][0]
			l.flight[i] = l.flight[i][1:]
			l.stacks[1-i].Input(l.addrs[i], l.addrs[1-i], p.data, l.now)
			progress = true
		}
	}
	return progress
}

func (l *serialLine) advance() bool {
	var next time.Time
	later := func(t time.Time) {
		if t.After(l.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for i, s := range l.stacks {
		later(s.Poll(l.now))
		later(l.busy[i])
		if len(l.flight[i]) > 0 {
			later(l.flight[i][0].at)
		}
	}
	if next.IsZero() {
		return false
	}
	l.now = next
	return true
}

func (l *serialLine) run(cond func() bool, limit time.Duration) {
	l.t.Helper()
	end := l.now.Add(limit)
	for !cond() {
		if l.now.After(end) {
			l.t.Fatalf("condition not reached after %v (virtual)", l.now.Sub(t0))
		}
		if !l.step() && !cond() && !l.advance() {
			l.t.Fatalf("stalled at %v", l.now.Sub(t0))
		}
	}
}

// connect dials from stack 0 to a listener on stack 1.
func (l *serialLine) connect(port uint16) (*Conn, *Conn) {
	l.t.Helper()
	ls, err := l.stacks[1].Listen(port, 1)
	if err != nil {
		l.t.Fatal(err)
	}
	c, err := l.stacks[0].Dial(addrA, addrB, port, l.now)
	if err != nil {
		l.t.Fatal(err)
	}
	var sc *Conn
	l.run(func() bool {
		if sc == nil {
			sc = ls.Accept()
		}
		return sc != nil && c.State() == Established
	}, time.Minute)
	return c, sc
}

// rfcConfig is testConfig with the RFC 6298 timer defaults (1 s initial
// and minimum RTO).
func rfcConfig(seed int64) Config {
	cfg := testConfig(seed)
	cfg.MinRTO, cfg.InitialRTO = 0, 0
	return cfg
}

// TestSlowLineNoSpuriousRetransmit: on a serial line where one full
// segment takes longer to send than the 1 s minimum RTO (1.56 s at 9600
// baud), the first full segment may time out (the handshake measured an
// RTT of a few small segments), but once the backed-off RTO lets a segment
// be timed, nothing more goes twice and the transfer runs at line rate.
// It used to send every segment twice: each timeout doubled the RTO, the
// ACK of the original (arriving after the retransmission had started)
// collapsed it back to 1 s, and Karn's rule left no RTT sample to learn
// from.
func TestSlowLineNoSpuriousRetransmit(t *testing.T) {
	const size = 32 << 10
	for _, baud := range []int{2400, 4800, 9600, 14400, 19200, 115200} {
		l := newSerialLine(t, rfcConfig(1), rfcConfig(2), baud)
		c, sc := l.connect(443)
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		start := l.now
		sent, got := 0, 0
		l.run(func() bool {
			sent += sc.Write(data[sent:])
			got += c.Read(make([]byte, 4096))
			return got == size
		}, time.Hour)
		took := l.now.Sub(start)
		st := l.stacks[1].Stats()
		seg := l.wireTime(HeaderLen + 1460)
		line := time.Duration(size/1460) * seg
		t.Logf("%6d baud: %v for %d B (line time %v, ratio %.3f), %d retransmissions, %d timeouts; SRTT %v RTO %v",
			baud, took.Round(time.Millisecond), size, line.Round(time.Millisecond), float64(took)/float64(line),
			st.Retransmits, st.Timeouts, sc.srtt.d().Round(time.Millisecond), sc.rto.d().Round(time.Millisecond))
		// Only the first full segment may time out: once per doubling
		// the 1 s RTO needs to outlast the segment's line time.
		k := 0
		for time.Second<<k <= seg {
			k++
		}
		if st.Retransmits > uint64(k) || st.Timeouts > uint64(k) {
			t.Errorf("%d baud: %d retransmissions, %d timeouts on a lossless line; at most %d", baud, st.Retransmits, st.Timeouts, k)
		}
		if float64(took) > 1.2*float64(line) {
			t.Errorf("%d baud: %v for %v of line time", baud, took, line)
		}
		if sc.rto.d() <= seg {
			t.Errorf("%d baud: RTO %v below one segment's line time %v", baud, sc.rto.d(), seg)
		}
	}
}

// TestSpuriousTimeoutKeepsBackoff follows one spurious timeout at 9600
// baud step by step (RFC 6298 §3 and §5, Karn): the ACK of a retransmitted
// segment gives no RTT sample, and the backed-off RTO stays until a
// segment sent once is timed.
func TestSpuriousTimeoutKeepsBackoff(t *testing.T) {
	l := newSerialLine(t, rfcConfig(1), rfcConfig(2), 9600)
	c, sc := l.connect(443)
	srtt0, rto0 := sc.srtt.d(), sc.rto.d()
	if srtt0 == 0 || rto0 != time.Second {
		t.Fatalf("after the handshake: SRTT %v RTO %v, want a sample and 1 s", srtt0, rto0)
	}
	seg := bytes.Repeat([]byte{'x'}, 1460)
	sc.Write(seg) // 1.56 s on the line: the 1 s timer expires first
	l.run(func() bool { return l.stacks[1].Stats().Timeouts == 1 }, 10*time.Second)
	if sc.rto.d() != 2*rto0 {
		t.Fatalf("RTO after the timeout %v, want %v", sc.rto.d(), 2*rto0)
	}
	l.run(func() bool { return sc.sndUna == sc.sndMax }, 10*time.Second)
	if st := l.stacks[1].Stats(); st.Retransmits != 1 {
		t.Fatalf("%d retransmissions, want 1", st.Retransmits)
	}
	if sc.srtt.d() != srtt0 {
		t.Fatalf("SRTT %v → %v: sampled a retransmitted segment (Karn)", srtt0, sc.srtt.d())
	}
	if sc.rto.d() != 2*rto0 {
		t.Fatalf("RTO %v after the original's late ACK, want the backed-off %v", sc.rto.d(), 2*rto0)
	}
	c.Read(make([]byte, 2048))
	sc.Write(seg) // sent once: timed, acknowledged before the 2 s timer
	l.run(func() bool { return sc.Queued() == 0 }, 10*time.Second)
	if st := l.stacks[1].Stats(); st.Retransmits != 1 || st.Timeouts != 1 {
		t.Fatalf("second segment: %d retransmissions, %d timeouts", st.Retransmits, st.Timeouts)
	}
	if sc.srtt.d() == srtt0 || sc.rto.d() != sc.rtoEstimate() || sc.rto.d() <= l.wireTime(HeaderLen+1460) {
		t.Fatalf("after a valid sample: SRTT %v RTO %v (estimate %v)", sc.srtt.d(), sc.rto.d(), sc.rtoEstimate())
	}
}

// lossyStart connects over the delay-line harness, warms the RTT estimate
// up, and loses the first n transmissions of the next data c sends.
func lossyStart(t *testing.T, n int) (*wire, *Conn, *Conn) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	c.Write([]byte("warm up"))
	w.run(func() bool { return len(sc.Peek()) == 7 && c.Queued() == 0 }, 5*time.Second)
	sc.Consume(7)
	if c.srtt.d() == 0 || c.rto.d() != c.rtoEstimate() {
		t.Fatalf("SRTT %v RTO %v", c.srtt.d(), c.rto.d())
	}
	lost := 0
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 0 && len(p) > 0 && lost < n {
			lost++
			return true
		}
		return false
	}
	return w, c, sc
}

// TestBackoffAfterLoss: the ACK of a retransmitted segment keeps the
// backed-off RTO (Karn); the next segment sent once, timed, brings it back
// to the estimate's.
func TestBackoffAfterLoss(t *testing.T) {
	w, c, _ := lossyStart(t, 1)
	est, srtt := c.rto.d(), c.srtt.d()
	c.Write([]byte("lost once"))
	w.run(func() bool { return c.Queued() == 0 }, 10*time.Second)
	if st := w.stacks[0].Stats(); st.Timeouts != 1 || st.Retransmits != 1 {
		t.Fatalf("stats %+v", st)
	}
	if c.rto.d() != 2*est || c.srtt.d() != srtt {
		t.Fatalf("after the retransmission's ACK: RTO %v SRTT %v, want %v and %v unchanged", c.rto.d(), c.srtt.d(), 2*est, srtt)
	}
	c.Write([]byte("sent once"))
	w.run(func() bool { return c.Queued() == 0 }, 10*time.Second)
	if c.rto.d() != c.rtoEstimate() || c.rto.d() >= 2*est {
		t.Fatalf("after a valid sample: RTO %v, estimate %v", c.rto.d(), c.rtoEstimate())
	}
}

// TestBackoffRatchetBounded: once the backoff goes beyond rtoKeepMax times
// the estimate, the retransmission's ACK ends it: heavy loss must not
// ratchet the RTO up to MaxRTO while the connection makes progress.
func TestBackoffRatchetBounded(t *testing.T) {
	for _, lost := range []int{3, 4} {
		w, c, _ := lossyStart(t, lost)
		est := c.rto.d()
		c.Write([]byte("lost again and again"))
		w.run(func() bool { return w.stacks[0].Stats().Timeouts == uint64(lost) }, 10*time.Second)
		if c.rto.d() != est<<lost {
			t.Fatalf("RTO %v after %d timeouts, want %v", c.rto.d(), lost, est<<lost)
		}
		w.run(func() bool { return c.Queued() == 0 }, 10*time.Second)
		want := est << lost // kept: up to rtoKeepMax times the estimate
		if est<<lost > rtoKeepMax*est {
			want = est
		}
		if c.rto.d() != want {
			t.Fatalf("%d timeouts: RTO %v after the retransmission was acknowledged, want %v", lost, c.rto.d(), want)
		}
	}
}

// TestBackoffEndsBeyondHole: an ACK that covers data sent once, beyond the
// retransmitted hole, ends the backoff (RFC 8961 §4 (3a)).
func TestBackoffEndsBeyondHole(t *testing.T) {
	w, c, sc := lossyStart(t, 1)
	est := c.rto.d()
	lose := w.drop
	dupLost := false
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 1 && len(p) == 0 && !dupLost && len(sc.Peek()) == 0 {
			dupLost = true // the duplicate ACK: no early retransmit
			return true
		}
		return lose(from, h, p)
	}
	c.Write(bytes.Repeat([]byte{'a'}, 1460))
	w.step() // the first segment goes (and is lost) before the second is queued
	c.Write([]byte("tail"))
	w.run(func() bool { return c.Queued() == 0 }, 10*time.Second)
	if st := w.stacks[0].Stats(); st.Timeouts != 1 || st.Retransmits != 1 {
		t.Fatalf("stats %+v (want one timeout, the tail not resent)", st)
	}
	if c.rto.d() != est || len(sc.Peek()) != 1464 {
		t.Fatalf("RTO %v, want %v; %d bytes received", c.rto.d(), est, len(sc.Peek()))
	}
}

// TestEarlyRetransmit: with two segments outstanding and nothing more to
// send, one duplicate ACK triggers fast retransmit (RFC 5827), not a
// timeout.
func TestEarlyRetransmit(t *testing.T) {
	w, c, sc := lossyStart(t, 1)
	c.Write(bytes.Repeat([]byte{'a'}, 1460))
	w.step()
	c.Write([]byte("tail"))
	w.run(func() bool { return len(sc.Peek()) == 1464 && c.Queued() == 0 }, 10*time.Second)
	if st := w.stacks[0].Stats(); st.FastRetransmits != 1 || st.Timeouts != 0 || st.Retransmits != 1 {
		t.Fatalf("stats %+v", st)
	}
}
