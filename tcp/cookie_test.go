package tcp

import (
	"testing"
	"time"

	"netcard/ipv4"
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
		if r, _ := c.Remote(); r == m4(cl) {
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

// synBurst feeds a stack whose listener on port 80 has a backlog of 2
// bursts of burst spoofed SYNs, each burst with rsts stray ACKs to a closed
// port (each owed an RST) among them, and drains Output only after each
// burst, as the card's runner does when several reads arrive at once. It
// returns the SYN-ACKs and RSTs that went out.
func synBurst(s *Stack, rounds, burst, rsts int) (synAcks, rstOut int) {
	now := t0
	var buf [1500]byte
	k := 0
	for r := 0; r < rounds; r++ {
		syns, acks := burst, rsts
		for syns+acks > 0 {
			k++
			src := ipv4.Addr{198, 51, byte(k >> 8), byte(k)}
			if acks > 0 && (syns == 0 || k%2 == 0) {
				acks--
				s.Input(src, addrB, craft(src, addrB, uint16(1024+k), 81, uint32(k), 77, FlagACK, 1000, nil), now)
				continue
			}
			syns--
			s.Input(src, addrB, craft(src, addrB, uint16(1024+k), 80, uint32(k)*7919, 0, FlagSYN, 1000, nil), now)
		}
		for n, _ := s.Output(buf[:], addrB, now); n > 0; n, _ = s.Output(buf[:], addrB, now) {
			switch {
			case buf[13] == FlagSYN|FlagACK:
				synAcks++
			case buf[13]&FlagRST != 0:
				rstOut++
			}
		}
		now = now.Add(10 * time.Millisecond)
	}
	return synAcks, rstOut
}

// TestSynFloodBurstsAnswered: a SYN flood arriving in bursts at a full
// backlog is answered with a SYN-ACK for every SYN as long as a burst fits
// in the cookie queue, whatever number of RSTs is owed at the same time
// (they have their own queue); beyond that the excess is dropped and
// counted, and the RSTs still get out.
func TestSynFloodBurstsAnswered(t *testing.T) {
	const rounds = 100
	for _, tc := range []struct{ burst, rsts, dropped int }{
		{6, 0, 0}, {8, 0, 0}, {12, 0, 0}, {24, 4, 0}, {24, 20, 0},
		{cookieQueue, 12, 0}, {cookieQueue + 8, 4, rounds*8 - 2},
	} {
		s := NewStack(testConfig(1))
		if _, err := s.Listen(80, 2); err != nil {
			t.Fatal(err)
		}
		synAcks, rstOut := synBurst(s, rounds, tc.burst, tc.rsts)
		st := s.Stats()
		owed := rounds * tc.burst // 2 from the half-open connections, the rest cookies
		rstOwed, rstWant := rounds*tc.rsts, rounds*min(tc.rsts, rstQueue)
		t.Logf("bursts of %d SYNs + %d ACKs: SYN-ACKs owed %d, sent %d (%.1f%% dropped); RSTs owed %d, sent %d",
			tc.burst, tc.rsts, owed, synAcks, 100*float64(owed-synAcks)/float64(owed), rstOwed, rstOut)
		if synAcks != owed-tc.dropped || st.DropCookieQueue != uint64(tc.dropped) ||
			rstOut != rstWant || st.DropRSTQueue != uint64(tc.dropped+rstOwed-rstWant) {
			t.Errorf("bursts of %d SYNs + %d ACKs: %d SYN-ACKs sent of %d owed (%d cookies dropped, want %d); %d RSTs sent, want %d; stats %+v",
				tc.burst, tc.rsts, synAcks, owed, st.DropCookieQueue, tc.dropped, rstOut, rstWant, st)
		}
	}
}

// TestCookieAckWhenFull: an ACK with a valid SYN cookie that finds the
// backlog full of established connections is answered with RST by default
// and dropped silently with DropCookieAckWhenFull; with room again, its
// retransmission opens the connection.
func TestCookieAckWhenFull(t *testing.T) {
	for _, drop := range []bool{false, true} {
		cfg := testConfig(1)
		cfg.DropCookieAckWhenFull = drop
		s := NewStack(cfg)
		l, err := s.Listen(80, 2)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		// Two half-open connections fill the backlog; a third SYN gets a cookie.
		for i := 0; i < 2; i++ {
			src := ipv4.Addr{10, 0, 1, byte(i)}
			s.Input(src, addrB, craft(src, addrB, 2000, 80, 100, 0, FlagSYN, 1000, nil), now)
		}
		s.Input(addrA, addrB, craft(addrA, addrB, 5555, 80, 1000, 0, FlagSYN, 4000, nil), now)
		var cookie uint32
		for _, h := range drain(s, addrB, now) {
			if h.DstPort == 5555 && h.Flags == FlagSYN|FlagACK {
				cookie = h.Seq
			}
		}
		// Both half-open connections complete: the backlog is full of
		// established connections, none half-open to make room.
		for i := 0; i < 2; i++ {
			src := ipv4.Addr{10, 0, 1, byte(i)}
			c := s.lookup(m4(src), m4(addrB), 2000, 80)
			if c == nil {
				t.Fatal("no half-open connection")
			}
			s.Input(src, addrB, craft(src, addrB, 2000, 80, 101, c.iss+1, FlagACK, 1000, nil), now)
		}
		if l.Pending() != 2 || l.oldestHalfOpen() != nil {
			t.Fatalf("backlog: %d pending", l.Pending())
		}
		ack := craft(addrA, addrB, 5555, 80, 1001, cookie+1, FlagACK, 4000, nil)
		s.Input(addrA, addrB, ack, now)
		out := drain(s, addrB, now)
		st := s.Stats()
		if st.SynCookiesFull != 1 || st.SynCookiesBad != 0 || st.SynCookiesOK != 0 {
			t.Fatalf("drop=%v: stats %+v", drop, st)
		}
		if drop && len(out) != 0 || !drop && (len(out) != 1 || out[0].Flags != FlagRST || out[0].Seq != cookie+1) {
			t.Fatalf("drop=%v: answer to a valid cookie ACK with the backlog full: %+v", drop, out)
		}
		// Room again: the peer's retransmission opens the connection.
		if l.Accept() == nil {
			t.Fatal("nothing to accept")
		}
		now = now.Add(time.Second)
		s.Input(addrA, addrB, ack, now)
		if st := s.Stats(); st.SynCookiesOK != 1 || s.lookup(m4(addrA), m4(addrB), 5555, 80) == nil {
			t.Fatalf("drop=%v: retransmitted ACK did not open the connection: %+v", drop, st)
		}
	}
}

// TestCookieQueueDelay: when the line cannot keep up, SYN-ACKs that waited
// more than cookieMaxWait while more than cookieBacklog wait are dropped
// for the fresher ones; a few are sent however long they waited.
func TestCookieQueueDelay(t *testing.T) {
	s := NewStack(testConfig(1))
	if _, err := s.Listen(80, 1); err != nil {
		t.Fatal(err)
	}
	syn := func(k int, at time.Time) {
		src := ipv4.Addr{198, 51, 100, byte(k)}
		s.Input(src, addrB, craft(src, addrB, uint16(1024+k), 80, uint32(k), 0, FlagSYN, 1000, nil), at)
	}
	syn(200, t0) // a half-open connection fills the backlog: the rest get cookies
	if out := drain(s, addrB, t0); len(out) != 1 {
		t.Fatalf("SYN-ACK of the half-open connection: %+v", out)
	}
	const old, fresh = 10, 4
	for k := 0; k < old; k++ {
		syn(k, t0)
	}
	for k := old; k < old+fresh; k++ {
		syn(k, t0.Add(40*time.Millisecond))
	}
	// At 60 ms the old ones waited too long: dropped from the head until
	// cookieBacklog are left (old+fresh-cookieBacklog of them); the rest go.
	out := drain(s, addrB, t0.Add(60*time.Millisecond))
	dropped := old + fresh - cookieBacklog
	if len(out) != cookieBacklog || out[0].DstPort != uint16(1024+dropped) || out[len(out)-1].DstPort != 1024+old+fresh-1 {
		t.Fatalf("after a 60 ms wait: %+v", out)
	}
	if st := s.Stats(); st.DropCookieQueue != uint64(dropped) || st.SynCookiesSent != cookieBacklog {
		t.Fatalf("stats %+v", st)
	}
	// A few that waited a minute (the line busy) all go.
	for k := 100; k < 100+cookieBacklog; k++ {
		syn(k, t0)
	}
	if out := drain(s, addrB, t0.Add(time.Minute)); len(out) != cookieBacklog || out[0].DstPort != 1124 {
		t.Fatalf("SYN-ACKs after a minute: %+v", out)
	}
}
