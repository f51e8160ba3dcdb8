package ipv4

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

func ipv4Seeds() [][]byte {
	return [][]byte{
		gvPacket(peerIP, cardIP, 1, 1, 0, 0, gvEcho(1, 2, []byte("ping"))),
		gvPacket(peerIP, cardIP, 17, 2, 0, 0, []byte{0, 1, 0, 53, 0, 8, 0, 0}),
		gvPacket(peerIP, cardIP, 17, 3, 1, 0, make([]byte, 16)),
		gvPacket(peerIP, cardIP, 17, 3, 0, 16, make([]byte, 5)),
		gvPacket(peerIP, cardIP, 6, 5, 0, 0, []byte{0, 1, 0, 80, 0, 0, 0, 0}),
		gvPacket(peerIP, cardIP, 99, 4, 0, 0, nil),
		{0x45},
	}
}

func icmpSeeds() [][]byte {
	return [][]byte{
		gvEcho(1, 1, []byte("abc")),
		gvEcho(0xffff, 0, make([]byte, 600)),
		{3, 3, 0, 0, 0, 0, 0, 0},
		{8, 0},
	}
}

// optionSeeds are option areas: valid shapes and each malformed one.
func optionSeeds() [][]byte {
	return [][]byte{
		{OptRR, 39, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{OptRR, 0, 4, 0},
		{OptRR, 1, 4, 0},
		{OptRR, 11, 4, 0, 0, 0, 0, 0},
		{OptTS, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		{OptTS, 8, 5, 2, 0, 0, 0, 0},
		{OptLSRR, 11, 8, 10, 0, 0, 9, 10, 0, 0, 8, 0},
		{OptSSRR, 7, 8, 10, 0, 0, 9, 0},
		{OptNOP, OptNOP, OptRouterAlert, 4, 0, 0, OptEOL, 0},
		{OptRR, 3, 4, OptRR, 3, 4, 0, 0},
		{99},
	}
}

func TestWriteCorpus(t *testing.T) {
	writeCorpus(t, "FuzzOptions", optionSeeds())
	writeCorpus(t, "FuzzIPv4", ipv4Seeds())
	writeCorpus(t, "FuzzICMP", icmpSeeds())
	writeCorpus(t, "FuzzReassembly", reassemblySeeds())
}

// FuzzOptions checks the option walk is total: any option bytes give a
// result or an error whose offset lies in the option area; and the host,
// given a packet with those options, answers at most one packet (an echo
// reply or a Parameter Problem whose pointer is that offset).
func FuzzOptions(f *testing.F) {
	for _, s := range optionSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, opt []byte) {
		if len(opt) > 40 {
			opt = opt[:40]
		}
		opt = append(opt, make([]byte, (4-len(opt)%4)%4)...) // as optPacket pads it
		o, at, err := CheckOptions(opt)
		if err != nil && (at < HeaderLen || at >= HeaderLen+len(opt)) {
			t.Fatalf("error %v at %d, outside the %d option octets", err, at, len(opt))
		}
		if err == nil && (at != 0 || o.SourceRoute != 0 && o.SourceRoute != OptLSRR && o.SourceRoute != OptSSRR) {
			t.Fatalf("result %+v at %d", o, at)
		}
		h := newHost(t, Config{})
		pkt := optPacket(peerIP, 1, opt, gvEcho(1, 1, []byte("data")))
		h.Input(pkt, t0)
		rep := output(h, t0)
		if more := output(h, t0); len(more) != 0 {
			t.Fatal("two packets for one")
		}
		switch {
		case len(rep) == 0:
			if err == nil && (o.SourceRoute == 0 || o.RouteDone) {
				t.Fatal("valid options: no echo reply")
			}
		case rep[20] == 12:
			if err == nil || int(rep[24]) != at {
				t.Fatalf("Parameter Problem at %d for %v at %d", rep[24], err, at)
			}
		case rep[20] == 0:
			if err != nil {
				t.Fatalf("echo answered despite %v", err)
			}
		default:
			t.Fatalf("unexpected reply type %d", rep[20])
		}
	})
}

// FuzzIPv4 feeds arbitrary packets to Host.Input (after fixing nothing) and
// drains Output: no panic, every output packet a valid IPv4 packet within
// the MTU.
func FuzzIPv4(f *testing.F) {
	for _, s := range ipv4Seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h := newHost(t, Config{MTU: 576, ReassemblySlots: 2, ReassemblyBytes: 1024})
		u := &fakeT{accept: false}
		h.Register(ProtoUDP, u)
		h.Register(ProtoTCP, &filterT{fakeT{accept: true, ports: map[uint16]bool{80: true}}})
		// The packet as given, then with a repaired header checksum so the
		// fuzzer reaches the deeper layers, then split into pieces.
		h.Input(pkt, t0)
		if len(pkt) >= HeaderLen && pkt[0]&0x0f >= 5 && int(pkt[0]&0x0f)*4 <= len(pkt) {
			q := append([]byte(nil), pkt...)
			copy(q[16:20], cardIP[:])
			hl := int(q[0]&0x0f) * 4
			q[10], q[11] = 0, 0
			c := Checksum(q[:hl], 0)
			q[10], q[11] = byte(c>>8), byte(c)
			h.Input(q, t0)
		}
		h.Poll(t0.Add(time.Minute))
		buf := make([]byte, 2000)
		for i := 0; i < 20; i++ {
			n := h.Output(buf, t0.Add(time.Minute))
			if n == 0 {
				break
			}
			if n > 576 {
				t.Fatalf("output %d > MTU", n)
			}
			if _, err := Parse(buf[:n]); err != nil {
				t.Fatalf("invalid output: %v", err)
			}
		}
	})
}

// FuzzICMP wraps arbitrary bytes as the payload of a valid IPv4 packet of
// protocol 1 (with and without a repaired ICMP checksum).
func FuzzICMP(f *testing.F) {
	for _, s := range icmpSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, icmp []byte) {
		h := newHost(t, Config{MTU: 576, ICMPRatePerSec: -1})
		h.Input(gvPacket(peerIP, cardIP, 1, 1, 0, 0, icmp), t0)
		if len(icmp) >= 4 {
			q := append([]byte(nil), icmp...)
			q[2], q[3] = 0, 0
			c := Checksum(q, 0)
			q[2], q[3] = byte(c>>8), byte(c)
			h.Input(gvPacket(peerIP, cardIP, 1, 2, 0, 0, q), t0)
		}
		// Replies larger than the MTU come as fragments: put each message
		// back together before checking it.
		buf := make([]byte, 2000)
		var msg []byte
		for {
			n := h.Output(buf, t0)
			if n == 0 {
				break
			}
			hd, err := Parse(buf[:n])
			if err != nil || hd.Protocol() != ProtoICMP || n > 576 || hd.FragOffset() != len(msg) {
				t.Fatalf("bad reply %x", buf[:n])
			}
			msg = append(msg, hd.Payload()...)
			if hd.MF() {
				continue
			}
			if Checksum(msg, 0) != 0 || msg[0] != 0 {
				t.Fatalf("ICMP sent something else than a valid echo reply: %x", msg)
			}
			msg = msg[:0]
		}
		if len(msg) != 0 {
			t.Fatalf("reply cut short after %d bytes", len(msg))
		}
	})
}

// FuzzReassembly cuts fragments out of one known datagram at fuzzed
// offsets, lengths, flags, IDs and arrival times: whatever is delivered must
// be a prefix of that datagram ending where a last fragment said, and the
// slots must stay within their bounds. The same fragments go to a second
// host whose one MTU-sized slot is also its echo buffer (the Card profile),
// with echo requests and output interleaved (bits 3 and 4 of the length
// byte): every echo reply must carry its request's data.
func FuzzReassembly(f *testing.F) {
	for _, s := range reassemblySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		p := datagram(1200)
		h := newHost(t, Config{ReassemblySlots: 2, ReassemblyBytes: 2048, ReassemblyTimeout: 10 * time.Second})
		u := &fakeT{accept: true}
		h.Register(ProtoUDP, u)
		hs := newHost(t, Config{ReassemblySlots: 1, ReassemblyBytes: 1500, ReassemblyTimeout: 10 * time.Second, ICMPRatePerSec: -1})
		us := &fakeT{accept: true}
		hs.Register(ProtoUDP, us)
		if !hs.EchoShared() {
			t.Fatal("echo buffer not shared")
		}
		buf := make([]byte, 1600)
		data := make([]byte, 1000)
		for i := range data {
			data[i] = byte(i * 5)
		}
		var seq uint16
		checkOut := func(now time.Time) {
			n := hs.Output(buf, now)
			if n == 0 {
				return
			}
			hd, err := Parse(buf[:n])
			ic := hd.Payload()
			if err != nil || hd.Protocol() != ProtoICMP || Checksum(ic, 0) != 0 || ic[0] != 0 && ic[0] != 11 {
				t.Fatalf("bad output %x", buf[:n])
			}
			if ic[0] == 11 { // a timed-out reassembly
				return
			}
			s := binary.BigEndian.Uint16(ic[6:8])
			if !bytes.Equal(ic[8:], data[:int(s)%len(data)]) {
				t.Fatalf("echo reply %d carries the wrong data", s)
			}
		}
		now := t0
		for len(ops) >= 4 {
			off := int(ops[0]) * 8 % len(p)
			n := min(int(ops[1])*8+int(ops[2]&7), len(p)-off)
			flags := uint8(0)
			if ops[3]&1 != 0 {
				flags = 1 // MF in gVisor's flag encoding
			}
			id := uint16(ops[3]>>1) & 3
			now = now.Add(time.Duration(ops[3]>>3) * time.Second)
			ping, out, shed := ops[2]&8 != 0, ops[2]&16 != 0, ops[2]&32 != 0
			ops = ops[4:]
			if shed { // Shed never drops data: the checks below still hold
				h.Shed()
				hs.Shed()
			}
			h.Poll(now)
			hs.Poll(now)
			if ping {
				seq += 97
				hs.Input(gvPacket(peerIP, cardIP, 1, seq, 0, 0, gvEcho(1, seq, data[:int(seq)%len(data)])), now)
			}
			frag := gvPacket(peerIP, cardIP, 17, id, flags, uint16(off), p[off:off+n])
			h.Input(frag, now)
			hs.Input(frag, now)
			if out {
				checkOut(now)
			}
			for _, x := range []*Host{h, hs} {
				for i := range x.slots {
					s := &x.slots[i]
					if s.state == slotActive && (s.got > x.slotCap || s.maxEnd > x.slotCap || s.got > s.maxEnd) {
						t.Fatalf("slot invariant broken: got %d maxEnd %d", s.got, s.maxEnd)
					}
				}
			}
			if hs.echoN != 0 && (hs.echoHold == 0 || hs.slots[hs.echoHold-1].state != slotEcho) {
				t.Fatal("echo reply queued in a buffer it does not hold")
			}
		}
		for _, g := range append(u.got, us.got...) {
			if !bytes.Equal(g, p[:len(g)]) {
				t.Fatalf("delivered %d bytes that are not the datagram's", len(g))
			}
		}
		for h.Output(buf, now) > 0 {
		}
		checkOut(now)
	})
}

func reassemblySeeds() [][]byte {
	return [][]byte{
		{0, 50, 0, 1, 50, 50, 0, 1, 100, 50, 0, 0},              // in order, ends at 800+..
		{100, 50, 0, 0, 0, 50, 0, 1, 50, 50, 0, 1},              // out of order
		{0, 50, 0, 1, 40, 50, 0, 1, 90, 20, 3, 0},               // overlap
		{0, 50, 0, 1, 50, 50, 0, 0xf9, 50, 50, 0, 1},            // timeout between
		{0, 10, 0, 1, 0, 10, 0, 3, 0, 10, 0, 5, 0, 10, 0, 7},    // four IDs, two slots
		{0, 50, 8, 1, 0, 50, 16, 1, 50, 50, 24, 0, 0, 0, 24, 0}, // pings and output around a reassembly
		{0, 50, 24, 0, 0, 50, 8, 0, 0, 50, 16, 0},               // unfragmented datagrams between pings
		{0, 50, 32, 1, 50, 50, 40, 1, 100, 50, 48, 0},           // shed between fragments and pings
	}
}
