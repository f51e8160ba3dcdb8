package tcp

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

func FuzzHeader(f *testing.F) {
	var b [24]byte
	n := putHeader(b[:], 1234, 80, 1, 2, FlagSYN, 65535, 1460)
	f.Add(append([]byte(nil), b[:n]...))
	f.Add([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 2, 0x80, 0x10, 0x10, 0, 0, 0, 0, 0,
		1, 1, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 3, 3, 7, 0})
	f.Add([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x02, 0x10, 0, 0, 0, 0, 0, 2, 0, 5, 0})
	f.Fuzz(func(t *testing.T, seg []byte) {
		h, err := ParseHeader(seg)
		if err != nil {
			return
		}
		if h.DataOff < HeaderLen || h.DataOff > len(seg) || h.DataOff > 60 {
			t.Fatalf("data offset %d of %d", h.DataOff, len(seg))
		}
		// a parsed header re-encodes to the same fixed fields
		var out [24]byte
		putHeader(out[:], h.SrcPort, h.DstPort, h.Seq, h.Ack, h.Flags, h.Window, 0)
		for i := 0; i < 12; i++ {
			if out[i] != seg[i] {
				t.Fatalf("byte %d differs", i)
			}
		}
	})
}

// checkInvariants verifies the control block's bookkeeping.
func checkInvariants(c *Conn) error {
	if !c.inUse {
		if c.ackNow || c.probeNow || c.rtxOne || c.dupAcksOut != 0 || c.state != Closed || c.lst != nil {
			return fmt.Errorf("free slot with state")
		}
		return nil
	}
	if c.state == Closed {
		return nil
	}
	if !seqLE(c.sndUna, c.sndNxt) || !seqLE(c.sndNxt, c.sndMax) {
		return fmt.Errorf("una %d nxt %d max %d", c.sndUna, c.sndNxt, c.sndMax)
	}
	if c.sndLen < 0 || c.sndLen > c.s.cfg.SendBuf || c.rcvLen < 0 || int(c.rcvLen) > c.bufSize() {
		return fmt.Errorf("buffers snd %d/%d rcv %d/%d", c.sndLen, c.s.cfg.SendBuf, c.rcvLen, c.bufSize())
	}
	// A shed buffer holds nothing; an allocated one has its configured size.
	if c.sndBuf() == nil && c.sndLen != 0 || c.sndBuf() != nil && len(c.sndBuf()) != int(c.s.cfg.SendBuf) {
		return fmt.Errorf("send buffer %d bytes with %d queued", len(c.sndBuf()), c.sndLen)
	}
	if c.s.pairBufs && (c.rcvBuf() == nil) != (c.sndBuf() == nil) {
		return fmt.Errorf("half a buffer pair")
	}
	if c.big == 0 && c.rcvBuf() == nil && (c.rcvLen != 0 || c.nooo != 0) ||
		c.rcvBuf() != nil && len(c.rcvBuf()) != int(c.s.cfg.SmallRecvBuf) {
		return fmt.Errorf("receive buffer %d bytes with %d received, %d ranges", len(c.rcvBuf()), c.rcvLen, c.nooo)
	}
	if c.state >= Established {
		end := c.sndBase + uint32(c.sndLen)
		if c.finQueued {
			end++
		}
		if seqGT(c.sndMax, end) {
			return fmt.Errorf("sent beyond queued data: max %d end %d", c.sndMax, end)
		}
		if seqGT(c.sndBase, c.sndUna) && !(c.finQueued && c.sndLen == 0) {
			return fmt.Errorf("base %d > una %d", c.sndBase, c.sndUna)
		}
	}
	if w := int(c.rcvAdv - c.rcvNxt); w < 0 || (w > c.bufSize()-int(c.rcvLen) && !c.released) {
		return fmt.Errorf("advertised %d, free %d", w, c.bufSize()-int(c.rcvLen))
	}
	prev := c.rcvNxt
	for i := 0; i < int(c.nooo); i++ {
		r := c.ooo[i]
		if !seqGT(r.start, prev) || !seqLT(r.start, r.end) {
			return fmt.Errorf("ooo range %d [%d,%d) after %d", i, r.start, r.end, prev)
		}
		if int(c.rcvLen)+int(r.end-c.rcvNxt) > c.bufSize() {
			return fmt.Errorf("ooo range beyond buffer")
		}
		prev = r.end
	}
	if c.cwnd == 0 && c.state >= Established {
		return fmt.Errorf("cwnd 0")
	}
	return nil
}

// FuzzConn drives an established connection (stack B's end) with arbitrary
// segments, application calls, Shed calls and clock steps. Stack B's slots own 512-byte
// receive buffers and share one of 1024 bytes.
func FuzzConn(f *testing.F) {
	f.Add([]byte{0x10, 0, 0, 0, 0, 0x20, 10, 0x18, 0, 10, 0, 0, 0x20, 5, 0xff, 0x11, 0, 0, 0, 0, 0x20, 0})
	f.Add([]byte{0x04, 0, 0, 0, 0, 0, 0, 0x04, 0, 5, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x10, 0, 20, 0, 0, 0x20, 30, 0x10, 0, 0, 0, 0, 0x20, 20, 0xfe, 3, 0xfd, 9})
	// shed, out-of-order data, shed (kept), in-order data, consume all, shed
	f.Add([]byte{0xf8, 0, 0x10, 0, 20, 0, 0, 0x20, 30, 0xf8, 1, 0x10, 0, 0, 0, 0, 0x20, 20, 0xfe, 0xff, 0xfe, 0xff, 0xf8, 0})
	// handshake from port 1001 (SYN, then ACK relative to the new connection), accept, data
	f.Add([]byte{0xfb, 1, 0x02, 0, 1, 0, 0, 0, 0xfb, 1, 0x10, 0, 0, 0, 1, 0, 0xfa, 2, 0xfb, 1, 0x18, 0, 0, 0, 0, 9, 0xfd, 5})
	f.Fuzz(func(t *testing.T, in []byte) {
		cfgB := testConfig(1)
		cfgB.RecvBuf, cfgB.SendBuf = 1024, 1024
		cfgB.SmallRecvBuf, cfgB.LargeRecvBufs = 512, 1
		fuzzConn(t, in, cfgB)
	})
}

// FuzzConnPaired is FuzzConn with stack B's receive and send buffers in
// one allocation (600 + 900 bytes take 1,536 together, 640 + 1,024
// apart; see shed.go), so Shed drops both or neither.
func FuzzConnPaired(f *testing.F) {
	f.Add([]byte{0xf8, 0, 0x10, 0, 20, 0, 0, 0x20, 30, 0xf8, 1, 0x10, 0, 0, 0, 0, 0x20, 20, 0xfe, 0xff, 0xfe, 0xff, 0xf8, 0})
	f.Add([]byte{0xff, 200, 0xf8, 0, 0x10, 0, 0, 0, 0, 0x20, 0, 0xf8, 1, 0xfd, 9, 0xf8, 0, 0xf9, 100, 0x18, 0, 0, 0, 0, 0x20, 200, 0xf8, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		cfgB := testConfig(1)
		cfgB.RecvBuf, cfgB.SmallRecvBuf, cfgB.LargeRecvBufs, cfgB.SendBuf = 1024, 600, 1, 900
		fuzzConn(t, in, cfgB)
	})
}

// fuzzConn runs one FuzzConn input against a stack B configured as cfgB.
func fuzzConn(t *testing.T, in []byte, cfgB Config) {
	cfg := testConfig(1)
	cfg.RecvBuf, cfg.SendBuf = 1024, 1024
	w := newWire(t, cfg, cfgB, 1)
	if !w.stacks[1].pairBufs && cfgB.SendBuf == 900 {
		t.Fatal("stack B's buffers are not paired")
	}
	c, sc, l := w.connect(80)
	s := w.stacks[1]
	var payload [255]byte
	for i := range payload {
		payload[i] = byte(i)
	}
	var out [1500]byte
	for len(in) >= 2 {
		op := in[0]
		switch {
		case op == 0xff: // app writes
			sc.Write(payload[:in[1]])
			in = in[2:]
		case op == 0xfe: // app consumes
			sc.Consume(int(in[1]))
			in = in[2:]
		case op == 0xfd: // clock
			w.now = w.now.Add(time.Duration(in[1]) * 50 * time.Millisecond)
			in = in[2:]
		case op == 0xfc:
			sc.CloseWrite()
			in = in[1:]
		case op == 0xf8: // the card sheds empty buffers (stack, or this connection)
			if in[1]&1 == 0 {
				s.Shed()
			} else {
				sc.Shed()
			}
			in = in[2:]
		case op == 0xf9: // the application reserves room for a record
			sc.Reserve(int(in[1]) * 8)
			in = in[2:]
		case op == 0xfb: // a segment from another client port to the listener
			if len(in) < 8 {
				in = nil
				break
			}
			sport := 1000 + uint16(in[1]&7)
			flags := in[2]
			seq := uint32(binary.BigEndian.Uint16(in[3:])) << 12
			ack := uint32(binary.BigEndian.Uint16(in[5:])) << 12
			if x := s.lookup(m4(addrA), m4(addrB), sport, 80); x != nil { // relative to the connection
				seq = x.rcvNxt + uint32(int32(int16(binary.BigEndian.Uint16(in[3:]))))
				ack = x.sndUna + uint32(int32(int16(binary.BigEndian.Uint16(in[5:]))))
			}
			n := int(in[7])
			s.Input(addrA, addrB, craft(addrA, addrB, sport, 80, seq, ack, flags, 4096, payload[:n]), w.now)
			in = in[8:]
		case op == 0xfa: // the application accepts, closes or aborts a passive connection
			if x := l.Accept(); x != nil {
				switch in[1] % 3 {
				case 0:
					x.Close()
				case 1:
					x.Abort()
				case 2:
					x.Write(payload[:in[1]])
					x.CloseWrite()
				}
			}
			in = in[2:]
		default: // a segment: flags, seq delta (int16), ack delta (int16), window/256, length
			if len(in) < 7 {
				in = nil
				break
			}
			seq := sc.rcvNxt + uint32(int32(int16(binary.BigEndian.Uint16(in[1:]))))
			ack := sc.sndUna + uint32(int32(int16(binary.BigEndian.Uint16(in[3:]))))
			wnd := uint16(in[5]) << 8
			n := int(in[6])
			seg := craft(addrA, addrB, c.lport, 80, seq, ack, op, wnd, payload[:n])
			s.Input(addrA, addrB, seg, w.now)
			in = in[7:]
		}
		s.Poll(w.now)
		for {
			k, _ := s.Output(out[:], addrB, w.now)
			if k == 0 {
				break
			}
			if _, err := ParseHeader(out[:k]); err != nil || Checksum(addrB, addrA, out[:k]) != 0 {
				t.Fatalf("bad segment out: %v", err)
			}
		}
		if err := checkPool(s); err != nil {
			t.Fatal(err)
		}
	}
}
