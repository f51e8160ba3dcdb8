package ipv6

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"netcard/ipv4"
)

var (
	t0    = time.Unix(1_700_000_000, 0)
	card  = LinkLocal([8]byte{7: 1})                        // fe80::1
	peer  = LinkLocal([8]byte{7: 2})                        // fe80::2
	glob  = Addr{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 15: 1} // 2001:db8::1
	gpeer = Addr{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 15: 2}
)

// pkt builds an IPv6 packet: header, then body (extension headers and the
// upper layer as given), hop limit hl.
func pkt(src, dst Addr, nh uint8, hl uint8, body []byte) []byte {
	b := make([]byte, HeaderLen+len(body))
	PutHeader(b, &Fields{PayloadLen: len(body), NextHeader: nh, HopLimit: hl, Src: src, Dst: dst})
	copy(b[HeaderLen:], body)
	return b
}

// icmp builds an ICMPv6 message with its checksum for src → dst.
func icmp(src, dst Addr, typ, code uint8, rest []byte) []byte {
	m := append([]byte{typ, code, 0, 0}, rest...)
	binary.BigEndian.PutUint16(m[2:], ipv4.Checksum(m, PseudoHeaderSum(src, dst, ProtoICMP, len(m))))
	return m
}

func echoReq(src, dst Addr, id, seq uint16, data []byte) []byte {
	r := []byte{byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}
	return pkt(src, dst, ProtoICMP, 64, icmp(src, dst, TypeEchoRequest, 0, append(r, data...)))
}

func newTestHost(cfg Config) *Host {
	h := NewHost(cfg)
	h.AddAddr(card, false)
	return h
}

func out(t *testing.T, h *Host) []byte {
	t.Helper()
	var buf [2048]byte
	n := h.Output(buf[:], t0)
	if n == 0 {
		return nil
	}
	return append([]byte(nil), buf[:n]...)
}

// checkICMP parses an ICMPv6 packet the host sent and verifies its checksum.
func checkICMP(t *testing.T, p []byte) (Header, []byte) {
	t.Helper()
	h, err := Parse(p)
	if err != nil || h.NextHeader() != ProtoICMP {
		t.Fatalf("not an ICMPv6 packet: %v %x", err, p)
	}
	m := h.Payload()
	if ipv4.Checksum(m, PseudoHeaderSum(h.Src(), h.Dst(), ProtoICMP, len(m))) != 0 {
		t.Fatalf("bad ICMPv6 checksum: %x", p)
	}
	return h, m
}

func TestEcho(t *testing.T) {
	h := newTestHost(Config{})
	h.Input(echoReq(peer, card, 7, 9, []byte("ping six")), t0)
	p := out(t, h)
	hd, m := checkICMP(t, p)
	if hd.Src() != card || hd.Dst() != peer || m[0] != TypeEchoReply || string(m[8:]) != "ping six" ||
		binary.BigEndian.Uint16(m[4:]) != 7 || binary.BigEndian.Uint16(m[6:]) != 9 {
		t.Fatalf("reply %x", p)
	}
	// To all-nodes: answered from the link-local address (RFC 4443 §4.2).
	h.Input(echoReq(peer, AllNodes, 1, 1, nil), t0)
	if hd, _ := checkICMP(t, out(t, h)); hd.Src() != card {
		t.Fatalf("multicast echo answered from %v", hd.Src())
	}
	if s := h.Stats(); s.ICMPEchoOut != 2 {
		t.Fatalf("%+v", s)
	}
}

// TestEchoRateLimit: RFC 4443 §2.4 (f) — the token bucket bounds replies.
func TestEchoRateLimit(t *testing.T) {
	h := newTestHost(Config{ICMPRatePerSec: 10, ICMPBurst: 3})
	sent := 0
	for i := 0; i < 10; i++ {
		h.Input(echoReq(peer, card, 1, uint16(i), nil), t0)
		if out(t, h) != nil {
			sent++
		}
	}
	if sent != 3 || h.Stats().ICMPRateLimited != 7 {
		t.Fatalf("sent %d, %+v", sent, h.Stats())
	}
}

// TestDrops: every malformed or foreign packet is dropped, counted, and
// answered with nothing.
func TestDrops(t *testing.T) {
	good := echoReq(peer, card, 1, 1, []byte("x"))
	for _, tc := range []struct {
		name string
		p    []byte
		stat func(Stats) uint64
	}{
		{"short", good[:39], func(s Stats) uint64 { return s.InShort }},
		{"version 4", append([]byte{0x45}, good[1:]...), func(s Stats) uint64 { return s.InBadVersion }},
		{"payload length beyond", good[:len(good)-1], func(s Stats) uint64 { return s.InBadLength }},
		{"not for us", echoReq(peer, glob, 1, 1, nil), func(s Stats) uint64 { return s.InNotForUs }},
		{"multicast source", echoReq(AllNodes, card, 1, 1, nil), func(s Stats) uint64 { return s.InBadSource }},
		{"our own source", echoReq(card, card, 1, 1, nil), func(s Stats) uint64 { return s.InBadSource }},
		{"mapped source", echoReq(From4(ipv4.Addr{10, 0, 0, 1}), card, 1, 1, nil), func(s Stats) uint64 { return s.InBadSource }},
		{"bad checksum", func() []byte { p := append([]byte(nil), good...); p[len(p)-1] ^= 1; return p }(), func(s Stats) uint64 { return s.ICMPBadChecksum }},
		{"ICMPv6 short", pkt(peer, card, ProtoICMP, 64, []byte{128, 0}), func(s Stats) uint64 { return s.ICMPShort }},
		{"unknown informational", pkt(peer, card, ProtoICMP, 64, icmp(peer, card, 200, 0, nil)), func(s Stats) uint64 { return s.ICMPOtherIn }},
		{"unspecified source echo", echoReq(Addr{}, card, 1, 1, nil), func(s Stats) uint64 { return s.ICMPEchoIn }},
	} {
		h := newTestHost(Config{})
		h.Input(tc.p, t0)
		if tc.stat(h.Stats()) != 1 {
			t.Errorf("%s: not counted: %+v", tc.name, h.Stats())
		}
		if p := out(t, h); p != nil {
			t.Errorf("%s: answered %x", tc.name, p)
		}
	}
}

// problem expects a Parameter Problem (RFC 4443 §3.4) with code and pointer.
func wantProblem(t *testing.T, h *Host, code uint8, ptr uint32) {
	t.Helper()
	p := out(t, h)
	if p == nil {
		t.Fatal("no Parameter Problem sent")
	}
	hd, m := checkICMP(t, p)
	if m[0] != TypeParamProblem || m[1] != code || binary.BigEndian.Uint32(m[4:]) != ptr || hd.Dst() != peer {
		t.Fatalf("got type %d code %d pointer %d to %v, want code %d pointer %d", m[0], m[1], binary.BigEndian.Uint32(m[4:]), hd.Dst(), code, ptr)
	}
}

func TestExtensionHeaders(t *testing.T) {
	ping := icmp(peer, card, TypeEchoRequest, 0, []byte{0, 1, 0, 1})
	// A destination options header with PadN, then the echo: answered.
	h := newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoDstOpts, 64, append([]byte{ProtoICMP, 0, 1, 4, 0, 0, 0, 0}, ping...)), t0)
	if _, m := checkICMP(t, out(t, h)); m[0] != TypeEchoReply {
		t.Fatal("echo behind destination options not answered")
	}
	// Unknown option type 0x80 (action 10): Parameter Problem code 2,
	// pointer at the option type (offset 40+2).
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoDstOpts, 64, append([]byte{ProtoICMP, 0, 0x80, 4, 0, 0, 0, 0}, ping...)), t0)
	wantProblem(t, h, CodeUnrecognizedOpt, 42)
	// Action 01: discarded silently.
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoDstOpts, 64, append([]byte{ProtoICMP, 0, 0x40, 4, 0, 0, 0, 0}, ping...)), t0)
	if p := out(t, h); p != nil || h.Stats().InExtProblem != 1 {
		t.Fatalf("action 01 answered: %x", p)
	}
	// Action 11 to a multicast destination: no ICMP (RFC 8200 §4.2).
	h = newTestHost(Config{})
	h.Input(pkt(peer, AllNodes, ProtoDstOpts, 64, append([]byte{ProtoICMP, 0, 0xc0, 4, 0, 0, 0, 0}, icmp(peer, AllNodes, TypeEchoRequest, 0, []byte{0, 1, 0, 1})...)), t0)
	if p := out(t, h); p != nil {
		t.Fatalf("action 11 to multicast answered: %x", p)
	}
	// Hop-by-hop after another header: code 1 at the next-header field
	// that names it (offset 40).
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoDstOpts, 64, append([]byte{ProtoHopByHop, 0, 1, 4, 0, 0, 0, 0, ProtoICMP, 0, 1, 4, 0, 0, 0, 0}, ping...)), t0)
	wantProblem(t, h, CodeUnrecognizedNext, 40)
	// Routing header with segments left: code 0 at the routing type (42).
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoRouting, 64, append([]byte{ProtoICMP, 0, 4, 1, 0, 0, 0, 0}, ping...)), t0)
	wantProblem(t, h, CodeErroneousField, 42)
	// ... and with segments left 0 it is ignored.
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoRouting, 64, append([]byte{ProtoICMP, 0, 4, 0, 0, 0, 0, 0}, ping...)), t0)
	if _, m := checkICMP(t, out(t, h)); m[0] != TypeEchoReply {
		t.Fatal("echo behind a spent routing header not answered")
	}
	// Unknown upper layer (no transport for 6): code 1 at offset 6.
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoTCP, 64, make([]byte, 20)), t0)
	wantProblem(t, h, CodeUnrecognizedNext, 6)
	// A truncated extension header: dropped, no answer.
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoDstOpts, 64, []byte{ProtoICMP, 3, 1, 4}), t0)
	if p := out(t, h); p != nil || h.Stats().InExtProblem != 1 {
		t.Fatalf("truncated header answered %x", p)
	}
	// Too many headers (7 destination options): dropped.
	var chain []byte
	for i := 0; i < 7; i++ {
		chain = append(chain, ProtoDstOpts, 0, 1, 4, 0, 0, 0, 0)
	}
	chain[len(chain)-8] = ProtoICMP
	h = newTestHost(Config{})
	h.Input(pkt(peer, card, ProtoDstOpts, 64, append(chain, ping...)), t0)
	if p := out(t, h); p != nil || h.Stats().InExtProblem != 1 {
		t.Fatalf("long chain answered %x", p)
	}
}

// TestNoErrorAboutErrors: RFC 4443 §2.4 (e) — no error about an ICMPv6
// error message, nor to a multicast destination.
func TestNoErrorAboutErrors(t *testing.T) {
	h := newTestHost(Config{})
	msg := icmp(peer, card, TypeDstUnreach, 4, make([]byte, 4+48))
	h.Input(pkt(peer, card, ProtoDstOpts, 64, append([]byte{ProtoICMP, 0, 0x80, 4, 0, 0, 0, 0}, msg...)), t0)
	if p := out(t, h); p != nil {
		t.Fatalf("error about an error: %x", p)
	}
	h.Input(pkt(peer, AllNodes, ProtoTCP, 64, make([]byte, 20)), t0)
	if p := out(t, h); p != nil {
		t.Fatalf("error to a multicast destination: %x", p)
	}
}

// frag builds a fragment of an ICMPv6 message: a fragment header (id,
// offset, M) and data.
func frag(src, dst Addr, id uint32, off int, more bool, data []byte) []byte {
	fh := make([]byte, 8)
	fh[0] = ProtoICMP
	fo := uint16(off)
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], fo)
	binary.BigEndian.PutUint32(fh[4:], id)
	return pkt(src, dst, ProtoFragment, 64, append(fh, data...))
}

func TestReassembly(t *testing.T) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i)
	}
	msg := icmp(peer, card, TypeEchoRequest, 0, append([]byte{0, 5, 0, 6}, data...))
	h := newTestHost(Config{MTU: 1500})
	h.Input(frag(peer, card, 42, 512, false, msg[512:]), t0)
	h.Input(frag(peer, card, 42, 0, true, msg[:512]), t0)
	hd, m := checkICMP(t, out(t, h))
	if m[0] != TypeEchoReply || len(m) != len(msg) || hd.Dst() != peer || h.Stats().FragReassembled != 1 {
		t.Fatalf("reassembled echo: %d bytes, %+v", len(m), h.Stats())
	}
	// Overlap (RFC 5722): the whole datagram is dropped.
	h = newTestHost(Config{MTU: 1500})
	h.Input(frag(peer, card, 43, 0, true, msg[:512]), t0)
	h.Input(frag(peer, card, 43, 504, false, msg[504:]), t0)
	h.Input(frag(peer, card, 43, 512, false, msg[512:]), t0)
	if p := out(t, h); p != nil || h.Stats().FragOverlap != 1 {
		t.Fatalf("overlap: %x %+v", p, h.Stats())
	}
	// A non-final fragment not a multiple of 8: Parameter Problem code 0,
	// pointer 4 (Payload Length), RFC 8200 §4.5.
	h = newTestHost(Config{MTU: 1500})
	h.Input(frag(peer, card, 44, 0, true, msg[:500]), t0)
	wantProblem(t, h, CodeErroneousField, 4)
	// Beyond 65,535 bytes: pointer at the Fragment Offset field (42).
	h = newTestHost(Config{MTU: 1500})
	h.Input(frag(peer, card, 45, 65528, false, msg[:16]), t0)
	wantProblem(t, h, CodeErroneousField, 42)
	// Larger than the slot: dropped. A missing fragment: timed out.
	h = newTestHost(Config{MTU: 1500, ReassemblyBytes: 1024})
	h.Input(frag(peer, card, 46, 1024, false, msg[:16]), t0)
	h.Input(frag(peer, card, 47, 0, true, msg[:16]), t0) // the dead datagram holds the slot
	if h.Stats().FragTooBig != 1 || h.Stats().FragNoSlot != 1 {
		t.Fatalf("%+v", h.Stats())
	}
	t1 := t0.Add(61 * time.Second)
	h.Poll(t1)
	h.Input(frag(peer, card, 47, 0, true, msg[:16]), t1)
	if next := h.Poll(t1); !next.Equal(t1.Add(60 * time.Second)) {
		t.Fatalf("next poll %v", next)
	}
	h.Poll(t1.Add(60 * time.Second))
	if h.Stats().FragTimeout != 1 || h.reasm.slots[0].state != 0 {
		t.Fatalf("timeout: %+v", h.Stats())
	}
	// All slots busy: counted.
	h = newTestHost(Config{MTU: 1500})
	h.Input(frag(peer, card, 48, 0, true, msg[:16]), t0)
	h.Input(frag(peer, card, 49, 0, true, msg[:16]), t0)
	if h.Stats().FragNoSlot != 1 {
		t.Fatalf("%+v", h.Stats())
	}
	// Reassembly disabled: every fragment finds no slot.
	h = newTestHost(Config{ReassemblySlots: -1})
	h.Input(frag(peer, card, 50, 0, true, msg[:16]), t0)
	if h.Stats().FragNoSlot != 1 || h.Footprint() != 1280+2*errMax+ctlMax {
		t.Fatalf("%+v footprint %d", h.Stats(), h.Footprint())
	}
}

func TestFootprint(t *testing.T) {
	for _, cfg := range []Config{{}, {MTU: 1500}, {ReassemblySlots: -1}, {ReassemblySlots: 2, ReassemblyBytes: 3000, ICMPErrorSlots: 4}} {
		if a, b := NewHost(cfg).Footprint(), Footprint(cfg); a != b {
			t.Errorf("%+v: host %d, Footprint %d", cfg, a, b)
		}
	}
}

func ns(src, dst, target Addr, hl uint8) []byte {
	body := make([]byte, 20)
	copy(body[4:], target[:])
	return pkt(src, dst, ProtoICMP, hl, icmp(src, dst, TypeNeighborSol, 0, body))
}

func TestNeighborSolicitation(t *testing.T) {
	h := newTestHost(Config{})
	h.SetLinkLayer([6]byte{2, 0, 0, 0, 0, 1})
	h.Input(ns(peer, SolicitedNode(card), card, 255), t0)
	hd, m := checkICMP(t, out(t, h))
	if m[0] != TypeNeighborAdv || m[4] != 0x60 || Addr(m[8:24]) != card || hd.HopLimit() != 255 || hd.Dst() != peer ||
		len(m) != 32 || m[24] != 2 || m[31] != 1 {
		t.Fatalf("NA %x", m)
	}
	// RFC 4861 §7.1.1: hop limit not 255 — dropped.
	h.Input(ns(peer, SolicitedNode(card), card, 64), t0)
	if p := out(t, h); p != nil || h.Stats().ICMPNDBad != 1 {
		t.Fatalf("NS with hop limit 64 answered")
	}
	// A solicitation for someone else: silence.
	h.Input(ns(peer, SolicitedNode(glob), glob, 255), t0)
	if p := out(t, h); p != nil {
		t.Fatalf("NS for another address answered")
	}
	// From the unspecified address (DAD) to a unicast destination: invalid.
	h.Input(ns(Addr{}, card, card, 255), t0)
	if p := out(t, h); p != nil || h.Stats().ICMPNDBad != 2 {
		t.Fatalf("DAD NS to unicast accepted")
	}
}

// TestDAD: RFC 4862 §5.4 — the probe's form, and a tentative address given
// up when another node probes for it or advertises it.
func TestDAD(t *testing.T) {
	h := NewHost(Config{})
	h.AddAddr(glob, true)
	h.SendDADProbe(glob)
	hd, m := checkICMP(t, out(t, h))
	if hd.Src() != (Addr{}) || hd.Dst() != SolicitedNode(glob) || m[0] != TypeNeighborSol || Addr(m[8:24]) != glob || len(m) != 24 {
		t.Fatalf("probe %x", m)
	}
	// Traffic to a tentative address is not accepted.
	h.Input(echoReq(gpeer, glob, 1, 1, nil), t0)
	if out(t, h) != nil || h.Stats().InNotForUs != 1 {
		t.Fatal("tentative address answered an echo")
	}
	h.Input(ns(Addr{}, SolicitedNode(glob), glob, 255), t0)
	if h.Duplicates() != 1 || len(h.Addrs(nil)) != 0 || h.ours(glob, true) {
		t.Fatal("duplicate not detected from a probe")
	}
	h.AddAddr(glob, false)
	body := make([]byte, 20)
	copy(body[4:], glob[:])
	h.Input(pkt(gpeer, AllNodes, ProtoICMP, 255, icmp(gpeer, AllNodes, TypeNeighborAdv, 0, body)), t0)
	if h.Duplicates() != 2 || h.Global() != (Addr{}) {
		t.Fatal("duplicate not detected from an advertisement")
	}
}

func TestEchoAllocs(t *testing.T) {
	h := newTestHost(Config{ICMPRatePerSec: -1})
	p := echoReq(peer, card, 1, 1, make([]byte, 56))
	var buf [1500]byte
	n := testing.AllocsPerRun(200, func() {
		h.Input(p, t0)
		h.Output(buf[:], t0)
	})
	if n != 0 {
		t.Fatalf("%v allocations per echo", n)
	}
}

func foldSum(b []byte, initial uint32) uint16 { return ^ipv4.Checksum(b, initial) }

type errSink struct {
	sink
	got []uint32
}

func (e *errSink) ICMPError6(typ, code uint8, local, remote Addr, quoted []byte, info uint32, now time.Time) {
	if local == card && remote == peer && len(quoted) >= 8 && typ == TypePacketTooBig {
		e.got = append(e.got, info)
	}
}

// TestPacketTooBigUp: RFC 4443 §2.4 (b) / RFC 8201 — a Packet Too Big
// quoting one of our packets reaches its transport with the MTU; one
// quoting a packet from another address does not.
func TestPacketTooBigUp(t *testing.T) {
	h := newTestHost(Config{})
	e := &errSink{}
	h.Register(ProtoTCP, e)
	seg := pkt(card, peer, ProtoTCP, 64, make([]byte, 20))
	ptb := func(quoted []byte) []byte {
		return pkt(router, card, ProtoICMP, 64, icmp(router, card, TypePacketTooBig, 0, append([]byte{0, 0, 5, 0}, quoted...)))
	}
	h.Input(ptb(seg), t0)
	if len(e.got) != 1 || e.got[0] != 1280 || h.Stats().PacketTooBigIn != 1 {
		t.Fatalf("got %v %+v", e.got, h.Stats())
	}
	h.Input(ptb(pkt(glob, peer, ProtoTCP, 64, make([]byte, 20))), t0)
	h.Input(ptb(seg[:44]), t0) // transport header cut short
	if len(e.got) != 1 {
		t.Fatalf("foreign or short quote delivered: %v", e.got)
	}
}

// TestIncompleteChain: RFC 7112 — a first fragment without the whole
// header chain (here: a TCP fragment of 8 bytes, the TCP header cut) is
// dropped with a Parameter Problem, code 3; nothing is reassembled.
func TestIncompleteChain(t *testing.T) {
	h := newTestHost(Config{MTU: 1500})
	fh := []byte{ProtoTCP, 0, 0, 1, 0, 0, 0, 7}
	h.Input(pkt(peer, card, ProtoFragment, 64, append(fh, make([]byte, 8)...)), t0)
	wantProblem(t, h, CodeIncompleteChain, 0)
	if h.reasm.slots[0].state != 0 {
		t.Fatal("incomplete first fragment held a slot")
	}
	// A first fragment carrying the TCP header is fine.
	h.Input(pkt(peer, card, ProtoFragment, 64, append(fh, make([]byte, 24)...)), t0)
	if out(t, h) != nil || h.reasm.slots[0].state != 1 {
		t.Fatal("complete first fragment refused")
	}
}

func TestOwner(t *testing.T) {
	a := Addr{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9}
	b := a
	b[15] = 1
	if a.Owner() != b.Owner() || a.Owner() != (Addr{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1}) {
		t.Fatal("one /64, two owners")
	}
	c := a
	c[7] = 2
	if c.Owner() == a.Owner() {
		t.Fatal("two /64s, one owner")
	}
	v4 := From4([4]byte{10, 0, 0, 1})
	if v4.Owner() != v4 || From4([4]byte{10, 0, 0, 2}).Owner() == v4.Owner() {
		t.Fatal("IPv4 owners")
	}
}

// TestEchoSharesReassemblySlot: the echo buffer is the reassembly slot
// (MTU-sized), as in ipv4.Host: a reassembled echo request is answered in
// place with its data intact; an echo preempts a partial reassembly
// (counted) rather than wait 60 s for it; a fragment arriving while the
// reply is queued finds no slot.
func TestEchoSharesReassemblySlot(t *testing.T) {
	h := newTestHost(Config{MTU: 1500})
	if h.echoSlot == nil || h.Footprint() != Footprint(Config{MTU: 1500}) || h.Footprint() != 1504+24+2*errMax+ctlMax {
		t.Fatalf("echo buffer not shared: footprint %d", h.Footprint())
	}
	data := make([]byte, 1200)
	for i := range data {
		data[i] = byte(i * 7)
	}
	msg := icmp(peer, card, TypeEchoRequest, 0, append([]byte{0, 5, 0, 6}, data...))
	h.Input(frag(peer, card, 1, 0, true, msg[:600]), t0)
	h.Input(frag(peer, card, 1, 600, false, msg[600:]), t0)
	_, m := checkICMP(t, out(t, h))
	if m[0] != TypeEchoReply || !bytesEqual(m[8:], data) {
		t.Fatal("reassembled echo answered with other data")
	}
	h.Input(frag(peer, card, 2, 0, true, msg[:600]), t0) // a partial datagram
	h.Input(echoReq(peer, card, 1, 1, []byte("ping")), t0)
	h.Input(frag(peer, card, 3, 0, true, msg[:600]), t0) // while the reply waits
	if s := h.Stats(); s.FragPreempted != 1 || s.FragNoSlot != 1 {
		t.Fatalf("%+v", s)
	}
	if _, m := checkICMP(t, out(t, h)); string(m[8:]) != "ping" {
		t.Fatal("echo lost")
	}
	h.Input(frag(peer, card, 4, 0, true, msg[:600]), t0) // the slot is free again
	if h.reasm.slots[0].state != 1 {
		t.Fatal("slot not freed after the reply")
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestReassemblyTimeExceeded: RFC 8200 §4.5 — a datagram abandoned after
// 60 s draws a Time Exceeded (code 1) when its first fragment had come,
// and nothing when it had not.
func TestReassemblyTimeExceeded(t *testing.T) {
	msg := icmp(peer, card, TypeEchoRequest, 0, make([]byte, 100))
	h := newTestHost(Config{MTU: 1500})
	h.Input(frag(peer, card, 7, 0, true, msg[:64]), t0)
	h.Poll(t0.Add(60 * time.Second))
	hd, m := checkICMP(t, out(t, h))
	if m[0] != TypeTimeExceeded || m[1] != 1 || hd.Dst() != peer || Addr(m[8+24:8+40]) != card || m[8+40] != ProtoICMP ||
		binary.BigEndian.Uint32(m[8+44:]) != 7 || h.Stats().FragTimeout != 1 {
		t.Fatalf("time exceeded %x", m)
	}
	h = newTestHost(Config{MTU: 1500})
	h.Input(frag(peer, card, 8, 64, false, msg[64:]), t0)
	h.Poll(t0.Add(60 * time.Second))
	if p := out(t, h); p != nil || h.Stats().FragTimeout != 1 {
		t.Fatalf("time exceeded without the first fragment: %x", p)
	}
}

// TestTimeExceededQuotesOnlyReceived: the Time Exceeded of an abandoned
// datagram quotes only the bytes that arrived from offset 0 — never what
// an earlier datagram left in the reassembly buffer beyond them (a later
// fragment having arrived does not make the gap before it count).
func TestTimeExceededQuotesOnlyReceived(t *testing.T) {
	h := newTestHost(Config{MTU: 1500, ICMPRatePerSec: -1})
	secret := icmp(peer, card, TypeEchoRequest, 0, bytes.Repeat([]byte{0xaa}, 200))
	h.Input(frag(peer, card, 1, 0, true, secret[:104]), t0)
	h.Input(frag(peer, card, 1, 104, false, secret[104:]), t0)
	for out(t, h) != nil { // the echo reply
	}
	msg := icmp(peer, card, TypeEchoRequest, 0, bytes.Repeat([]byte{0x11}, 100))
	h.Input(frag(peer, card, 2, 0, true, msg[:8]), t0)
	h.Input(frag(peer, card, 2, 24, true, msg[24:48]), t0)
	h.Poll(t0.Add(61 * time.Second))
	_, m := checkICMP(t, out(t, h))
	quoted := m[8+HeaderLen+8:] // ICMPv6 header, rebuilt IPv6 and fragment headers
	if m[0] != TypeTimeExceeded || !bytes.Equal(quoted, msg[:8]) {
		t.Fatalf("quoted %x, want %x", quoted, msg[:8])
	}
}
