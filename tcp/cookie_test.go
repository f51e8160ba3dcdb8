package tcp

import (
	"testing"
	"time"
)

// TestSynCookies: with the backlog full of half-open connections a SYN gets
// a stateless SYN-ACK (RFC 4987); a forged, stale or wrong ACK gets a RST;
// the right ACK — here carrying data, as when the bare ACK was lost — opens
// the connection, data included, in place of the oldest half-open one.
func TestSynCookies(t *testing.T) {
	s := NewStack(testConfig(1))
	l, err := s.Listen(80, 2)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	for i := 0; i < 2; i++ {
		src := addrA
		src[3] = byte(100 + i)
		s.Input(src, addrB, craft(src, addrB, uint16(1000+i), 80, 1, 0, FlagSYN, 1000, nil), now)
	}
	if n := len(drain(s, addrB, now)); n != 2 || l.Pending() != 2 {
		t.Fatalf("%d SYN-ACKs, %d pending", n, l.Pending())
	}
	cl := addrA
	cl[3] = 7
	s.Input(cl, addrB, craft(cl, addrB, 5555, 80, 1000, 0, FlagSYN, 4000, nil), now)
	out := drain(s, addrB, now)
	if len(out) != 1 || out[0].Flags != FlagSYN|FlagACK || out[0].Ack != 1001 || out[0].MSS == 0 || l.Pending() != 2 {
		t.Fatalf("cookie SYN-ACK: %+v, pending %d", out, l.Pending())
	}
	cookie := out[0].Seq
	if st := s.Stats(); st.SynCookiesSent != 1 || st.RSTsOut != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, bad := range []struct {
		name     string
		seq, ack uint32
		port     uint16
		at       time.Time
	}{
		{"wrong cookie", 1001, cookie + 2, 5555, now},
		{"wrong peer ISN", 1002, cookie + 1, 5555, now},
		{"wrong port", 1001, cookie + 1, 5556, now},
		{"stale", 1001, cookie + 1, 5555, now.Add(3 * cookieSlot * time.Second)},
	} {
		s.Input(cl, addrB, craft(cl, addrB, bad.port, 80, bad.seq, bad.ack, FlagACK, 4000, nil), bad.at)
		out := drain(s, addrB, bad.at)
		if len(out) != 1 || out[0].Flags&FlagRST == 0 {
			t.Fatalf("%s: %+v", bad.name, out)
		}
	}
	// The stale ACK came when no cookie had been sent for two slots: refused
	// without a check.
	if st := s.Stats(); st.SynCookiesBad != 3 || st.SynCookiesOK != 0 {
		t.Fatalf("stats %+v", st)
	}
	later := now.Add(cookieSlot * time.Second) // the previous slot is still valid
	s.Input(cl, addrB, craft(cl, addrB, 5555, 80, 1001, cookie+1, FlagACK|FlagPSH, 4000, []byte("hello")), later)
	var c *Conn
	for c = l.Accept(); c != nil; c = l.Accept() {
		if r, _ := c.Remote(); r == cl {
			break
		}
	}
	if c == nil || c.State() != Established || string(c.Peek()) != "hello" {
		t.Fatalf("cookie connection: %+v", c)
	}
	if st := s.Stats(); st.SynCookiesOK != 1 || l.Pending() > 2 {
		t.Fatalf("stats %+v, pending %d", st, l.Pending())
	}
	later = later.Add(300 * time.Millisecond) // the delayed ACK
	s.Poll(later)
	out = drain(s, addrB, later)
	acked := false
	for _, h := range out {
		acked = acked || (h.DstPort == 5555 && h.Ack == 1006)
	}
	if !acked {
		t.Fatalf("no ACK of the data: %+v", out)
	}
	if c.Write([]byte("world")) != 5 {
		t.Fatal("cannot write")
	}
	out = drain(s, addrB, later)
	if len(out) == 0 || out[0].DstPort != 5555 || out[0].Seq != cookie+1 {
		t.Fatalf("data not sent from the cookie's sequence: %+v", out)
	}
}

// TestRTOCollapsesAfterProgress: after timeouts backed the RTO off, an ACK
// of new data brings it back to the estimate even without a new RTT sample
// (Karn's rule gives none for a retransmitted segment); otherwise heavy
// loss ratchets it up to MaxRTO and the user timeout kills a live
// connection.
func TestRTOCollapsesAfterProgress(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	for i := 0; i < 4; i++ { // an RTT estimate
		c.Write(make([]byte, 1000))
		want := 1000 * (i + 1)
		w.run(func() bool { return len(sc.Peek()) == want && c.Queued() == 0 }, 5*time.Second)
	}
	base := c.rto
	drops := 0
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 0 && len(p) > 0 && drops < 4 {
			drops++
			return true
		}
		return false
	}
	c.Write(make([]byte, 500))
	w.run(func() bool { return len(sc.Peek()) == 4500 && c.Queued() == 0 }, 60*time.Second)
	if drops != 4 || c.backoff != 0 {
		t.Fatalf("drops %d, backoff %d", drops, c.backoff)
	}
	if c.rto > 2*base {
		t.Fatalf("RTO %v after progress; %v before the timeouts", c.rto, base)
	}
}

// TestSynCookieAllocs: answering a SYN flood with cookies allocates nothing.
func TestSynCookieAllocs(t *testing.T) {
	s := NewStack(testConfig(1))
	if _, err := s.Listen(80, 2); err != nil {
		t.Fatal(err)
	}
	var buf [1500]byte
	segs := make([][]byte, 64)
	for i := range segs {
		src := addrA
		src[3] = byte(i)
		segs[i] = craft(src, addrB, uint16(1000+i), 80, uint32(i), 0, FlagSYN, 1000, nil)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		src := addrA
		src[3] = byte(i % 64)
		s.Input(src, addrB, segs[i%64], t0)
		i++
		for n, _ := s.Output(buf[:], addrB, t0); n > 0; n, _ = s.Output(buf[:], addrB, t0) {
		}
	})
	if allocs != 0 || s.Stats().SynCookiesSent < 900 {
		t.Fatalf("%v allocs per SYN; %+v", allocs, s.Stats())
	}
}
