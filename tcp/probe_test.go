package tcp

import (
	"bytes"
	"testing"
	"time"
)

// Probes a raw-packet scanner sends (issue #13: hping3/nmap shapes), each
// with the RFC 9293 reaction asserted.

// TestScanProbes: flag combinations to a listening port and to a closed
// one (RFC 9293 §3.10.7.1–2).
func TestScanProbes(t *testing.T) {
	const listenPort, closedPort = 80, 81
	type want struct {
		n          int    // segments answered
		flags      uint8  // of the answer
		seq, ack   uint32 // of the answer
		noSYNState bool   // no connection state created
	}
	const iss = 1000
	cases := []struct {
		name  string
		port  uint16
		flags uint8
		data  []byte
		ack   uint32
		want  want
	}{
		// LISTEN (§3.10.7.2).
		{"syn", listenPort, FlagSYN, nil, 0, want{1, FlagSYN | FlagACK, 0, iss + 1, false}},
		{"syn with data", listenPort, FlagSYN, []byte("early"), 0, want{1, FlagSYN | FlagACK, 0, iss + 1, false}}, // data not acknowledged: the peer resends it
		{"syn+fin", listenPort, FlagSYN | FlagFIN, nil, 0, want{1, FlagSYN | FlagACK, 0, iss + 1, false}},         // FIN left for SYN-RECEIVED: not acknowledged
		{"syn+rst", listenPort, FlagSYN | FlagRST, nil, 0, want{0, 0, 0, 0, true}},                                // "first check for an RST": ignored
		{"rst", listenPort, FlagRST, nil, 0, want{0, 0, 0, 0, true}},
		{"ack", listenPort, FlagACK, nil, 5555, want{1, FlagRST, 5555, 0, true}}, // <SEQ=SEG.ACK><CTL=RST>
		{"fin", listenPort, FlagFIN, nil, 0, want{0, 0, 0, 0, true}},             // no SYN, no ACK: dropped
		{"null", listenPort, 0, nil, 0, want{0, 0, 0, 0, true}},
		{"xmas", listenPort, FlagFIN | FlagPSH | FlagURG, nil, 0, want{0, 0, 0, 0, true}},
		// CLOSED (§3.10.7.1): RST unless the probe is an RST.
		{"closed syn", closedPort, FlagSYN, nil, 0, want{1, FlagRST | FlagACK, 0, iss + 1, true}},
		{"closed syn with data", closedPort, FlagSYN, []byte("12345"), 0, want{1, FlagRST | FlagACK, 0, iss + 6, true}},
		{"closed syn+fin", closedPort, FlagSYN | FlagFIN, nil, 0, want{1, FlagRST | FlagACK, 0, iss + 2, true}},
		{"closed fin", closedPort, FlagFIN, nil, 0, want{1, FlagRST | FlagACK, 0, iss + 1, true}},
		{"closed null", closedPort, 0, nil, 0, want{1, FlagRST | FlagACK, 0, iss, true}},
		{"closed xmas", closedPort, FlagFIN | FlagPSH | FlagURG, nil, 0, want{1, FlagRST | FlagACK, 0, iss + 1, true}},
		{"closed ack", closedPort, FlagACK, nil, 777, want{1, FlagRST, 777, 0, true}},
		{"closed rst", closedPort, FlagRST, nil, 0, want{0, 0, 0, 0, true}},
	}
	for _, c := range cases {
		s := NewStack(testConfig(1))
		if _, err := s.Listen(listenPort, 2); err != nil {
			t.Fatal(err)
		}
		s.Input(addrA, addrB, craft(addrA, addrB, 4000, c.port, iss, c.ack, c.flags, 1000, c.data), t0)
		out := drain(s, addrB, t0)
		if len(out) != c.want.n {
			t.Errorf("%s: %d segments answered, want %d: %+v", c.name, len(out), c.want.n, out)
			continue
		}
		if c.want.n == 1 {
			h := out[0]
			if h.Flags != c.want.flags || h.Ack != c.want.ack || (c.want.flags&FlagSYN == 0 && h.Seq != c.want.seq) {
				t.Errorf("%s: answered %s seq %d ack %d, want %s seq %d ack %d", c.name,
					flagString(h.Flags), h.Seq, h.Ack, flagString(c.want.flags), c.want.seq, c.want.ack)
			}
		}
		used := 0
		for i := range s.conns {
			if s.conns[i].inUse {
				used++
			}
		}
		if c.want.noSYNState && used != 0 {
			t.Errorf("%s: a connection slot was taken", c.name)
		}
	}
}

// TestMalformedTCPOptions: an option with length 0 or 1, or running past
// the header, makes the segment malformed. RFC 9293 §3.1 (MUST-7, from
// RFC 1122 §4.2.2.5) asks that an illegal option length be handled without
// crashing, suggesting a reset; the stack drops the segment instead
// (Stats.DropMalformed): a reset would let anyone who can spoof one
// segment end a connection, which RFC 5961 exists to prevent. A SYN with
// such options opens nothing; an established connection is unaffected.
func TestMalformedTCPOptions(t *testing.T) {
	bad := [][]byte{
		{2, 0, 0, 0}, // MSS, length 0
		{8, 1, 0, 0}, // timestamp, length 1
		{1, 1, 5, 9}, // SACK, running past the header
		{2, 3, 5, 0}, // MSS of length 3
		{1, 1, 1, 2}, // a kind octet with no length
	}
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	s := w.stacks[1]
	withOpt := func(seg, opt []byte) []byte {
		b := make([]byte, len(seg)+len(opt))
		copy(b, seg[:20])
		copy(b[20:], opt)
		copy(b[20+len(opt):], seg[20:])
		b[12] = byte((20+len(opt))/4) << 4
		setChecksum(m4(addrA), m4(addrB), b)
		return b
	}
	for i, opt := range bad {
		before := s.Stats().DropMalformed
		syn := withOpt(craft(addrA, addrB, 5000+uint16(i), 80, 1, 0, FlagSYN, 1000, nil), opt)
		s.Input(addrA, addrB, syn, w.now)
		// On the established connection: data with the bad option.
		seg := withOpt(craft(addrA, addrB, c.lport, 80, sc.rcvNxt, sc.sndNxt, FlagACK|FlagPSH, 1000, []byte("evil")), opt)
		s.Input(addrA, addrB, seg, w.now)
		if out := drain(s, addrB, w.now); len(out) != 0 {
			t.Errorf("option %x: answered %+v", opt, out)
		}
		if s.Stats().DropMalformed != before+2 || sc.State() != Established || sc.rcvLen != 0 {
			t.Errorf("option %x: dropped %d, state %v, %d bytes received", opt, s.Stats().DropMalformed-before, sc.State(), sc.rcvLen)
		}
	}
	// The connection still carries data.
	s.Input(addrA, addrB, craft(addrA, addrB, c.lport, 80, sc.rcvNxt, sc.sndNxt, FlagACK|FlagPSH, 1000, []byte("good")), w.now)
	if got := sc.Peek(); !bytes.Equal(got, []byte("good")) {
		t.Fatalf("after the probes: received %q", got)
	}
}

// TestUrgentPointerProbe: URG with an urgent pointer past the data, or
// with no data at all, changes nothing: urgent data is delivered in line
// (RFC 6093 §5 recommends it; the stack has no out-of-band channel).
func TestUrgentPointerProbe(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	s := w.stacks[1]
	for _, up := range []uint16{0, 1, 4, 5, 0xffff} {
		seg := craft(addrA, addrB, c.lport, 80, sc.rcvNxt, sc.sndNxt, FlagACK|FlagURG, 1000, []byte("urg!"))
		seg[18], seg[19] = byte(up>>8), byte(up)
		setChecksum(m4(addrA), m4(addrB), seg)
		s.Input(addrA, addrB, seg, w.now)
	}
	if got := sc.Peek(); !bytes.Equal(got, []byte("urg!urg!urg!urg!urg!")) || sc.State() != Established {
		t.Fatalf("received %q, state %v", got, sc.State())
	}
}

// TestNoACKOnConnection: in a synchronized state a segment without ACK —
// a FIN scan, a null scan, data alone — is dropped (RFC 9293 §3.10.7.4,
// fifth check: "if the ACK bit is off, drop the segment"); it neither
// closes the connection nor queues data.
func TestNoACKOnConnection(t *testing.T) {
	w := newWire(t, testConfig(1), testConfig(2), 1)
	c, sc, _ := w.connect(80)
	w.settle(time.Second)
	s := w.stacks[1]
	for _, f := range []uint8{FlagFIN, 0, FlagPSH, FlagFIN | FlagPSH | FlagURG} {
		s.Input(addrA, addrB, craft(addrA, addrB, c.lport, 80, sc.rcvNxt, 0, f, 1000, []byte("x")), w.now)
	}
	if out := drain(s, addrB, w.now); len(out) != 0 || sc.State() != Established || sc.rcvLen != 0 || s.Stats().DropNoACK != 4 {
		t.Fatalf("answered %+v, state %v, %d bytes, %+v", out, sc.State(), sc.rcvLen, s.Stats())
	}
}

// TestTinyMSSClamped: a SYN announcing MSS 1 (CVE-2019-11479's lever) gets
// segments of at least minSndMSS bytes, not one byte each.
func TestTinyMSSClamped(t *testing.T) {
	s := NewStack(testConfig(1))
	l, _ := s.Listen(80, 2)
	syn := make([]byte, 24)
	n := putHeader(syn, 4000, 80, 1000, 0, FlagSYN, 65535, 1)
	setChecksum(m4(addrA), m4(addrB), syn[:n])
	s.Input(addrA, addrB, syn[:n], t0)
	out := drain(s, addrB, t0)
	if len(out) != 1 || out[0].Flags != FlagSYN|FlagACK {
		t.Fatalf("no SYN-ACK: %+v", out)
	}
	s.Input(addrA, addrB, craft(addrA, addrB, 4000, 80, 1001, out[0].Seq+1, FlagACK, 65535, nil), t0)
	c := l.Accept()
	if c == nil {
		t.Fatal("not established")
	}
	if c.sndMSS != minSndMSS {
		t.Fatalf("send MSS %d, want %d", c.sndMSS, minSndMSS)
	}
}
