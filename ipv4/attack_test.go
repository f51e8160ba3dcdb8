package ipv4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Probes a raw-packet attacker tries against the IP layer (issue #13),
// each with the RFC reaction asserted.

// cardConfig is the Card profile's IP configuration: MTU 1500 and one
// 1,500-byte reassembly slot that doubles as the echo buffer.
func cardConfig() Config {
	return Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 1500}
}

// tinyConfig is the Tiny profile's: MTU 296, one 556-byte slot (RFC 1122
// §3.3.2's 576-byte datagram), the echo buffer its own.
func tinyConfig() Config {
	return Config{MTU: 296, ReassemblySlots: 1, ReassemblyBytes: 556}
}

// echoSeq returns the sequence number of the echo reply rep, -1 if rep is
// not a valid, unfragmented echo reply carrying data.
func echoSeq(rep []byte, data []byte) int {
	ip := header.IPv4(rep)
	if len(rep) < 28 || !ip.IsValid(len(rep)) || !ip.IsChecksumValid() || ip.Protocol() != 1 || ip.More() || ip.FragmentOffset() != 0 {
		return -1
	}
	ic := header.ICMPv4(ip.Payload())
	if ic.Type() != header.ICMPv4EchoReply || gvSum(ic) != 0xffff || !bytes.Equal(ic.Payload(), data) {
		return -1
	}
	return int(ic.Sequence())
}

// TestEchoSurvivesFragments: one fragment from a spoofed source used to
// hold the only reassembly slot, which was also the echo buffer, for the
// 15 s reassembly timeout; one every 15 s kept ping down for good. Now a
// fragment every second for two minutes, each from another source, costs
// no echo reply, on the Card and the Tiny configuration.
func TestEchoSurvivesFragments(t *testing.T) {
	for name, cfg := range map[string]Config{"card": cardConfig(), "tiny": tinyConfig()} {
		t.Run(name, func(t *testing.T) {
			h := newHost(t, cfg)
			data := []byte("abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrst") // ping's 56 bytes
			answered := 0
			now := t0
			for i := 0; i < 120; i++ {
				src := Addr{198, 51, 100, byte(i)}
				// A lone first fragment of a datagram that never completes.
				h.Input(gvPacket(src, cardIP, 17, uint16(i), header.IPv4FlagMoreFragments, 0, make([]byte, 64)), now)
				now = now.Add(300 * time.Millisecond)
				h.Poll(now)
				h.Input(gvPacket(peerIP, cardIP, 1, uint16(i), 0, 0, gvEcho(1, uint16(i), data)), now)
				if echoSeq(output(h, now), data) == i {
					answered++
				}
				now = now.Add(700 * time.Millisecond)
				h.Poll(now)
			}
			st := h.Stats()
			t.Logf("%d of 120 pings answered; %d partial datagrams preempted, %d fragments found no slot", answered, st.FragPreempted, st.FragNoSlot)
			if answered != 120 {
				t.Fatalf("%d of 120 pings answered under a fragment a second: %+v", answered, st)
			}
		})
	}
}

// reassembleReply collects the fragments of one echo reply from h's
// Output and checks RFC 791 fragmentation: each at most mtu bytes, one
// identification, no DF, offsets contiguous, MF on all but the last, every
// non-final payload a multiple of 8. It returns the ICMP message.
func reassembleReply(t *testing.T, h *Host, mtu int, now time.Time) (msg []byte, frags int) {
	t.Helper()
	buf := make([]byte, 2000)
	var id uint16
	for {
		n := h.Output(buf, now)
		if n == 0 {
			t.Fatalf("reply ended after %d fragments, %d bytes, without a last fragment", frags, len(msg))
		}
		ip := header.IPv4(buf[:n])
		if n > mtu || !ip.IsValid(n) || !ip.IsChecksumValid() || ip.Protocol() != 1 || ip.Flags()&header.IPv4FlagDontFragment != 0 {
			t.Fatalf("fragment %d: %d bytes, bad header %x", frags, n, buf[:20])
		}
		if frags == 0 {
			id = ip.ID()
		}
		if ip.ID() != id || int(ip.FragmentOffset()) != len(msg) {
			t.Fatalf("fragment %d: id %d (want %d), offset %d (want %d)", frags, ip.ID(), id, ip.FragmentOffset(), len(msg))
		}
		frags++
		p := ip.Payload()
		msg = append(msg, p...)
		if !ip.More() {
			return msg, frags
		}
		if len(p)%8 != 0 {
			t.Fatalf("non-final fragment of %d bytes", len(p))
		}
	}
}

// TestEchoLargerThanMTU: RFC 1122 §3.2.2.6 — an echo request that can be
// reassembled is answered, the reply fragmented to the MTU (RFC 791).
// Before, replies larger than the MTU were dropped (ICMPTooBig).
func TestEchoLargerThanMTU(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		data int // echo data bytes
		frag int // the request's fragment size
	}{
		{"tiny 548", tinyConfig(), 556 - 8, 272},                                                 // the largest Tiny reassembles
		{"tiny 300", tinyConfig(), 300, 200},                                                     // a little over the MTU
		{"card 1492", cardConfig(), 1500 - 8, 1000},                                              // one slot of 1,500: 1,520-byte datagram
		{"host 3000", Config{MTU: 1500, ReassemblyBytes: 65535, ReassemblySlots: 4}, 3000, 1480}, // ping -s 3000
		{"mtu smaller than peer's", Config{MTU: 1500, ReassemblyBytes: 3000}, 1400, 1480},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, c.cfg)
			mtu := h.MTU()
			if c.name == "mtu smaller than peer's" {
				h.SetMTU(576) // the peer's MRU is smaller than ours: reply fragmented
				mtu = 576
			}
			data := make([]byte, c.data)
			for i := range data {
				data[i] = byte(i*31 + 7)
			}
			e := gvEcho(9, 42, data)
			for off := 0; off < len(e); off += c.frag {
				n := min(c.frag, len(e)-off)
				h.Input(frag(77, e, off, n, 1), t0)
			}
			msg, frags := reassembleReply(t, h, mtu, t0)
			ic := header.ICMPv4(msg)
			if len(msg) != len(e) || ic.Type() != header.ICMPv4EchoReply || ic.Ident() != 9 || ic.Sequence() != 42 ||
				gvSum(msg) != 0xffff || !bytes.Equal(ic.Payload(), data) {
				t.Fatalf("reply of %d bytes is not the request's echo", len(msg))
			}
			st := h.Stats()
			if st.ICMPEchoOut != 1 || st.ICMPTooBig != 0 || int(st.ICMPEchoFrags) != frags || frags < 2 {
				t.Fatalf("stats %+v (%d fragments)", st, frags)
			}
			if rest := output(h, t0); len(rest) != 0 {
				t.Fatalf("more output after the last fragment: %d bytes", len(rest))
			}
			// The slot is free again: a second large ping is answered.
			for off := 0; off < len(e); off += c.frag {
				h.Input(frag(78, e, off, min(c.frag, len(e)-off), 1), t0)
			}
			if msg2, _ := reassembleReply(t, h, mtu, t0); !bytes.Equal(msg2, msg) {
				t.Fatal("second reply differs")
			}
		})
	}
}

// TestEchoTooLargeToReassemble: a request larger than a slot cannot be
// reassembled, so it is not answered (RFC 1122 §3.2.2.6 asks a reply only
// for what can be reassembled); it costs nothing else.
func TestEchoTooLargeToReassemble(t *testing.T) {
	h := newHost(t, tinyConfig())
	e := gvEcho(1, 1, make([]byte, 600))
	for off := 0; off < len(e); off += 272 {
		h.Input(frag(5, e, off, min(272, len(e)-off), 1), t0)
	}
	if rep := output(h, t0); len(rep) != 0 || h.Stats().FragTooBig != 1 {
		t.Fatalf("reply %d bytes, %+v", len(rep), h.Stats())
	}
	data := make([]byte, 56)
	h.Input(gvPacket(peerIP, cardIP, 1, 2, 0, 0, gvEcho(1, 2, data)), t0)
	if echoSeq(output(h, t0), data) != 2 {
		t.Fatal("ping after a too-large request not answered")
	}
}

// TestFragmentedEchoInterleaved: a fragmented reply going out keeps its
// slot while TCP segments interleave with it; a ping arriving meanwhile is
// not answered (one reply at a time) and a fragment finds no slot.
func TestFragmentedEchoInterleaved(t *testing.T) {
	h := newHost(t, tinyConfig())
	tcp := &fakeT{accept: true, remote: peerIP}
	for i := 0; i < 3; i++ {
		tcp.out = append(tcp.out, make([]byte, 40))
	}
	h.Register(ProtoTCP, tcp)
	e := gvEcho(1, 1, make([]byte, 500))
	h.Input(frag(5, e, 0, 272, 1), t0)
	h.Input(frag(5, e, 272, len(e)-272, 1), t0)
	var kinds []uint8
	buf := make([]byte, 1500)
	for i := 0; i < 2; i++ {
		n := h.Output(buf, t0)
		kinds = append(kinds, buf[9])
		_ = n
	}
	h.Input(gvPacket(peerIP, cardIP, 1, 9, 0, 0, gvEcho(1, 9, make([]byte, 8))), t0)
	h.Input(frag(6, e, 0, 272, 1), t0)
	for n := h.Output(buf, t0); n > 0; n = h.Output(buf, t0) {
		kinds = append(kinds, buf[9])
	}
	st := h.Stats()
	// 508 octets of ICMP at MTU 296: fragments of 272 and 236 octets.
	if st.ICMPEchoOut != 1 || st.ICMPEchoFrags != 2 || st.ICMPQueueFull != 1 || st.FragNoSlot != 1 {
		t.Fatalf("kinds %v, stats %+v", kinds, st)
	}
	if !bytes.Equal(kinds, []byte{1, 6, 1, 6, 6}) {
		t.Fatalf("ICMP and TCP did not alternate: %v", kinds)
	}
}

func TestFragmentedEchoAllocs(t *testing.T) {
	h := newHost(t, Config{MTU: 576, ReassemblySlots: 1, ReassemblyBytes: 3000, ICMPRatePerSec: -1})
	e := gvEcho(1, 1, make([]byte, 2000))
	var frags [][]byte
	for off := 0; off < len(e); off += 552 {
		frags = append(frags, frag(5, e, off, min(552, len(e)-off), 1))
	}
	in := make([]byte, 1500)
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(200, func() {
		for _, f := range frags {
			copy(in, f)
			h.Input(in[:len(f)], t0)
		}
		total := 0
		for n := h.Output(buf, t0); n > 0; n = h.Output(buf, t0) {
			total += n - 20
		}
		if total != len(e) {
			panic("no reply")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per fragmented echo", allocs)
	}
}

// TestTTLZeroAccepted: RFC 1122 §3.2.1.7 — "A host MUST NOT discard a
// datagram just because it was received with TTL less than 2". It used to
// drop TTL 0.
func TestTTLZeroAccepted(t *testing.T) {
	for _, ttl := range []uint8{0, 1} {
		h := newHost(t, Config{})
		data := make([]byte, 8)
		p := gvPacket(peerIP, cardIP, 1, 1, 0, 0, gvEcho(1, 1, data))
		p[8] = ttl
		p[10], p[11] = 0, 0
		binary.BigEndian.PutUint16(p[10:], Checksum(p[:20], 0))
		h.Input(p, t0)
		if echoSeq(output(h, t0), data) != 1 {
			t.Fatalf("TTL %d: not answered", ttl)
		}
	}
}

// TestCheckOptions is the option walk's table: each malformed shape gives
// its error and the offset (from the IP header) of the octet at fault.
func TestCheckOptions(t *testing.T) {
	rr := func(l, p byte, room int) []byte { return append([]byte{OptRR, l, p}, make([]byte, room)...) }
	cases := []struct {
		name string
		opt  []byte
		err  error
		at   int
	}{
		{"empty", nil, nil, 0},
		{"eol padding", []byte{0, 0, 0, 0}, nil, 0},
		{"nops", []byte{1, 1, 1, 0}, nil, 0},
		{"junk after eol", []byte{0, 7, 0, 0}, nil, 0},
		{"rr empty", rr(7, 4, 4), nil, 0},
		{"rr full", rr(7, 8, 4), nil, 0},
		{"rr 3 octets", rr(3, 4, 0), nil, 0},
		{"rr length 0", rr(0, 4, 1), ErrOptionLength, 21},
		{"rr length 1", rr(1, 4, 1), ErrOptionLength, 21},
		{"rr length 2", rr(2, 4, 1), ErrOptionLength, 21},
		{"rr past header", rr(39, 4, 1), ErrOptionLength, 21},
		{"rr pointer 0", rr(7, 0, 4), ErrOptionPointer, 22},
		{"rr pointer 3", rr(7, 3, 4), ErrOptionPointer, 22},
		{"rr pointer no room", rr(9, 8, 6), ErrOptionPointer, 22},
		{"type without length", []byte{1, 1, 1, 7}, ErrOptionLength, 23},
		{"unknown option skipped", []byte{99, 4, 0, 0}, nil, 0},
		{"unknown option length 1", []byte{99, 1, 0, 0}, ErrOptionLength, 21},
		{"ts ok", []byte{OptTS, 8, 5, 0, 0, 0, 0, 0}, nil, 0},
		{"ts full", []byte{OptTS, 8, 9, 0x10, 0, 0, 0, 0}, nil, 0},
		{"ts pairs ok", []byte{OptTS, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 0},
		{"ts pairs no room", []byte{OptTS, 8, 5, 1, 0, 0, 0, 0}, ErrOptionPointer, 22},
		{"ts length 3", []byte{OptTS, 3, 5, 0}, ErrOptionLength, 21},
		{"ts pointer 4", []byte{OptTS, 8, 4, 0, 0, 0, 0, 0}, ErrOptionPointer, 22},
		{"ts flag 2", []byte{OptTS, 8, 5, 2, 0, 0, 0, 0}, ErrOptionFlag, 23},
		{"router alert", []byte{OptRouterAlert, 4, 0, 0}, nil, 0},
		{"router alert length 3", []byte{OptRouterAlert, 3, 0, 0}, ErrOptionLength, 21},
		{"stream id length 6", []byte{OptStreamID, 6, 0, 0, 0, 0, 0, 0}, ErrOptionLength, 21},
		{"two rr", append(rr(3, 4, 0), OptRR, 3, 4, 0), ErrOptionRepeat, 23},
		{"lsrr then ssrr", []byte{OptLSRR, 3, 4, OptSSRR, 3, 4, 0, 0}, ErrOptionRepeat, 23},
		{"second option bad", []byte{1, OptRR, 7, 2, 0, 0, 0, 0}, ErrOptionPointer, 23},
	}
	for _, c := range cases {
		_, at, err := CheckOptions(c.opt)
		if !errors.Is(err, c.err) || at != c.at {
			t.Errorf("%s: %v at %d, want %v at %d", c.name, err, at, c.err, c.at)
		}
	}
	o, _, err := CheckOptions([]byte{OptLSRR, 7, 8, 10, 0, 0, 1, 0})
	if err != nil || o.SourceRoute != OptLSRR || !o.RouteDone {
		t.Fatalf("completed LSRR: %+v %v", o, err)
	}
	o, _, err = CheckOptions([]byte{OptSSRR, 7, 4, 10, 0, 0, 1, 0})
	if err != nil || o.SourceRoute != OptSSRR || o.RouteDone {
		t.Fatalf("incomplete SSRR: %+v %v", o, err)
	}
}

// TestBadOptionsParameterProblem: a malformed option drops the packet and
// draws an ICMP Parameter Problem (type 12, code 0) whose pointer is the
// octet at fault and which quotes the header and 8 octets (RFC 792); none
// about a non-initial fragment or an ICMP error (RFC 1122 §3.2.2); the
// ICMP token bucket limits them.
func TestBadOptionsParameterProblem(t *testing.T) {
	udp := []byte{0, 1, 0, 53, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	data := make([]byte, 16)
	echo := gvEcho(1, 1, data)
	cases := []struct {
		name  string
		proto uint8
		opt   []byte
		body  []byte
		ptr   int // 0: no Parameter Problem
	}{
		{"udp rr length 0", 17, []byte{OptRR, 0, 4, 0}, udp, 21},
		{"echo rr length 1", 1, []byte{OptRR, 1, 4, 0}, echo, 21},
		{"echo rr past header", 1, []byte{OptRR, 11, 4, 0, 0, 0, 0, 0}, echo, 21},
		{"echo rr pointer 2", 1, []byte{OptRR, 7, 2, 0, 0, 0, 0, 0}, echo, 22},
		{"echo ts flag 5", 1, []byte{OptTS, 8, 5, 5, 0, 0, 0, 0}, echo, 23},
		{"icmp error", 1, []byte{OptRR, 0, 4, 0}, []byte{3, 3, 0, 0, 0, 0, 0, 0}, 0},
	}
	for _, c := range cases {
		h := newHost(t, Config{})
		u := &fakeT{accept: true}
		h.Register(ProtoUDP, u)
		pkt := optPacket(peerIP, c.proto, c.opt, c.body)
		h.Input(pkt, t0)
		rep := output(h, t0)
		st := h.Stats()
		if st.InBadOptions != 1 || st.InDelivered != 0 || len(u.got) != 0 || st.ICMPEchoOut != 0 {
			t.Errorf("%s: not dropped: %+v", c.name, st)
			continue
		}
		if c.ptr == 0 {
			if len(rep) != 0 {
				t.Errorf("%s: ICMP sent about an ICMP error", c.name)
			}
			continue
		}
		ip := header.IPv4(rep)
		if len(rep) < 28 || !ip.IsChecksumValid() || ip.Protocol() != 1 || ip.DestinationAddress().As4() != peerIP {
			t.Errorf("%s: no Parameter Problem: %x", c.name, rep)
			continue
		}
		ic := ip.Payload()
		hl := int(pkt[0]&15) * 4
		if ic[0] != 12 || ic[1] != 0 || int(ic[4]) != c.ptr || gvSum(ic) != 0xffff || !bytes.Equal(ic[8:], pkt[:hl+8]) {
			t.Errorf("%s: Parameter Problem %x, want pointer %d", c.name, ic, c.ptr)
		}
		// The octet the pointer designates is the one at fault.
		if int(ic[4]) >= hl {
			t.Errorf("%s: pointer %d past the header", c.name, ic[4])
		}
	}
	// A non-initial fragment with a bad option: dropped, no error.
	h := newHost(t, Config{})
	f := optPacket(peerIP, 17, []byte{OptRR, 0, 4, 0}, udp)
	f[6], f[7] = 0, 1 // offset 8
	f[10], f[11] = 0, 0
	binary.BigEndian.PutUint16(f[10:], Checksum(f[:24], 0))
	h.Input(f, t0)
	if rep := output(h, t0); len(rep) != 0 || h.Stats().InBadOptions != 1 || h.Stats().FragIn != 0 {
		t.Fatalf("non-initial fragment: %x %+v", rep, h.Stats())
	}
	// Rate limit: a flood of bad options draws at most the bucket's burst.
	h = newHost(t, Config{ICMPRatePerSec: 10, ICMPBurst: 3})
	n := 0
	for i := 0; i < 50; i++ {
		h.Input(optPacket(peerIP, 1, []byte{OptRR, 1, 4, 0}, echo), t0)
		if len(output(h, t0)) > 0 {
			n++
		}
	}
	if n != 3 || h.Stats().ICMPRateLimited != 47 {
		t.Fatalf("%d Parameter Problems for 50 bad packets, %+v", n, h.Stats())
	}
}

// TestValidOptionsAccepted: well-formed options (record route, timestamp,
// router alert, an unknown one, a completed source route) do not stop a
// datagram (RFC 1122 §3.2.1.8); an incomplete source route does, silently
// (the card does not forward, §3.3.5).
func TestValidOptionsAccepted(t *testing.T) {
	data := make([]byte, 16)
	echo := gvEcho(1, 1, data)
	full := func(o ...byte) []byte { return append(o, make([]byte, int(o[1])-len(o))...) }
	for _, opt := range [][]byte{
		full(OptRR, 39, 4), // room for 9 addresses, as ping -R sends
		full(OptTS, 40, 5, 0),
		{OptRouterAlert, 4, 0, 0},
		{99, 2},
		{OptLSRR, 7, 8, 10, 0, 0, 9},
		{OptNOP, OptSSRR, 11, 12, 10, 0, 0, 9, 10, 0, 0, 8},
	} {
		h := newHost(t, Config{})
		h.Input(optPacket(peerIP, 1, opt, echo), t0)
		if echoSeq(output(h, t0), data) != 1 {
			t.Errorf("options %x: echo not answered: %+v", opt, h.Stats())
		}
	}
	h := newHost(t, Config{})
	h.Input(optPacket(peerIP, 1, []byte{OptLSRR, 11, 8, 10, 0, 0, 9, 10, 0, 0, 8}, echo), t0)
	if rep := output(h, t0); len(rep) != 0 || h.Stats().InSourceRoute != 1 {
		t.Fatalf("incomplete source route: %x %+v", rep, h.Stats())
	}
}

// TestMartianSources: a host drops datagrams whose source is not a single
// host (RFC 1122 §3.2.1.3: broadcast, multicast, 0/8, loopback) or its own
// address, and sends no ICMP about them.
func TestMartianSources(t *testing.T) {
	echo := gvEcho(1, 1, make([]byte, 8))
	for _, src := range []Addr{{0, 0, 0, 0}, {0, 1, 2, 3}, {127, 0, 0, 1}, {224, 0, 0, 1}, {239, 1, 1, 1}, {240, 0, 0, 1}, {255, 255, 255, 255}, cardIP} {
		h := newHost(t, Config{})
		h.Register(ProtoUDP, &fakeT{})
		h.Input(gvPacket(src, cardIP, 1, 1, 0, 0, echo), t0)
		h.Input(gvPacket(src, cardIP, 17, 1, 0, 0, []byte{0, 1, 0, 9, 0, 8, 0, 0}), t0)
		if rep := output(h, t0); len(rep) != 0 || h.Stats().InBadSource != 2 {
			t.Errorf("source %v: reply %x, %+v", src, rep, h.Stats())
		}
	}
}

// TestTinyFragmentOverTCPHeader: RFC 1858's tiny-fragment and overlapping
// fragment attacks. A first fragment of 8 bytes (ports only) followed by a
// fragment at offset 8 is reassembled only as sent; a fragment at offset 8
// that overlaps a first fragment carrying the whole TCP header (to rewrite
// its flags) drops the whole datagram (as RFC 5722 does for IPv6), and
// the rest of its fragments are discarded until the timeout.
func TestTinyFragmentOverTCPHeader(t *testing.T) {
	seg := make([]byte, 40)
	binary.BigEndian.PutUint16(seg[2:], 443)
	seg[13] = 0x10 // ACK
	tcp := &filterT{fakeT{accept: true, ports: map[uint16]bool{443: true}}}
	h := newHost(t, Config{})
	h.Register(ProtoTCP, tcp)
	h.Input(frag(1, seg, 0, 8, 6), t0)
	h.Input(frag(1, seg, 8, 32, 6), t0)
	if len(tcp.got) != 1 || !bytes.Equal(tcp.got[0], seg) {
		t.Fatal("tiny first fragment not reassembled as sent")
	}
	// Overlap: the second fragment rewrites the flags octet (13).
	evil := append([]byte(nil), seg...)
	evil[13] = 0x02 // SYN
	h.Input(gvPacket(peerIP, cardIP, 6, 2, header.IPv4FlagMoreFragments, 0, seg[:24]), t0)
	h.Input(gvPacket(peerIP, cardIP, 6, 2, 0, 8, evil[8:]), t0)
	h.Input(gvPacket(peerIP, cardIP, 6, 2, 0, 24, seg[24:]), t0)
	st := h.Stats()
	if len(tcp.got) != 1 || st.FragOverlap != 1 || st.FragDiscarded != 1 {
		t.Fatalf("overlapping fragment accepted: %d datagrams, %+v", len(tcp.got), st)
	}
}
