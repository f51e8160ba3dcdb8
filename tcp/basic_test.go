package tcp

import (
	"bytes"
	"testing"
	"time"
)

func TestHandshakeAndData(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	if sc.State() != Established {
		t.Fatalf("server state %v", sc.State())
	}
	if a, p := sc.Remote(); a != m4(addrA) || p != c.lport {
		t.Fatalf("remote %v:%d", a, p)
	}
	msg := []byte("hello, card")
	if n := c.Write(msg); n != len(msg) {
		t.Fatalf("write %d", n)
	}
	w.run(func() bool { return len(sc.Peek()) == len(msg) }, time.Second)
	if !bytes.Equal(sc.Peek(), msg) {
		t.Fatalf("got %q", sc.Peek())
	}
	sc.Consume(len(msg))
	// reply through the zero-copy API
	f := sc.Free()
	n := copy(f, "hi there")
	sc.Commit(n)
	w.run(func() bool { return len(c.Peek()) == n }, time.Second)
	var buf [64]byte
	if k := c.Read(buf[:]); string(buf[:k]) != "hi there" {
		t.Fatalf("client read %q", buf[:k])
	}
	w.settle(time.Second)
	if c.Queued() != 0 || sc.Queued() != 0 {
		t.Fatalf("unacked data left: %d %d", c.Queued(), sc.Queued())
	}
}

func TestCloseNormal(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	c.Write([]byte("bye"))
	c.Close()
	w.run(func() bool { return sc.finRcvd && c.State() == FinWait2 }, time.Second)
	if sc.State() != CloseWait {
		t.Fatalf("server %v", sc.State())
	}
	if c.State() != FinWait2 {
		t.Fatalf("client %v", c.State())
	}
	if string(sc.Peek()) != "bye" {
		t.Fatalf("got %q", sc.Peek())
	}
	sc.Consume(3)
	if !sc.EOF() {
		t.Fatal("no EOF")
	}
	sc.Close()
	w.run(func() bool { return !sc.inUse }, time.Second)
	if _, used := w.stacks[1].Conn(0); used {
		t.Fatal("server slot still in use after LAST-ACK")
	}
	w.settle(10 * time.Second)
	if c.inUse {
		t.Fatalf("client slot still in use: %v", c.State())
	}
}

func TestSimultaneousClose(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	c.CloseWrite()
	sc.CloseWrite()
	w.run(func() bool { return c.State() == TimeWait && sc.State() == TimeWait }, time.Second)
	if !c.EOF() || !sc.EOF() {
		t.Fatal("EOF not seen")
	}
	c.Close()
	sc.Close()
	w.settle(10 * time.Second)
	if c.inUse || sc.inUse {
		t.Fatal("slots not freed")
	}
}

func TestHalfClose(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	c.CloseWrite()
	w.run(func() bool { return sc.EOF() }, time.Second)
	if c.Writable() {
		t.Fatal("client still writable after CloseWrite")
	}
	// the server keeps sending after the client's FIN
	data := bytes.Repeat([]byte("x"), 20000)
	var got []byte
	sent := 0
	w.apps = append(w.apps, func() {
		sent += sc.Write(data[sent:])
		got = append(got, c.Peek()...)
		c.Consume(len(c.Peek()))
	})
	w.run(func() bool { return len(got) == len(data) }, 10*time.Second)
	sc.Close()
	w.run(func() bool { return c.EOF() }, time.Second)
	if c.State() != TimeWait {
		t.Fatalf("client %v", c.State())
	}
}

func TestSimultaneousOpen(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	a := w.stacks[0].alloc(false)
	a.init(m4(addrA), m4(addrB), 5000, 6000, w.now)
	a.state = SynSent
	b := w.stacks[1].alloc(false)
	b.init(m4(addrB), m4(addrA), 6000, 5000, w.now)
	b.state = SynSent
	w.run(func() bool { return a.State() == Established && b.State() == Established }, 5*time.Second)
	a.Write([]byte("ping"))
	w.run(func() bool { return len(b.Peek()) == 4 }, time.Second)
}

func TestRefusedAndReset(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, err := w.stacks[0].Dial(addrA, addrB, 81, w.now)
	if err != nil {
		t.Fatal(err)
	}
	w.run(func() bool { return c.Err() != nil }, time.Second)
	if c.Err() != ErrRefused || c.State() != Closed {
		t.Fatalf("err %v state %v", c.Err(), c.State())
	}
	c.Close()
	// Abort sends RST; the peer sees ErrReset.
	c2, sc, _ := w.connect(80)
	c2.Abort()
	w.run(func() bool { return sc.Err() != nil }, time.Second)
	if sc.Err() != ErrReset {
		t.Fatalf("server err %v", sc.Err())
	}
	sc.Close()
	if w.stacks[1].Stats().ConnsReset != 1 {
		t.Fatalf("stats %+v", w.stacks[1].Stats())
	}
}

// TestRSTRules checks RFC 5961 handling of RST and SYN on an established
// connection and RST generation for segments to no connection.
func TestRSTRules(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	s := w.stacks[1]
	inject := func(seq, ack uint32, flags uint8) []Header {
		s.Input(addrA, addrB, craft(addrA, addrB, c.lport, 80, seq, ack, flags, 1000, nil), w.now)
		return drain(s, addrB, w.now)
	}
	// RST out of window: ignored silently.
	if out := inject(sc.rcvNxt+100000, 0, FlagRST); len(out) != 0 || sc.State() != Established {
		t.Fatalf("out-of-window RST: %v %v", out, sc.State())
	}
	// RST in window but not exact: challenge ACK.
	out := inject(sc.rcvNxt+10, 0, FlagRST)
	if len(out) != 1 || out[0].Flags != FlagACK || out[0].Ack != sc.rcvNxt || sc.State() != Established {
		t.Fatalf("in-window RST: %+v %v", out, sc.State())
	}
	// SYN in window: challenge ACK, connection intact.
	out = inject(sc.rcvNxt+5, 0, FlagSYN)
	if len(out) != 1 || out[0].Flags != FlagACK || sc.State() != Established {
		t.Fatalf("SYN: %+v %v", out, sc.State())
	}
	// ACK for data never sent: ACK back, dropped.
	out = inject(sc.rcvNxt, sc.sndMax+1000, FlagACK)
	if len(out) != 1 || sc.sndUna != sc.sndMax {
		t.Fatalf("future ACK: %+v", out)
	}
	// Throttling: at most ChallengeACKLimit per second.
	for i := 0; i < 50; i++ {
		inject(sc.rcvNxt+10, 0, FlagRST)
	}
	st := s.Stats()
	if st.ChallengeACKs != 10 || st.ChallengeThrottle == 0 {
		t.Fatalf("challenge ACKs %d throttled %d", st.ChallengeACKs, st.ChallengeThrottle)
	}
	// Exact RST: reset.
	inject(sc.rcvNxt, 0, FlagRST)
	if sc.State() != Closed || sc.Err() != ErrReset {
		t.Fatalf("exact RST: %v %v", sc.State(), sc.Err())
	}
	// Segments to no connection.
	out = inject(1234, 0, FlagACK) // port is closed now
	if len(out) != 1 || out[0].Flags != FlagRST|FlagACK && out[0].Flags != FlagRST {
		t.Fatalf("no-conn ACK: %+v", out)
	}
	s.Input(addrA, addrB, craft(addrA, addrB, 999, 7777, 100, 555, FlagACK, 1000, []byte("abc")), w.now)
	out = drain(s, addrB, w.now)
	if len(out) != 1 || out[0].Flags != FlagRST || out[0].Seq != 555 {
		t.Fatalf("RST for ACK: %+v", out)
	}
	s.Input(addrA, addrB, craft(addrA, addrB, 999, 7777, 100, 0, FlagSYN|FlagFIN, 1000, []byte("abc")), w.now)
	out = drain(s, addrB, w.now)
	if len(out) != 1 || out[0].Flags != FlagRST|FlagACK || out[0].Seq != 0 || out[0].Ack != 105 {
		t.Fatalf("RST for SYN: %+v", out)
	}
	s.Input(addrA, addrB, craft(addrA, addrB, 999, 7777, 100, 0, FlagRST, 1000, nil), w.now)
	if out = drain(s, addrB, w.now); len(out) != 0 {
		t.Fatalf("RST answered: %+v", out)
	}
	// Bad checksum: dropped and counted.
	seg := craft(addrA, addrB, 999, 7777, 100, 0, FlagSYN, 1000, nil)
	seg[5] ^= 1
	s.Input(addrA, addrB, seg, w.now)
	if out = drain(s, addrB, w.now); len(out) != 0 || s.Stats().DropChecksum != 1 {
		t.Fatalf("bad checksum: %+v %d", out, s.Stats().DropChecksum)
	}
	_ = c
}

func TestBacklogAndSlotsFull(t *testing.T) {
	a, b := testConfig(1), testConfig(2)
	b.MaxConns = 2
	w := newWire(t, a, b, 1)
	l, _ := w.stacks[1].Listen(80, 1)
	c1, _ := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	w.run(func() bool { return c1.State() == Established && l.Pending() == 1 && l.oldest().State() == Established }, time.Second)
	// backlog (1) is full with the established, unaccepted c1: the next SYN is refused
	c2, _ := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	w.run(func() bool { return c2.Err() != nil }, time.Second)
	if c2.Err() != ErrRefused {
		t.Fatalf("c2 err %v", c2.Err())
	}
	c2.Close()
	s1 := l.Accept()
	if s1 == nil {
		t.Fatal("no accept")
	}
	c3, _ := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	var s3 *Conn
	w.run(func() bool { s3 = l.Accept(); return s3 != nil }, time.Second)
	if s3 == nil {
		t.Fatalf("no accept: pending %d, c3 %v", l.Pending(), c3.State())
	}
	// both server slots busy: a new SYN gets RST, existing ones unaffected
	c4, _ := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	w.run(func() bool { return c4.Err() != nil }, time.Second)
	if c4.Err() != ErrRefused {
		t.Fatalf("c4 err %v", c4.Err())
	}
	if st := w.stacks[1].Stats(); st.ConnsRefused != 2 || st.ConnsAccepted != 2 {
		t.Fatalf("stats %+v", st)
	}
	c1.Write([]byte("one"))
	c3.Write([]byte("three"))
	w.run(func() bool { return string(s1.Peek()) == "one" && string(s3.Peek()) == "three" }, time.Second)
}

func TestZeroWindowPersist(t *testing.T) {
	a, b := testConfig(1), testConfig(2)
	b.RecvBuf = 3000
	w := newWire(t, a, b, 1)
	c, sc, _ := w.connect(80)
	data := make([]byte, 50000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sent := 0
	w.apps = append(w.apps, func() { sent += c.Write(data[sent:]) })
	// the reader is asleep: the window closes
	w.run(func() bool { return len(sc.Peek()) == 3000 }, 5*time.Second)
	w.settle(20 * time.Second)
	if c.sndWnd != 0 {
		t.Fatalf("window %d", c.sndWnd)
	}
	probes := w.sent[0]
	w.settle(30 * time.Second)
	if w.sent[0] == probes {
		t.Fatal("no zero-window probes")
	}
	if len(sc.Peek()) != 3000 {
		t.Fatal("receive buffer overflowed")
	}
	var got []byte
	w.apps = append(w.apps, func() {
		got = append(got, sc.Peek()...)
		sc.Consume(len(sc.Peek()))
	})
	w.run(func() bool { return len(got) == len(data) }, 120*time.Second)
	if !bytes.Equal(got, data) {
		t.Fatal("data mismatch")
	}
}

func TestRetransmitAfterLoss(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	dropped := false
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 0 && len(p) > 0 && !dropped {
			dropped = true
			return true
		}
		return false
	}
	c.Write([]byte("lost once"))
	w.run(func() bool { return len(sc.Peek()) == 9 }, 5*time.Second)
	if st := w.stacks[0].Stats(); st.Timeouts != 1 || st.Retransmits != 1 {
		t.Fatalf("stats %+v", st)
	}
	// lost SYN: retransmitted
	w.drop = func(from int, h Header, p []byte) bool { return h.Flags&FlagSYN != 0 && !dropped }
	dropped = false
	w.drop = func(from int, h Header, p []byte) bool {
		if h.Flags == FlagSYN && !dropped {
			dropped = true
			return true
		}
		return false
	}
	w.stacks[1].Listen(81, 1)
	c2, _ := w.stacks[0].Dial(addrA, addrB, 81, w.now)
	w.run(func() bool { return c2.State() == Established }, 5*time.Second)
}

func TestFastRetransmit(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	n := 0
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 0 && len(p) > 0 {
			n++
			return n == 3
		}
		return false
	}
	data := make([]byte, 200000)
	for i := range data {
		data[i] = byte(i)
	}
	sent := 0
	var got []byte
	w.apps = append(w.apps, func() {
		sent += c.Write(data[sent:])
		got = append(got, sc.Peek()...)
		sc.Consume(len(sc.Peek()))
	})
	w.run(func() bool { return len(got) == len(data) }, 30*time.Second)
	if !bytes.Equal(got, data) {
		t.Fatal("mismatch")
	}
	if st := w.stacks[0].Stats(); st.FastRetransmits != 1 || st.Timeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOutOfOrder(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	// hold back the first data segment so the next ones arrive first
	var held []byte
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 0 && len(p) > 0 && held == nil {
			held = append([]byte(nil), p...)
			w.queue = append(w.queue, packet{at: w.now.Add(30 * time.Millisecond), seq: -1, src: addrA, dst: addrB,
				data: craft(addrA, addrB, h.SrcPort, h.DstPort, h.Seq, h.Ack, h.Flags, h.Window, p)})
			return true
		}
		return false
	}
	data := make([]byte, 4000) // three segments: two overtake the first (2 duplicate ACKs, no fast retransmit)
	for i := range data {
		data[i] = byte(i * 3)
	}
	c.Write(data)
	w.run(func() bool { return sc.nooo > 0 }, time.Second)
	if len(sc.Peek()) != 0 {
		t.Fatal("out-of-order data delivered")
	}
	w.run(func() bool { return len(sc.Peek()) == len(data) }, time.Second)
	if !bytes.Equal(sc.Peek(), data) {
		t.Fatal("mismatch")
	}
	if st := w.stacks[0].Stats(); st.Retransmits != 0 {
		t.Fatalf("retransmitted: %+v", st)
	}
}

// TestLongConnection checks that nothing compares sequence numbers with
// values left 2^31 behind (a connection that has moved 2 GiB): the ISNs are
// aged artificially, then data flows with a loss. (The recovery and Nagle
// markers trail SND.UNA on every ACK; a 16 GiB run of the BenchmarkBulk loop
// confirmed it.)
func TestLongConnection(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	for _, x := range []*Conn{c, sc} {
		x.iss = x.sndUna - 0x80000000 - 100
		x.irs = x.rcvNxt - 0x80000000 - 100
	}
	n := 0
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 0 && len(p) > 0 {
			n++
			return n == 5
		}
		return false
	}
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i / 7)
	}
	sent := 0
	var got []byte
	w.apps = append(w.apps, func() {
		sent += c.Write(data[sent:])
		got = append(got, sc.Peek()...)
		sc.Consume(len(sc.Peek()))
	})
	w.run(func() bool { return len(got) == len(data) }, 10*time.Second)
	if !bytes.Equal(got, data) {
		t.Fatal("mismatch")
	}
	if st := w.stacks[0].Stats(); st.FastRetransmits != 1 || st.Timeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSynFlood fills the listener with half-open connections from spoofed
// sources; a real client still gets through and established ones survive.
func TestSynFlood(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, l := w.connect(80) // backlog 2
	if l.Accept() != nil {
		t.Fatal("extra accept")
	}
	s := w.stacks[1]
	for i := 0; i < 100; i++ {
		src := addrA
		src[3] = byte(100 + i)
		s.Input(src, addrB, craft(src, addrB, uint16(1000+i), 80, uint32(i)*7919, 0, FlagSYN, 1000, nil), w.now)
		drain(s, addrB, w.now) // SYN-ACKs into the void
	}
	c2, _ := w.stacks[0].Dial(addrA, addrB, 80, w.now)
	var sc2 *Conn
	w.run(func() bool { sc2 = l.Accept(); return sc2 != nil }, 5*time.Second)
	if c2.State() != Established || sc.State() != Established || c.State() != Established {
		t.Fatalf("states %v %v %v", c2.State(), sc.State(), c.State())
	}
	// The backlog fills with half-open connections; the rest of the
	// flood gets stateless SYN cookies and the real client's cookie opens
	// its connection (RFC 4987).
	if st := s.Stats(); st.SynCookiesSent < 90 || st.SynCookiesOK != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestReceiverSWS checks that a slowly reading receiver moves the right
// edge of its window only in steps of at least min(MSS, buffer/2).
func TestReceiverSWS(t *testing.T) {
	a, b := testConfig(1), testConfig(2)
	b.RecvBuf = 4096
	w := newWire(t, a, b, 1)
	c, sc, _ := w.connect(80)
	var edge uint32
	bad := 0
	w.drop = func(from int, h Header, p []byte) bool {
		if from == 1 && h.Flags&FlagACK != 0 {
			e := h.Ack + uint32(h.Window)
			if edge != 0 && seqGT(e, edge) && e-edge < 1460 {
				bad++
				t.Logf("edge moved by %d", e-edge)
			}
			if edge == 0 || seqGT(e, edge) {
				edge = e
			}
		}
		return false
	}
	data := make([]byte, 10000)
	sent, got := 0, 0
	next := w.now
	w.apps = append(w.apps, func() {
		sent += c.Write(data[sent:])
		if !w.now.Before(next) && len(sc.Peek()) > 0 { // 100 bytes every 100 ms
			n := min(100, len(sc.Peek()))
			sc.Consume(n)
			got += n
			next = w.now.Add(100 * time.Millisecond)
		}
	})
	w.wake = func() time.Time { return next }
	w.run(func() bool { return got == len(data) }, 60*time.Second)
	t.Logf("%d segments from the receiver", w.sent[1])
	if bad > 0 {
		t.Fatalf("%d small window advances", bad)
	}
}

// TestZeroWindowStillAcks checks that a receiver whose window is closed still
// takes the ACKs carried by the data segments it must refuse.
func TestZeroWindowStillAcks(t *testing.T) {
	a, b := testConfig(1), testConfig(2)
	b.RecvBuf = 2000
	w := newWire(t, a, b, 1)
	c, sc, _ := w.connect(80)
	c.Write(make([]byte, 5000)) // fills sc's window; sc does not read
	w.run(func() bool { return len(sc.Peek()) == 2000 && c.sndWnd == 0 }, 5*time.Second)
	w.settle(100 * time.Millisecond)
	w.drop = func(from int, h Header, p []byte) bool { return from == 0 } // c's pure ACKs are lost
	sc.Write([]byte("reply"))
	w.run(func() bool { return string(c.Peek()) == "reply" }, time.Second)
	if sc.Queued() == 0 {
		t.Fatal("setup: reply acknowledged")
	}
	// c's data segment (beyond sc's closed window) carried the ACK of "reply"
	s := w.stacks[1]
	s.Input(addrA, addrB, craft(addrA, addrB, c.lport, 80, sc.rcvNxt, sc.sndMax, FlagACK, 8192, []byte("x")), w.now)
	if sc.Queued() != 0 || sc.sndUna != sc.sndMax {
		t.Fatalf("ACK ignored at zero window: queued %d", sc.Queued())
	}
	if len(sc.Peek()) != 2000 {
		t.Fatal("data accepted beyond a zero window")
	}
}

// TestSendWaitSince: a peer that stops reading closes its window and
// answers the probes; TCP keeps the connection (RFC 1122 §4.2.2.17) and
// SendWaitSince reports since when none of the queued output has been
// acknowledged, so the application can decide. Reading again ends the wait.
func TestSendWaitSince(t *testing.T) {
	a := testConfig(1)
	b := testConfig(2)
	b.RecvBuf = 1024
	w := newWire(t, a, b, 1)
	c, sc, _ := w.connect(80)
	if _, waiting := c.SendWaitSince(); waiting {
		t.Fatal("waiting with nothing queued")
	}
	c.Write(pattern(3000, 1)) // more than the peer's window; the peer never reads
	w.settle(5 * time.Second)
	since, waiting := c.SendWaitSince()
	if !waiting || c.Queued() == 0 {
		t.Fatalf("waiting %v, queued %d", waiting, c.Queued())
	}
	w.settle(10 * time.Minute)
	since2, waiting := c.SendWaitSince()
	if !waiting || !since2.Equal(since) || c.State() != Established || c.Err() != nil {
		t.Fatalf("after 10 min of probes: waiting %v since moved %v, state %v, err %v", waiting, !since2.Equal(since), c.State(), c.Err())
	}
	if w.now.Sub(since) < 10*time.Minute {
		t.Fatalf("waiting for %v only", w.now.Sub(since))
	}
	buf := make([]byte, 4096)
	for i := 0; i < 10 && c.Queued() > 0; i++ {
		sc.Read(buf)
		w.settle(5 * time.Second)
	}
	if _, waiting := c.SendWaitSince(); waiting || c.Queued() != 0 {
		t.Fatalf("after the peer read everything: waiting %v, queued %d", waiting, c.Queued())
	}
}
