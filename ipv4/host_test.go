package ipv4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"netcard/internal/count/counttest"
	"testing"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	cardIP = Addr{10, 64, 64, 2}
	peerIP = Addr{10, 64, 64, 1}
	t0     = time.Unix(1_000_000, 0)
)

// gvPacket builds an IPv4 packet with gVisor's (independent) header code.
func gvPacket(src, dst Addr, proto uint8, id uint16, flags uint8, fragOff uint16, payload []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+len(payload))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), ID: id, Flags: flags, FragmentOffset: fragOff,
		TTL: 64, Protocol: proto, SrcAddr: tcpip.AddrFrom4(src), DstAddr: tcpip.AddrFrom4(dst),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(b[header.IPv4MinimumSize:], payload)
	return b
}

// gvEcho builds an ICMP echo request with gVisor's checksum code.
func gvEcho(ident, seq uint16, data []byte) []byte {
	b := make([]byte, header.ICMPv4MinimumSize+len(data))
	ic := header.ICMPv4(b)
	ic.SetType(header.ICMPv4Echo)
	ic.SetIdent(ident)
	ic.SetSequence(seq)
	copy(ic.Payload(), data)
	ic.SetChecksum(0)
	ic.SetChecksum(^gvSum(b))
	return b
}

func gvSum(b []byte) uint16 {
	return checksum.Checksum(b, 0) // gVisor's checksum package

}

// fakeT is a transport recording what it gets; out holds segments to send.
type fakeT struct {
	accept bool
	ports  map[uint16]bool // nil: no PortFilter behaviour wanted
	got    [][]byte
	out    [][]byte
	remote Addr
}

func (f *fakeT) Input(src, dst Addr, payload []byte, now time.Time) bool {
	f.got = append(f.got, append([]byte(nil), payload...))
	return f.accept
}

func (f *fakeT) Output(dst []byte, local Addr, now time.Time) (int, Addr) {
	if len(f.out) == 0 {
		return 0, Addr{}
	}
	n := copy(dst, f.out[0])
	f.out = f.out[1:]
	return n, f.remote
}

func (f *fakeT) Poll(now time.Time) time.Time { return time.Time{} }

type filterT struct{ fakeT }

func (f *filterT) Wants(port uint16) bool { return f.ports[port] }

func newHost(t testing.TB, cfg Config) *Host {
	if cfg.Local == (Addr{}) {
		cfg.Local = cardIP
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewSource(1))
	}
	return NewHost(cfg)
}

func output(h *Host, now time.Time) []byte {
	buf := make([]byte, 2000)
	n := h.Output(buf, now)
	return buf[:n]
}

func TestHeaderInteropGVisor(t *testing.T) {
	b := make([]byte, 40)
	PutHeader(b, &Fields{TOS: 0x10, TotalLen: 40, ID: 0xbeef, DF: true, TTL: 33, Protocol: ProtoTCP, Src: cardIP, Dst: peerIP})
	ip := header.IPv4(b)
	if !ip.IsValid(len(b)) || !ip.IsChecksumValid() {
		t.Fatal("gVisor rejects our header")
	}
	if ip.ID() != 0xbeef || ip.TTL() != 33 || ip.Protocol() != 6 || ip.Flags() != header.IPv4FlagDontFragment ||
		ip.SourceAddress() != tcpip.AddrFrom4(cardIP) || ip.DestinationAddress() != tcpip.AddrFrom4(peerIP) || ip.TotalLength() != 40 {
		t.Fatalf("gVisor reads different fields: %v", b[:20])
	}
	if got := AppendHeader(nil, &Fields{TOS: 0x10, TotalLen: 40, ID: 0xbeef, DF: true, TTL: 33, Protocol: ProtoTCP, Src: cardIP, Dst: peerIP}); !bytes.Equal(got, b[:20]) {
		t.Fatal("AppendHeader differs from PutHeader")
	}

	// gVisor-built packet with options and a fragment offset, parsed by us.
	p := make([]byte, 24+8)
	gip := header.IPv4(p)
	gip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(p)), ID: 7, Flags: header.IPv4FlagMoreFragments, FragmentOffset: 1480, TTL: 9, Protocol: 17,
		SrcAddr: tcpip.AddrFrom4(peerIP), DstAddr: tcpip.AddrFrom4(cardIP),
		Options: header.IPv4OptionsSerializer{&header.IPv4SerializableRouterAlertOption{}},
	})
	gip.SetChecksum(^gip.CalculateChecksum())
	copy(p[24:], "abcdefgh")
	h, err := Parse(append(p, 0, 0, 0)) // link padding after total length
	if err != nil {
		t.Fatal(err)
	}
	if h.HeaderLen() != 24 || len(h.Options()) != 4 || h.ID() != 7 || !h.MF() || h.DF() || h.FragOffset() != 1480 ||
		h.TTL() != 9 || h.Protocol() != 17 || h.Src() != peerIP || h.Dst() != cardIP || string(h.Payload()) != "abcdefgh" ||
		h.TotalLen() != 32 || !h.IsFragment() {
		t.Fatalf("fields: %+v", h)
	}
}

func TestParseErrors(t *testing.T) {
	good := gvPacket(peerIP, cardIP, 17, 1, 0, 0, []byte("12345678"))
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		pkt  []byte
		err  error
	}{
		{"short", good[:19], ErrShort},
		{"version", mut(func(b []byte) []byte { b[0] = 0x65; return b }), ErrVersion},
		{"ihl<5", mut(func(b []byte) []byte { b[0] = 0x44; return b }), ErrHeaderLen},
		{"ihl>len", mut(func(b []byte) []byte { b[0] = 0x4f; return b }), ErrHeaderLen},
		{"total>len", mut(func(b []byte) []byte { b[3] = 29; return b }), ErrLength},
		{"total<ihl", mut(func(b []byte) []byte { b[3] = 19; return b }), ErrLength},
		{"checksum", mut(func(b []byte) []byte { b[8]--; return b }), ErrChecksum},
	}
	for _, c := range cases {
		if _, err := Parse(c.pkt); err != c.err {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
		}
	}
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
}

// TestInputDropCounters feeds one bad packet per reason and checks that
// exactly its counter moved.
func TestInputDropCounters(t *testing.T) {
	udpPayload := []byte{0, 1, 0, 53, 0, 8, 0, 0}
	good := func() []byte { return gvPacket(peerIP, cardIP, 17, 1, 0, 0, udpPayload) }
	resum := func(b []byte) []byte {
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], Checksum(b[:20], 0))
		return b
	}
	cases := []struct {
		name    string
		pkt     []byte
		counter func(s *Stats) uint64
	}{
		{"short", good()[:10], func(s *Stats) uint64 { return s.InShort }},
		{"version", func() []byte { b := good(); b[0] = 0x65; return b }(), func(s *Stats) uint64 { return s.InBadVersion }},
		{"headerlen", func() []byte { b := good(); b[0] = 0x43; return b }(), func(s *Stats) uint64 { return s.InBadHeaderLen }},
		{"length", func() []byte { b := good(); b[3] = 200; return resum(b) }(), func(s *Stats) uint64 { return s.InBadLength }},
		{"checksum", func() []byte { b := good(); b[11]++; return b }(), func(s *Stats) uint64 { return s.InBadChecksum }},
		{"notforus", gvPacket(peerIP, Addr{10, 64, 64, 3}, 17, 1, 0, 0, udpPayload), func(s *Stats) uint64 { return s.InNotForUs }},
		{"broadcast", gvPacket(peerIP, Addr{255, 255, 255, 255}, 17, 1, 0, 0, udpPayload), func(s *Stats) uint64 { return s.InNotForUs }},
		{"bad option", optPacket(peerIP, 17, []byte{OptRR, 0, 0, 0}, udpPayload), func(s *Stats) uint64 { return s.InBadOptions }},
		{"source route", optPacket(peerIP, 17, []byte{OptLSRR, 7, 4, 10, 0, 0, 9, 0}, udpPayload), func(s *Stats) uint64 { return s.InSourceRoute }},
		{"src multicast", gvPacket(Addr{224, 0, 0, 1}, cardIP, 17, 1, 0, 0, udpPayload), func(s *Stats) uint64 { return s.InBadSource }},
		{"src self", gvPacket(cardIP, cardIP, 17, 1, 0, 0, udpPayload), func(s *Stats) uint64 { return s.InBadSource }},
		{"src loopback", gvPacket(Addr{127, 0, 0, 1}, cardIP, 17, 1, 0, 0, udpPayload), func(s *Stats) uint64 { return s.InBadSource }},
		{"no transport", gvPacket(peerIP, cardIP, 99, 1, 0, 0, udpPayload), func(s *Stats) uint64 { return s.InNoTransport }},
		{"filtered", gvPacket(peerIP, cardIP, 6, 1, 0, 0, []byte{0, 1, 0, 81, 0, 0, 0, 0}), func(s *Stats) uint64 { return s.InFiltered }},
		{"refused", good(), func(s *Stats) uint64 { return s.InRefused }},
		{"icmp short", gvPacket(peerIP, cardIP, 1, 1, 0, 0, []byte{8, 0, 0}), func(s *Stats) uint64 { return s.ICMPShort }},
		{"icmp checksum", func() []byte { e := gvEcho(1, 1, []byte("x")); e[2]++; return gvPacket(peerIP, cardIP, 1, 1, 0, 0, e) }(), func(s *Stats) uint64 { return s.ICMPBadChecksum }},
		{"frag bad length", gvPacket(peerIP, cardIP, 17, 1, header.IPv4FlagMoreFragments, 0, []byte("123456789")), func(s *Stats) uint64 { return s.FragBad }},
		{"frag too far", gvPacket(peerIP, cardIP, 17, 1, 0, 65528, []byte("123456789")), func(s *Stats) uint64 { return s.FragBad }},
	}
	for _, c := range cases {
		h := newHost(t, Config{})
		h.Register(ProtoUDP, &fakeT{accept: false})
		h.Register(ProtoTCP, &filterT{fakeT{accept: true, ports: map[uint16]bool{80: true}}})
		before := h.Stats()
		h.Input(c.pkt, t0)
		after := h.Stats()
		if c.counter(&after) != c.counter(&before)+1 {
			t.Errorf("%s: counter did not move: %+v", c.name, after)
		}
		if after.InDelivered != 0 {
			t.Errorf("%s: delivered", c.name)
		}
	}
	// A host without an address accepts nothing.
	h := NewHost(Config{})
	h.Input(gvPacket(peerIP, Addr{}, 17, 1, 0, 0, udpPayload), t0)
	if h.Stats().InNotForUs != 1 {
		t.Fatal("unaddressed host accepted a packet")
	}
}

func TestEchoInteropGVisor(t *testing.T) {
	h := newHost(t, Config{})
	data := make([]byte, 1500-28) // the largest unfragmented ping
	for i := range data {
		data[i] = byte(i)
	}
	req := gvPacket(peerIP, cardIP, 1, 77, 0, 0, gvEcho(0x1234, 9, data))
	h.Input(req, t0)
	rep := output(h, t0)
	if len(rep) != 1500 {
		t.Fatalf("reply length %d", len(rep))
	}
	ip := header.IPv4(rep)
	if !ip.IsValid(len(rep)) || !ip.IsChecksumValid() || ip.Protocol() != 1 ||
		ip.SourceAddress() != tcpip.AddrFrom4(cardIP) || ip.DestinationAddress() != tcpip.AddrFrom4(peerIP) {
		t.Fatal("gVisor rejects the reply's IP header")
	}
	ic := header.ICMPv4(ip.Payload())
	if ic.Type() != header.ICMPv4EchoReply || ic.Code() != 0 || ic.Ident() != 0x1234 || ic.Sequence() != 9 || !bytes.Equal(ic.Payload(), data) {
		t.Fatal("bad echo reply")
	}
	if gvSum(ic) != 0xffff {
		t.Fatal("gVisor: bad ICMP checksum in reply")
	}
	if len(output(h, t0)) != 0 {
		t.Fatal("second packet")
	}
	// Too big for the MTU: not answered.
	h2 := newHost(t, Config{MTU: 576})
	h2.Input(req, t0)
	if s := h2.Stats(); s.ICMPTooBig != 1 || len(output(h2, t0)) != 0 {
		t.Fatal("oversized echo answered")
	}
	s := h.Stats()
	if s.ICMPEchoIn != 1 || s.ICMPEchoOut != 1 || s.OutPackets != 1 || s.InDelivered != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestICMPRateLimit(t *testing.T) {
	h := newHost(t, Config{ICMPRatePerSec: 10, ICMPBurst: 3})
	req := gvPacket(peerIP, cardIP, 1, 1, 0, 0, gvEcho(1, 1, []byte("hi")))
	sent := 0
	for i := 0; i < 10; i++ {
		h.Input(req, t0)
		if len(output(h, t0)) > 0 {
			sent++
		}
	}
	if sent != 3 || h.Stats().ICMPRateLimited != 7 {
		t.Fatalf("burst: sent %d, limited %d", sent, h.Stats().ICMPRateLimited)
	}
	// 100ms later one more token.
	now := t0.Add(100 * time.Millisecond)
	h.Input(req, now)
	h.Input(req, now)
	if len(output(h, now)) == 0 || len(output(h, now)) != 0 {
		t.Fatal("refill: want exactly one reply")
	}
	// A long quiet period refills only up to the burst.
	now = now.Add(time.Hour)
	sent = 0
	for i := 0; i < 10; i++ {
		h.Input(req, now)
		if len(output(h, now)) > 0 {
			sent++
		}
	}
	if sent != 3 {
		t.Fatalf("after idle: sent %d", sent)
	}
}

func TestICMPErrors(t *testing.T) {
	h := newHost(t, Config{})
	u := &fakeT{accept: false}
	h.Register(ProtoUDP, u)
	udp := []byte{0x30, 0x39, 0, 53, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}
	pkt := gvPacket(peerIP, cardIP, 17, 5, 0, 0, udp)
	h.Input(pkt, t0)
	rep := output(h, t0)
	ip := header.IPv4(rep)
	if len(rep) != 20+8+20+8 || !ip.IsChecksumValid() || ip.DestinationAddress() != tcpip.AddrFrom4(peerIP) {
		t.Fatalf("port unreachable: %x", rep)
	}
	ic := header.ICMPv4(ip.Payload())
	if ic.Type() != header.ICMPv4DstUnreachable || ic.Code() != header.ICMPv4PortUnreachable || gvSum(ic) != 0xffff {
		t.Fatalf("port unreachable: %x", rep)
	}
	if !bytes.Equal(ic[8:], pkt[:28]) {
		t.Fatal("quote is not the original header + 8 bytes")
	}
	// Protocol unreachable.
	pkt = gvPacket(peerIP, cardIP, 132, 6, 0, 0, []byte("sctp...."))
	h.Input(pkt, t0)
	rep = output(h, t0)
	ic = header.ICMPv4(rep[20:])
	if ic.Type() != header.ICMPv4DstUnreachable || ic.Code() != header.ICMPv4ProtoUnreachable || !bytes.Equal(ic[8:], pkt) {
		t.Fatalf("protocol unreachable: %x", rep)
	}
	// Never an error about an ICMP error, nor about a non-first fragment.
	unreach := make([]byte, 8+28)
	unreach[0] = 3
	binary.BigEndian.PutUint16(unreach[2:], Checksum(unreach, 0))
	h.Input(gvPacket(peerIP, cardIP, 1, 7, 0, 0, unreach), t0)
	h.Input(gvPacket(peerIP, cardIP, 17, 8, 0, 8, udp[:8]), t0) // last fragment only
	if n := len(output(h, t0)); n != 0 {
		t.Fatalf("unexpected ICMP output of %d bytes", n)
	}
	if h.Stats().ICMPErrorsIn != 1 {
		t.Fatal("ICMP error not counted")
	}
	// Error queue bounded: 2 slots by default.
	for i := 0; i < 10; i++ {
		h.Input(gvPacket(peerIP, cardIP, 17, 5, 0, 0, udp), t0)
	}
	if s := h.Stats(); s.ICMPQueueFull != 8 {
		t.Fatalf("queue full %d", s.ICMPQueueFull)
	}
}

func TestOutputTransports(t *testing.T) {
	h := newHost(t, Config{MTU: 100})
	tcp := &fakeT{remote: peerIP, out: [][]byte{[]byte("tcp1"), []byte("tcp2")}}
	udp := &fakeT{remote: Addr{8, 8, 8, 8}, out: [][]byte{[]byte("udp1"), []byte("udp2")}}
	h.Register(ProtoTCP, tcp)
	h.Register(ProtoUDP, udp)
	var order []string
	var ids []uint16
	for {
		p := output(h, t0)
		if len(p) == 0 {
			break
		}
		hd, err := Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		if hd.DF() != (hd.Protocol() == ProtoTCP) || hd.Src() != cardIP || hd.TTL() != 64 {
			t.Fatalf("header %x", p[:20])
		}
		order = append(order, string(hd.Payload()))
		ids = append(ids, hd.ID())
	}
	if got := order; len(got) != 4 || got[0] != "tcp1" || got[1] != "udp1" || got[2] != "tcp2" || got[3] != "udp2" {
		t.Fatalf("order %v", order)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("ids %v", ids)
		}
	}
	// The transport sees at most MTU-20 bytes; nothing without an address.
	tcp.out = [][]byte{make([]byte, 500)}
	if n := len(output(h, t0)); n != 100 {
		t.Fatalf("MTU not applied: %d", n)
	}
	h.SetLocal(Addr{})
	tcp.out = [][]byte{[]byte("x")}
	if len(output(h, t0)) != 0 {
		t.Fatal("sent without an address")
	}
}

// frag returns the fragment [off, off+n) of datagram payload p.
func frag(id uint16, p []byte, off, n int, proto uint8) []byte {
	var flags uint8
	if off+n < len(p) {
		flags = header.IPv4FlagMoreFragments
	}
	return gvPacket(peerIP, cardIP, proto, id, flags, uint16(off), p[off:off+n])
}

func datagram(n int) []byte {
	p := make([]byte, n)
	binary.BigEndian.PutUint16(p[2:], 53)
	for i := 8; i < n; i++ {
		p[i] = byte(i * 13)
	}
	return p
}

func TestReassembly(t *testing.T) {
	p := datagram(1000)
	type piece struct{ off, n int }
	orders := map[string][]piece{
		"in order":     {{0, 400}, {400, 400}, {800, 200}},
		"out of order": {{800, 200}, {0, 400}, {400, 400}},
		"reverse":      {{800, 200}, {400, 400}, {0, 400}},
	}
	for name, pieces := range orders {
		h := newHost(t, Config{ReassemblySlots: 2, ReassemblyBytes: 2048})
		u := &fakeT{accept: true}
		h.Register(ProtoUDP, u)
		for _, pc := range pieces {
			h.Input(frag(42, p, pc.off, pc.n, 17), t0)
		}
		if len(u.got) != 1 || !bytes.Equal(u.got[0], p) {
			t.Fatalf("%s: got %d datagrams", name, len(u.got))
		}
		if s := h.Stats(); s.FragIn != 3 || s.FragReassembled != 1 || s.InDelivered != 1 {
			t.Fatalf("%s: stats %+v", name, s)
		}
		// The slot is free again: a second datagram with the same ID works.
		for _, pc := range pieces {
			h.Input(frag(42, p, pc.off, pc.n, 17), t0)
		}
		if len(u.got) != 2 {
			t.Fatalf("%s: slot not reused", name)
		}
	}
}

func TestReassemblyOverlap(t *testing.T) {
	p := datagram(1000)
	for _, second := range [][2]int{{392, 408}, {0, 400}, {200, 800}} { // partial overlap, duplicate, covering
		h := newHost(t, Config{})
		u := &fakeT{accept: true}
		h.Register(ProtoUDP, u)
		h.Input(frag(1, p, 0, 400, 17), t0)
		h.Input(frag(1, p, second[0], second[1], 17), t0)
		h.Input(frag(1, p, 400, 400, 17), t0)
		h.Input(frag(1, p, 800, 200, 17), t0)
		if len(u.got) != 0 {
			t.Fatalf("overlap %v: datagram delivered", second)
		}
		s := h.Stats()
		if s.FragOverlap != 1 || s.FragDiscarded < 1 {
			t.Fatalf("overlap %v: stats %+v", second, s)
		}
		// After the timeout the ID is usable again.
		h.Poll(t0.Add(16 * time.Second))
		for _, off := range []int{0, 400, 800} {
			h.Input(frag(1, p, off, min(400, 1000-off), 17), t0.Add(16*time.Second))
		}
		if len(u.got) != 1 || !bytes.Equal(u.got[0], p) {
			t.Fatalf("overlap %v: not recovered", second)
		}
		if h.Stats().FragTimeout != 0 {
			t.Fatal("a dead slot counted as a timeout")
		}
	}
}

func TestReassemblyTimeout(t *testing.T) {
	h := newHost(t, Config{ReassemblyTimeout: 10 * time.Second})
	u := &fakeT{accept: true}
	h.Register(ProtoUDP, u)
	p := datagram(1000)
	h.Input(frag(9, p, 0, 400, 17), t0)
	h.Input(frag(9, p, 800, 200, 17), t0.Add(time.Second))
	if next := h.Poll(t0.Add(5 * time.Second)); !next.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("next deadline %v", next)
	}
	if len(output(h, t0)) != 0 {
		t.Fatal("early output")
	}
	h.Poll(t0.Add(10 * time.Second))
	rep := output(h, t0.Add(10*time.Second))
	if len(rep) != 56 || rep[20] != 11 || rep[21] != 1 || Checksum(rep[20:], 0) != 0 {
		t.Fatalf("time exceeded: %x", rep)
	}
	if !bytes.Equal(rep[48:56], p[:8]) {
		t.Fatal("time exceeded does not quote the first 8 bytes")
	}
	h.Input(frag(9, p, 400, 400, 17), t0.Add(11*time.Second))
	if len(u.got) != 0 || h.Stats().FragTimeout != 1 {
		t.Fatal("timed-out datagram delivered")
	}
	// Without the first fragment: no ICMP.
	h.Poll(t0.Add(30 * time.Second))
	if len(output(h, t0.Add(30*time.Second))) != 0 || h.Stats().FragTimeout != 2 {
		t.Fatal("time exceeded without the first fragment")
	}
	if !h.Poll(t0.Add(31 * time.Second)).IsZero() {
		t.Fatal("timer pending with empty slots")
	}
}

func TestReassemblyExhaustion(t *testing.T) {
	h := newHost(t, Config{ReassemblySlots: 2, ReassemblyBytes: 2000})
	u := &fakeT{accept: true}
	h.Register(ProtoUDP, u)
	p := datagram(1000)
	h.Input(frag(1, p, 0, 400, 17), t0)
	h.Input(frag(2, p, 0, 400, 17), t0)
	h.Input(frag(3, p, 0, 400, 17), t0) // no slot
	if h.Stats().FragNoSlot != 1 {
		t.Fatal("exhaustion not counted")
	}
	// Datagram 1 still completes.
	h.Input(frag(1, p, 400, 400, 17), t0)
	h.Input(frag(1, p, 800, 200, 17), t0)
	if len(u.got) != 1 {
		t.Fatal("existing datagram lost")
	}
	// Larger than a slot (1000 bytes): dropped, the rest swallowed.
	big := datagram(1600)
	h.Input(frag(4, big, 0, 800, 17), t0)
	h.Input(frag(4, big, 800, 800, 17), t0)
	h.Input(frag(4, big, 0, 800, 17), t0)
	if s := h.Stats(); s.FragTooBig != 1 || s.FragDiscarded != 1 {
		t.Fatalf("too big: %+v", s)
	}
	// Reassembly disabled.
	h = newHost(t, Config{ReassemblySlots: -1})
	h.Input(frag(1, p, 0, 400, 17), t0)
	if h.Stats().FragNoSlot != 1 {
		t.Fatal("disabled reassembly accepted a fragment")
	}
	// Inconsistent last fragment.
	h = newHost(t, Config{})
	h.Register(ProtoUDP, u)
	h.Input(frag(1, p, 800, 200, 17), t0)
	h.Input(gvPacket(peerIP, cardIP, 17, 1, 0, 400, p[400:600]), t0)
	if h.Stats().FragBad != 1 {
		t.Fatal("two different ends accepted")
	}
}

func TestFragmentedPing(t *testing.T) {
	h := newHost(t, Config{ReassemblyBytes: 3000})
	data := make([]byte, 1200)
	for i := range data {
		data[i] = byte(i)
	}
	e := gvEcho(5, 6, data)
	h.Input(frag(3, e, 600, len(e)-600, 1), t0)
	h.Input(frag(3, e, 0, 600, 1), t0)
	rep := output(h, t0)
	if len(rep) != 20+len(e) || rep[20] != 0 || !bytes.Equal(rep[28:], data) || Checksum(rep[20:], 0) != 0 {
		t.Fatalf("fragmented ping: %d bytes", len(rep))
	}
}

func TestFilterFirstFragment(t *testing.T) {
	h := newHost(t, Config{})
	tcp := &filterT{fakeT{accept: true, ports: map[uint16]bool{443: true}}}
	h.Register(ProtoTCP, tcp)
	p := datagram(1000) // dst port 53: not wanted
	h.Input(frag(1, p, 0, 400, 6), t0)
	if s := h.Stats(); s.InFiltered != 1 || s.FragIn != 1 {
		t.Fatalf("first fragment not filtered: %+v", s)
	}
	binary.BigEndian.PutUint16(p[2:], 443)
	h.Input(gvPacket(peerIP, cardIP, 6, 1, 0, 0, p[:40]), t0)
	if len(tcp.got) != 1 || h.Stats().InDelivered != 1 {
		t.Fatal("wanted port dropped")
	}
}

func TestEchoAllocs(t *testing.T) {
	h := newHost(t, Config{ICMPRatePerSec: -1})
	req := gvPacket(peerIP, cardIP, 1, 1, 0, 0, gvEcho(1, 1, make([]byte, 56)))
	buf := make([]byte, 1500)
	in := make([]byte, len(req))
	allocs := testing.AllocsPerRun(1000, func() {
		copy(in, req)
		h.Input(in, t0)
		if h.Output(buf, t0) != len(req) {
			panic("no reply")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per echo", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	pkt := gvPacket(peerIP, cardIP, 17, 1, 0, 0, make([]byte, 100))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEchoRoundTrip(b *testing.B) {
	for _, size := range []int{56, 1472} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			h := newHost(b, Config{ICMPRatePerSec: -1})
			req := gvPacket(peerIP, cardIP, 1, 1, 0, 0, gvEcho(1, 1, make([]byte, size)))
			buf := make([]byte, 1500)
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				h.Input(req, t0)
				if h.Output(buf, t0) == 0 {
					b.Fatal("no reply")
				}
			}
		})
	}
}

type errT struct {
	fakeT
	typ, code uint8
	remote    Addr
	quoted    []byte
	info      uint32
}

func (e *errT) ICMPError(typ, code uint8, remote Addr, quoted []byte, info uint32, now time.Time) {
	e.typ, e.code, e.remote, e.quoted, e.info = typ, code, remote, append([]byte(nil), quoted...), info
}

func TestICMPErrorToTransport(t *testing.T) {
	h := newHost(t, Config{})
	tr := &errT{}
	h.Register(ProtoTCP, tr)
	// What the card sent: a TCP segment to 8.8.4.4:443.
	sent := gvPacket(cardIP, Addr{8, 8, 4, 4}, 6, 1, 0, 0, []byte{0xc0, 0x00, 0x01, 0xbb, 1, 2, 3, 4, 5, 6})
	msg := make([]byte, 8+28)
	msg[0], msg[1] = 3, 4 // fragmentation needed
	binary.BigEndian.PutUint16(msg[6:], 576)
	copy(msg[8:], sent[:28])
	binary.BigEndian.PutUint16(msg[2:], Checksum(msg, 0))
	h.Input(gvPacket(Addr{192, 0, 2, 1}, cardIP, 1, 9, 0, 0, msg), t0)
	if tr.typ != 3 || tr.code != 4 || tr.remote != (Addr{8, 8, 4, 4}) || tr.info != 576 || !bytes.Equal(tr.quoted, sent[20:28]) {
		t.Fatalf("error not passed up: %+v", tr)
	}
	// Not about our datagram: ignored.
	copy(msg[8+12:], []byte{1, 1, 1, 1})
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:], Checksum(msg, 0))
	tr.typ = 0
	h.Input(gvPacket(Addr{192, 0, 2, 1}, cardIP, 1, 9, 0, 0, msg), t0)
	if tr.typ != 0 || h.Stats().ICMPErrorsUp != 1 || h.Stats().ICMPErrorsIn != 2 {
		t.Fatal("spoofed error passed up")
	}
}

func TestIDSeededFromRand(t *testing.T) {
	first := func(seed int64) uint16 {
		h := NewHost(Config{Local: cardIP, Rand: rand.New(rand.NewSource(seed))})
		h.Register(ProtoUDP, &fakeT{remote: peerIP, out: [][]byte{[]byte("x")}})
		p, _ := Parse(output(h, t0))
		return p.ID()
	}
	if a, b, c := first(1), first(2), first(1); a == b || a != c {
		t.Fatal("IP ID not seeded from Rand")
	}
}

func TestFootprint(t *testing.T) {
	// MTU 576 and two 600-byte slots: the echo borrows the last slot.
	h := NewHost(Config{MTU: 576, ReassemblySlots: 2, ReassemblyBytes: 1200, ICMPErrorSlots: 2})
	// 2*96 errors + 2 slots * (600 payload + 10 bytes of bitmap for 76 blocks).
	if got := h.Footprint(); got != 192+2*(600+10) || !h.EchoShared() {
		t.Fatalf("footprint %d, shared %v", got, h.EchoShared())
	}
	// Slots smaller than the MTU: the echo buffer is its own.
	h = NewHost(Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 556, ICMPErrorSlots: 1})
	if got := h.Footprint(); got != 1500+96+556+9 || h.EchoShared() {
		t.Fatalf("footprint %d, shared %v", got, h.EchoShared())
	}
	// The card's configuration (Card profile): one MTU-sized slot, shared.
	h = NewHost(Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 1500})
	if got := h.Footprint(); got != 2*96+1500+24 || !h.EchoShared() {
		t.Fatalf("card footprint %d, shared %v", got, h.EchoShared())
	}
	t.Logf("default host footprint: %d bytes", NewHost(Config{}).Footprint())
	// The control block stays in the 288-byte size class (its counters in
	// 32 bits, the 16-byte TokenBucket, the error buffer a pointer; 320
	// before).
	if n := unsafe.Sizeof(Host{}); n > 288 {
		t.Fatalf("Host is %d bytes", n)
	}
	if n := unsafe.Sizeof(TokenBucket{}); n > 16 {
		t.Fatalf("TokenBucket is %d bytes", n)
	}
}

// TestStatsWiden: the Host keeps every Stats counter, by name, in 32 bits
// and Stats widens each one (none forgotten: a counter added to Stats
// alone fails here); a counter at 2^32-1 wraps to 0, as documented.
func TestStatsWiden(t *testing.T) {
	counttest.CheckWiden(t, (*stats32).export, 0)
	h := NewHost(Config{})
	h.stats.InPackets = math.MaxUint32
	h.Input([]byte{0x45}, time.Time{}) // a runt: counted, dropped
	if st := h.Stats(); st.InPackets != 0 || st.InShort != 1 {
		t.Fatalf("after 2^32 packets: InPackets %d, InShort %d", st.InPackets, st.InShort)
	}
}

// TestSharedEchoBuffer: with one MTU-sized reassembly slot the echo reply
// borrows its buffer; an echo takes it from a partial reassembly, and a
// reply going out keeps it.
func TestSharedEchoBuffer(t *testing.T) {
	h := newHost(t, Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 1500, ICMPRatePerSec: -1})
	if !h.EchoShared() {
		t.Fatal("echo buffer not shared")
	}
	u := &fakeT{accept: true}
	h.Register(ProtoUDP, u)
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	ping := func(seq uint16, n int) []byte {
		return gvPacket(peerIP, cardIP, 1, seq, 0, 0, gvEcho(1, seq, data[:n]))
	}
	isReply := func(rep []byte, seq uint16, n int) bool {
		ip := header.IPv4(rep)
		if len(rep) < 28 || ip.Protocol() != 1 || !ip.IsChecksumValid() {
			return false
		}
		ic := header.ICMPv4(ip.Payload())
		return ic.Type() == header.ICMPv4EchoReply && ic.Sequence() == seq && gvSum(ic) == 0xffff && bytes.Equal(ic.Payload(), data[:n])
	}
	// A plain ping.
	h.Input(ping(1, 1000), t0)
	if rep := output(h, t0); !isReply(rep, 1, 1000) {
		t.Fatalf("echo reply: %x", rep)
	}
	// A reassembly holds the buffer: a ping meanwhile takes it (an echo
	// never waits on reassembly, issue #13); the partial datagram is lost.
	p := datagram(1200)
	h.Input(frag(9, p, 0, 600, ProtoUDP), t0)
	h.Input(ping(2, 100), t0)
	if rep := output(h, t0); !isReply(rep, 2, 100) || h.Stats().FragPreempted != 1 {
		t.Fatalf("ping not answered during a reassembly: %d bytes, %+v", len(rep), h.Stats())
	}
	h.Input(frag(9, p, 600, 600, ProtoUDP), t0)
	if len(u.got) != 0 {
		t.Fatal("a preempted datagram was delivered")
	}
	h.Poll(t0.Add(time.Minute)) // the second half times out
	// Free again: a datagram is reassembled.
	h.Input(frag(10, p, 0, 600, ProtoUDP), t0.Add(time.Minute))
	h.Input(frag(10, p, 600, 600, ProtoUDP), t0.Add(time.Minute))
	if len(u.got) != 1 || !bytes.Equal(u.got[0], p) {
		t.Fatal("datagram not reassembled")
	}
	// A queued reply keeps its buffer: a fragment arriving before it is
	// sent is dropped; the reply goes out.
	h.Input(ping(4, 100), t0)
	if !h.Poll(t0).IsZero() {
		t.Fatal("a queued echo reply set a timer")
	}
	h.Input(frag(11, p, 600, 600, ProtoUDP), t0)
	if st := h.Stats(); st.FragNoSlot != 1 {
		t.Fatalf("fragment took the buffer of a queued reply: %+v", st)
	}
	if rep := output(h, t0); !isReply(rep, 4, 100) {
		t.Fatalf("queued echo reply: %x", rep)
	}
	// A fragmented ping is reassembled in the shared buffer and answered
	// from it (the reply overlaps the request).
	e := gvEcho(5, 6, data)
	h.Input(frag(11, e, 504, len(e)-504, 1), t0)
	h.Input(frag(11, e, 0, 504, 1), t0)
	if rep := output(h, t0); !isReply(rep, 6, len(data)) {
		t.Fatalf("fragmented ping: %x", rep)
	}
	// An echo as large as the MTU.
	big := gvPacket(peerIP, cardIP, 1, 12, 0, 0, gvEcho(1, 12, make([]byte, 1500-28)))
	h.Input(big, t0)
	if rep := output(h, t0); len(rep) != 1500 || Checksum(rep[20:], 0) != 0 {
		t.Fatalf("MTU-sized echo: %d bytes", len(rep))
	}
}

// optPacket builds a UDP/ICMP/... packet from src to the card whose header
// carries the option bytes opts (padded with EOL to a multiple of 4).
func optPacket(src Addr, proto uint8, opts, payload []byte) []byte {
	ol := (len(opts) + 3) &^ 3
	b := make([]byte, HeaderLen+ol+len(payload))
	PutHeader(b, &Fields{TotalLen: len(b), ID: 7, TTL: 64, Protocol: proto, Src: src, Dst: cardIP})
	b[0] = 0x40 | byte((HeaderLen+ol)/4)
	copy(b[HeaderLen:], opts)
	copy(b[HeaderLen+ol:], payload)
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:HeaderLen+ol], 0))
	return b
}
