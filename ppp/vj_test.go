package ppp

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
	"time"
	"unsafe"
)

// seg describes a hand-built IPv4/TCP packet.
type seg struct {
	src, dst     [4]byte
	sport, dport uint16
	seq, ack     uint32
	flags        byte
	win, urp     uint16
	id           uint16
	ttl, tos     byte
	df           bool
	ipOpts       []byte // multiple of 4
	tcpOpts      []byte // multiple of 4
	data         int    // payload length
}

// tcpSeg builds the packet with valid IP and TCP checksums.
func tcpSeg(s seg) []byte {
	ihl := 20 + len(s.ipOpts)
	thl := 20 + len(s.tcpOpts)
	n := ihl + thl + s.data
	p := make([]byte, n)
	p[0] = 0x40 | byte(ihl/4)
	p[1] = s.tos
	put16(p[2:], uint16(n))
	put16(p[4:], s.id)
	if s.df {
		p[6] = 0x40
	}
	p[8] = s.ttl
	if p[8] == 0 {
		p[8] = 64
	}
	p[9] = 6
	copy(p[12:16], s.src[:])
	copy(p[16:20], s.dst[:])
	copy(p[20:], s.ipOpts)
	put16(p[10:], ipChecksum(p[:ihl]))
	th := p[ihl:]
	put16(th[0:], s.sport)
	put16(th[2:], s.dport)
	put32(th[4:], s.seq)
	put32(th[8:], s.ack)
	th[12] = byte(thl/4) << 4
	th[13] = s.flags
	put16(th[14:], s.win)
	put16(th[18:], s.urp)
	copy(th[20:], s.tcpOpts)
	for i := thl; i < len(th); i++ {
		th[i] = byte(int(s.seq) + i) // data with flags, escapes and control characters
	}
	// TCP checksum over the pseudo-header (RFC 9293 §3.1): it travels
	// verbatim in a compressed header.
	var ph [12]byte
	copy(ph[0:8], p[12:20])
	ph[9] = 6
	put16(ph[10:], uint16(len(th)))
	put16(th[16:], ^onesSum(append(ph[:], th...)))
	return p
}

func onesSum(b []byte) uint16 {
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return ^ipChecksum(b)
}

var (
	hostA = [4]byte{10, 0, 2, 15}
	hostB = [4]byte{10, 0, 2, 2}
)

// vjPair is a compressor and a decompressor with n slots, wired as if
// negotiated with compSlot.
type vjPair struct {
	noHold bool // tests of the other rules: no vjHold after a retransmission
	c      vjComp
	d      vjDecomp
	st     vjStats32
	buf    []byte
}

func newVJPair(n int, compSlot bool) *vjPair {
	v := &vjPair{buf: make([]byte, vjRxHdr+4+2000)}
	v.c.slots = make([]vjTxSlot, n)
	v.d.slots = make([]vjRxSlot, n)
	v.c.reset(n-1, compSlot)
	v.d.reset(n - 1)
	return v
}

// send compresses pkt (a copy) and returns the protocol and the frame's
// information field as it would go on the line.
func (v *vjPair) send(pkt []byte) (uint16, []byte) {
	p := append([]byte(nil), pkt...)
	proto, off := v.c.compress(p, &v.st)
	if v.noHold {
		for i := range v.c.slots {
			v.c.slots[i].hold = 0
		}
	}
	return proto, p[off:]
}

// recv runs the decompressor on an information field and returns the
// rebuilt packet (nil if dropped).
func (v *vjPair) recv(proto uint16, info []byte) []byte {
	switch proto {
	case ProtoIP:
		return append([]byte(nil), info...)
	case ProtoVJUncomp:
		p := append([]byte(nil), info...)
		if !v.d.uncompressed(p) {
			return nil
		}
		return p
	}
	start := vjRxHdr + 4
	copy(v.buf[start:], info)
	i := v.d.decompress(v.buf, start, start+len(info))
	if i < 0 {
		return nil
	}
	return append([]byte(nil), v.buf[i:start+len(info)]...)
}

// roundTrip sends pkt through the pair and checks the result is byte-exact
// and went as want (0: any).
func (v *vjPair) roundTrip(t *testing.T, what string, pkt []byte, want uint16) []byte {
	t.Helper()
	proto, info := v.send(pkt)
	if want != 0 && proto != want {
		t.Fatalf("%s: sent as %#04x, want %#04x", what, proto, want)
	}
	got := v.recv(proto, info)
	if !bytes.Equal(got, pkt) {
		t.Fatalf("%s (%#04x, %d octets on the line):\n got % x\nwant % x", what, proto, len(info), got, pkt)
	}
	return info
}

// TestVJRoundTrip: hand-built packets through compressor and decompressor,
// byte-exact, with the encoding RFC 1144 prescribes for each change.
func TestVJRoundTrip(t *testing.T) {
	v := newVJPair(4, true)
	v.noHold = true // TestVJHold
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1000, ack: 5000, flags: tcpACK, win: 8192, id: 100, df: true, data: 100}
	v.roundTrip(t, "first packet of a connection", tcpSeg(s), ProtoVJUncomp)

	// Unidirectional data: seq advances by the previous data, id by one:
	// SPECIAL_D, no deltas: change mask + checksum = 3 octets.
	s.seq += 100
	s.id++
	info := v.roundTrip(t, "SPECIAL_D", tcpSeg(s), ProtoVJComp)
	if info[0]&vjSpecials != vjSpecialD || len(info)-s.data != 3 {
		t.Fatalf("SPECIAL_D: header % x", info[:len(info)-s.data])
	}
	// PSH is carried.
	s.seq += 100
	s.id++
	s.flags = tcpACK | tcpPSH
	info = v.roundTrip(t, "PSH", tcpSeg(s), ProtoVJComp)
	if info[0]&vjPush == 0 {
		t.Fatal("PSH not in the change mask")
	}
	s.flags = tcpACK
	// Echoed interactive traffic: seq and ack both advance by the previous
	// data: SPECIAL_I.
	s.seq += 100
	s.ack += 100
	s.id++
	info = v.roundTrip(t, "SPECIAL_I", tcpSeg(s), ProtoVJComp)
	if info[0]&vjSpecials != vjSpecialI || len(info)-s.data != 3 {
		t.Fatalf("SPECIAL_I: header % x", info[:len(info)-s.data])
	}
	// Window, ack and a 300-octet seq jump (three-octet encoding), id +5.
	s.seq += 300
	s.ack += 7
	s.win -= 1000
	s.id += 5
	info = v.roundTrip(t, "W A S I", tcpSeg(s), ProtoVJComp)
	if want := byte(vjNewW | vjNewA | vjNewS | vjNewI); info[0]&0x2f != want {
		t.Fatalf("changes %#02x, want %#02x", info[0], want)
	}
	// 1 (mask) + 2 (cksum) + W 3 (65336 as a delta) + A 1 + S 3 + I 1.
	if n := len(info) - s.data; n != 11 {
		t.Fatalf("W A S I header %d octets: % x", n, info[:n])
	}
	// Urgent data.
	s.seq += 100
	s.id++
	s.flags = tcpACK | tcpURG
	s.urp = 5
	info = v.roundTrip(t, "URG", tcpSeg(s), ProtoVJComp)
	if info[0]&vjNewU == 0 {
		t.Fatal("URG: no U bit")
	}
	// URG with urgent pointer 0 (a zero takes three octets).
	s.seq += 100
	s.id++
	s.urp = 0
	v.roundTrip(t, "URG 0", tcpSeg(s), ProtoVJComp)
	// URG going off: uncompressed (a SPECIAL_D would keep it on).
	s.flags = tcpACK
	s.seq += 100
	s.id++
	v.roundTrip(t, "URG off", tcpSeg(s), ProtoVJUncomp)
	// The IP id not changing (a zero delta, three octets).
	s.seq += 100
	v.roundTrip(t, "same id", tcpSeg(s), ProtoVJComp)
	// A bare ACK after data: ack changes, seq does not.
	s.data = 0
	s.ack += 1000
	s.id++
	v.roundTrip(t, "bare ACK", tcpSeg(s), ProtoVJComp)
	// Data after the bare ACK with nothing else changed: compressed (the
	// length tells).
	s.data = 100
	s.id++
	v.roundTrip(t, "data after ACK", tcpSeg(s), ProtoVJComp)
	// A retransmission (nothing changed): uncompressed.
	s.id++
	v.roundTrip(t, "retransmission", tcpSeg(s), ProtoVJUncomp)
	// A duplicate bare ACK: uncompressed.
	s.data = 0
	s.seq += 100
	s.id++
	v.roundTrip(t, "ACK", tcpSeg(s), 0)
	s.id++
	v.roundTrip(t, "duplicate ACK", tcpSeg(s), ProtoVJUncomp)
	// seq going back (negative delta) and a jump beyond 16 bits:
	// uncompressed.
	s.data = 100
	s.seq -= 50
	s.id++
	v.roundTrip(t, "seq back", tcpSeg(s), ProtoVJUncomp)
	s.seq += 70000
	s.id++
	v.roundTrip(t, "seq jump", tcpSeg(s), ProtoVJUncomp)
	s.ack += 70000
	s.seq += 100
	s.id++
	v.roundTrip(t, "ack jump", tcpSeg(s), ProtoVJUncomp)
	// Real changes that would read as SPECIAL_D (S|A|W|U) go uncompressed.
	s.seq += 100
	s.ack++
	s.win++
	s.flags = tcpACK | tcpURG
	s.urp = 9
	s.id++
	v.roundTrip(t, "looks like SPECIAL_D", tcpSeg(s), ProtoVJUncomp)
	s.flags = tcpACK
	s.urp = 0
	s.seq += 100
	s.id++
	v.roundTrip(t, "URG and pointer cleared", tcpSeg(s), ProtoVJUncomp)
	// Urgent pointer changing without URG: uncompressed.
	s.urp = 3
	s.seq += 100
	s.id++
	v.roundTrip(t, "urp without URG", tcpSeg(s), ProtoVJUncomp)
	s.urp = 0
	s.seq += 100
	s.id++
	v.roundTrip(t, "urp back", tcpSeg(s), ProtoVJUncomp)
	// Fields RFC 1144 does not encode: TTL, TOS, DF, TCP options, ECN
	// flags, IP options: uncompressed, then compressed again.
	for _, ch := range []struct {
		name string
		f    func(*seg)
	}{
		{"TTL", func(s *seg) { s.ttl = 63 }},
		{"TOS", func(s *seg) { s.tos = 0x10 }},
		{"DF", func(s *seg) { s.df = false }},
		{"TCP options", func(s *seg) { s.tcpOpts = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} }},
		{"TCP timestamp advances", func(s *seg) { s.tcpOpts = []byte{1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2} }},
		{"ECE", func(s *seg) { s.flags = tcpACK | 0x40 }},
		{"IP options", func(s *seg) { s.ipOpts = []byte{1, 1, 1, 0} }},
	} {
		ch.f(&s)
		s.seq += 100
		s.id++
		v.roundTrip(t, ch.name, tcpSeg(s), ProtoVJUncomp)
		s.seq += 100
		s.id++
		v.roundTrip(t, ch.name+" again", tcpSeg(s), ProtoVJComp)
	}
	// Not compressible at all: plain IP.
	for _, ch := range []struct {
		name string
		f    func(*seg)
	}{
		{"SYN", func(s *seg) { s.flags = tcpSYN | tcpACK }},
		{"FIN", func(s *seg) { s.flags = tcpFIN | tcpACK }},
		{"RST", func(s *seg) { s.flags = tcpRST | tcpACK }},
		{"no ACK", func(s *seg) { s.flags = tcpPSH }},
		{"header beyond the slot", func(s *seg) { s.tcpOpts = make([]byte, 40) }},
	} {
		c := s
		ch.f(&c)
		c.seq += 100
		v.roundTrip(t, ch.name, tcpSeg(c), ProtoIP)
	}
	frag := tcpSeg(s)
	frag[6] |= 0x20 // MF
	v.roundTrip(t, "fragment", frag, ProtoIP)
	udp := tcpSeg(s)
	udp[9] = 17
	v.roundTrip(t, "UDP", udp, ProtoIP)
	short := tcpSeg(s)[:39]
	v.roundTrip(t, "runt", short, ProtoIP)
}

// TestVJHold: a retransmission holds its connection uncompressed for
// vjHold packets, and each further retransmission re-arms the hold; other
// connections are not held; afterwards compression resumes.
func TestVJHold(t *testing.T) {
	v := newVJPair(2, true)
	a := seg{src: hostA, dst: hostB, sport: 443, dport: 1, seq: 1, ack: 1, flags: tcpACK, win: 100, data: 100}
	b := a
	b.dport = 2
	next := func(s *seg) []byte {
		p := tcpSeg(*s)
		s.seq += uint32(s.data)
		s.id++
		return p
	}
	v.roundTrip(t, "a", next(&a), ProtoVJUncomp)
	v.roundTrip(t, "b", next(&b), ProtoVJUncomp)
	v.roundTrip(t, "a", next(&a), ProtoVJComp)
	a.seq -= 100 // a retransmits
	a.id--
	v.roundTrip(t, "a retransmits", next(&a), ProtoVJUncomp)
	for i := 0; i < vjHold; i++ {
		v.roundTrip(t, fmt.Sprintf("a held %d", i), next(&a), ProtoVJUncomp)
		if i == vjHold/2 {
			v.roundTrip(t, "b not held", next(&b), ProtoVJComp)
		}
	}
	v.roundTrip(t, "a after the hold", next(&a), ProtoVJComp)
	a.seq -= 50 // a partial retransmission
	v.roundTrip(t, "a retransmits again", next(&a), ProtoVJUncomp)
	v.roundTrip(t, "a held again", next(&a), ProtoVJUncomp)
	if v.st.Holds != 2 {
		t.Fatalf("holds %d, want 2", v.st.Holds)
	}
}

// TestVJSlots: connections share the slots least-recently-used first; a
// connection whose slot was taken starts again uncompressed; the slot id
// is sent only when it changes (Comp-Slot-Id) or always without it.
func TestVJSlots(t *testing.T) {
	for _, compSlot := range []bool{true, false} {
		v := newVJPair(2, compSlot)
		conns := make([]seg, 3)
		for i := range conns {
			conns[i] = seg{src: hostA, dst: hostB, sport: uint16(1000 + i), dport: 443, seq: uint32(i) << 20, ack: 1, flags: tcpACK, win: 1000, data: 50}
		}
		send := func(i int, want uint16) []byte {
			c := &conns[i]
			info := v.roundTrip(t, fmt.Sprintf("compSlot %v conn %d", compSlot, i), tcpSeg(*c), want)
			c.seq += uint32(c.data)
			c.id++
			return info
		}
		send(0, ProtoVJUncomp)
		send(1, ProtoVJUncomp)
		if info := send(0, ProtoVJComp); info[0]&vjNewC == 0 {
			t.Fatal("slot id omitted after another slot was used")
		}
		info := send(0, ProtoVJComp)
		if got := info[0]&vjNewC != 0; got != !compSlot {
			t.Fatalf("compSlot %v: slot id sent %v on a repeat", compSlot, got)
		}
		send(2, ProtoVJUncomp) // takes conn 1's slot (least recently used)
		send(0, ProtoVJComp)   // still in its slot
		send(1, ProtoVJUncomp) // lost its slot: starts again
	}
}

// TestVJNegative: each rule a peer's compressor can break, and the exact
// reaction (RFC 1144 §4: drop, then toss until a slot id arrives).
func TestVJNegative(t *testing.T) {
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1000, ack: 5000, flags: tcpACK, win: 8192, id: 100, data: 10}
	setup := func() (*vjPair, []byte) {
		v := newVJPair(2, true)
		v.roundTrip(t, "setup", tcpSeg(s), ProtoVJUncomp)
		c := s
		c.seq += 10
		c.id++
		v.c.last = -1
		_, info := v.send(tcpSeg(c)) // compressed, slot 0, with C
		return v, info
	}

	t.Run("compressed before any uncompressed", func(t *testing.T) {
		v, info := setup()
		v.d.reset(1)
		if v.recv(ProtoVJComp, info) != nil || !v.d.toss {
			t.Fatal("decompressed against an empty slot")
		}
		info[0] &^= vjNewC
		if i := v.d.decompress(append(make([]byte, vjRxHdr), info[0], info[2], info[3]), vjRxHdr, vjRxHdr+3); i != errToss {
			t.Fatalf("no slot id while tossing: %d, want errToss", i)
		}
	})
	t.Run("slot beyond Max-Slot-Id", func(t *testing.T) {
		v, info := setup()
		info[1] = 2 // Max-Slot-Id is 1
		if v.recv(ProtoVJComp, info) != nil || !v.d.toss {
			t.Fatal("slot 2 accepted with Max-Slot-Id 1")
		}
		p := tcpSeg(s) // IP checksum right for protocol 6, as on the wire
		p[9] = 2
		if v.d.uncompressed(p) {
			t.Fatal("uncompressed packet for slot 2 accepted")
		}
	})
	t.Run("toss until a slot id", func(t *testing.T) {
		v, info := setup()
		v.d.toss = true // a frame was lost (bad FCS)
		noC := append([]byte{info[0] &^ vjNewC}, info[2:]...)
		if got := v.recv(ProtoVJComp, noC); got != nil {
			t.Fatal("compressed packet without slot id accepted while tossing")
		}
		if got := v.recv(ProtoVJComp, info); got == nil || v.d.toss {
			t.Fatal("a slot id did not end the tossing")
		}
	})
	t.Run("truncated leaves the state", func(t *testing.T) {
		v := newVJPair(2, true)
		v.roundTrip(t, "setup", tcpSeg(s), ProtoVJUncomp)
		c := s
		c.seq += 300 // three-octet delta
		c.ack += 2
		c.id += 3
		c.data = 0
		v.c.last = -1
		_, info := v.send(tcpSeg(c)) // with C: ends the tossing
		for n := 0; n < len(info); n++ {
			if got := v.recv(ProtoVJComp, info[:n]); got != nil || !v.d.toss {
				t.Fatalf("%d of %d octets decompressed", n, len(info))
			}
		}
		if got := v.recv(ProtoVJComp, info); !bytes.Equal(got, tcpSeg(c)) {
			t.Fatal("state changed by truncated packets")
		}
	})
	t.Run("uncompressed with a damaged header", func(t *testing.T) {
		v := newVJPair(2, true)
		p := tcpSeg(s)
		p[9] = 0
		p[8]++ // TTL damaged: the IP checksum fails
		if v.d.uncompressed(p) || v.d.slots[0].hlen != 0 {
			t.Fatal("damaged header saved")
		}
		v6 := tcpSeg(s)
		v6[0] = 0x65
		v6[9] = 0
		for _, bad := range [][]byte{tcpSeg(s)[:39], v6} {
			if v.d.uncompressed(bad) {
				t.Fatalf("accepted % x", bad)
			}
		}
		p = tcpSeg(s)
		p[9] = 0
		p[20+12] = 0x40 // TCP data offset 16 octets
		if v.d.uncompressed(p) {
			t.Fatal("TCP header shorter than 20 accepted")
		}
	})
}

// TestVJStateBinding: a decompressor keeping fewer states than the slot
// ids it offers binds ids to states as uncompressed packets set them; a
// compressed packet for an id whose state gave way is dropped (and the
// decompressor tosses), and the id's next uncompressed packet recovers.
func TestVJStateBinding(t *testing.T) {
	v := newVJPair(16, false) // the peer's compressor: 16 slots, ids always sent
	v.noHold = true
	v.d.slots = v.d.slots[:2] // we keep 2 states for 16 ids
	v.d.reset(15)
	conns := make([]seg, 3)
	for i := range conns {
		conns[i] = seg{src: hostA, dst: hostB, sport: uint16(2000 + i), dport: 443, seq: uint32(i) << 24, ack: 1, flags: tcpACK, win: 1000, data: 30}
	}
	next := func(i int) []byte {
		p := tcpSeg(conns[i])
		conns[i].seq += 30
		conns[i].id++
		return p
	}
	for i := 0; i < 3; i++ {
		v.roundTrip(t, fmt.Sprintf("conn %d sets", i), next(i), ProtoVJUncomp)
	}
	// Connection 0's state gave way to connection 2's.
	proto, info := v.send(next(0))
	if proto != ProtoVJComp || v.recv(proto, info) != nil || !v.d.toss || v.d.ids[0] != -1 {
		t.Fatalf("compressed packet for an unbound id: proto %#04x, toss %v, ids %v", proto, v.d.toss, v.d.ids[:3])
	}
	v.roundTrip(t, "conn 2 with its id", next(2), ProtoVJComp)
	v.roundTrip(t, "conn 1 with its id", next(1), ProtoVJComp)
	// The retransmission of connection 0 (nothing changed) is uncompressed
	// and binds a state again.
	conns[0].seq -= 30
	conns[0].id--
	v.roundTrip(t, "conn 0 retransmits", next(0), ProtoVJUncomp)
	v.roundTrip(t, "conn 0 compressed", next(0), ProtoVJComp)
	v.roundTrip(t, "conn 1 still bound", next(1), ProtoVJComp)
	if _, info := v.send(next(2)); v.recv(ProtoVJComp, info) != nil {
		t.Fatal("conn 2's state was the least recently used and should have given way")
	}
}

// vjConfigs returns card and host configurations with VJ.
func vjConfigs(card, host int) (Config, Config) {
	cc, hc := cardConfig(), hostConfig()
	cc.VJSlots, hc.VJSlots = card, host
	return cc, hc
}

// TestVJLink: two links negotiate VJ both ways (the card with fewer slots),
// and TCP packets cross compressed and arrive byte-exact; the frames are
// smaller by what the stats say.
func TestVJLink(t *testing.T) {
	cc, hc := vjConfigs(4, 16)
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	a, b := h.a.l.VJStats(), h.b.l.VJStats()
	if !a.TxOn || !a.RxOn || !b.TxOn || !b.RxOn || a.TxSlots != 4 || a.RxSlots != 16 || b.TxSlots != 16 || b.RxSlots != 16 {
		t.Fatalf("negotiated: card %+v host %+v", a, b)
	}
	var want [][]byte
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 536}
	for i := 0; i < 50; i++ {
		p := tcpSeg(s)
		want = append(want, p)
		h.a.queue = append(h.a.queue, p)
		s.seq += uint32(s.data)
		s.id++
	}
	before := h.a.l.Stats().BytesOut
	h.pump()
	if len(h.b.got) != len(want) {
		t.Fatalf("delivered %d of %d", len(h.b.got), len(want))
	}
	for i := range want {
		if !bytes.Equal(h.b.got[i], want[i]) {
			t.Fatalf("packet %d differs", i)
		}
	}
	a, b = h.a.l.VJStats(), h.b.l.VJStats()
	if a.UncompOut != 1 || a.CompOut != 49 || b.UncompIn != 1 || b.CompIn != 49 || a.SavedOut != 49*37 {
		t.Fatalf("card %+v host %+v", a, b)
	}
	t.Logf("50 segments of 536 octets: %d line octets, %d header octets saved", h.a.l.Stats().BytesOut-before, a.SavedOut)
}

// TestVJNegotiation: the IPCP option's rules (RFC 1332 §3.2) both ways.
func TestVJNegotiation(t *testing.T) {
	t.Run("our fullest request fits", func(t *testing.T) {
		cc, _ := vjConfigs(4, 0)
		l := New(cc)
		var big [256]byte
		(*ipcpHandler)(l).resetCI()
		if n := (*ipcpHandler)(l).addCI(big[:]); n != 24 || n > maxOptLen || !bytes.Contains(big[:n], []byte{2, 6, 0, 0x2d, 15, 1}) {
			t.Fatalf("IPCP request % x (room %d)", big[:n], maxOptLen)
		}
	})
	t.Run("off on one side", func(t *testing.T) {
		cc, hc := vjConfigs(0, 16)
		h := newHarness(t, cc, hc)
		h.open()
		if !h.run(10*time.Second, h.bothUp) {
			t.Fatal("not up")
		}
		if a, b := h.a.l.VJStats(), h.b.l.VJStats(); a.TxOn || b.TxOn || b.RxOn {
			t.Fatalf("card %+v host %+v", a, b)
		}
		// The host rejected: VJ frames to it are Protocol-Rejected.
		h.b.l.Input(frameBytes(h.b.l, ProtoVJComp, []byte{0x40, 0, 0, 0}), h.now)
		if h.b.l.Stats().ProtoRejectsSent != 1 {
			t.Fatal("VJ frame without VJ negotiated: no Protocol-Reject")
		}
	})
	check := func(t *testing.T, req []byte, code byte, reply []byte) *Link {
		t.Helper()
		cc, _ := vjConfigs(4, 0)
		l := upLink(t, cc)
		l.ctrlH, l.ctrlT = 0, 0
		pkt := append([]byte{codeConfReq, 9, 0, byte(4 + len(req))}, req...)
		l.ipcp.input(pkt, testNow)
		q := l.queued()
		for len(q) > 0 {
			n := int(q[0])<<8 | int(q[1])
			if get16(q[2:]) == ProtoIPCP && q[4] == code {
				if !bytes.Equal(q[8:n], reply) {
					t.Fatalf("reply %d: % x, want % x", code, q[8:n], reply)
				}
				return l
			}
			q = q[n:]
		}
		t.Fatalf("no reply with code %d to % x", code, req)
		return nil
	}
	ours := []byte{2, 6, 0, 0x2d, 15, 1} // 16 slot ids whatever the states kept
	t.Run("pppd's request acked", func(t *testing.T) {
		req := []byte{2, 6, 0, 0x2d, 15, 1}
		check(t, req, codeConfAck, req)
	})
	t.Run("another protocol naked", func(t *testing.T) {
		check(t, []byte{2, 6, 0, 0x37, 15, 1}, codeConfNak, ours)
	})
	t.Run("RFC 1172 form naked", func(t *testing.T) {
		check(t, []byte{2, 4, 0, 0x2d}, codeConfNak, ours)
	})
	t.Run("bad Comp-Slot-Id naked", func(t *testing.T) {
		check(t, []byte{2, 6, 0, 0x2d, 15, 2}, codeConfNak, ours)
	})
	t.Run("nak of ours", func(t *testing.T) {
		cc, _ := vjConfigs(4, 0)
		l := upLink(t, cc)
		h := (*ipcpHandler)(l)
		h.resetCI()
		h.nakCI(optIPComp, []byte{0, 0x2d, 1, 0})
		if l.ip.vjMaxSlot != 1 || l.ip.vjCompSlot || !l.ip.vjNeg {
			t.Fatalf("after Nak: %+v", l.ip)
		}
		h.nakCI(optIPComp, []byte{0, 0x2d, 9, 1}) // more slots than we have: keep ours
		if l.ip.vjMaxSlot != 1 {
			t.Fatalf("took Max-Slot-Id 9 with 4 slots")
		}
		h.nakCI(optIPComp, []byte{0, 0x37, 9, 1})
		if l.ip.vjNeg {
			t.Fatal("still asking after a Nak for another protocol")
		}
		l.ip.vjNeg = true
		h.rejCI(optIPComp)
		if l.ip.vjNeg {
			t.Fatal("still asking after a Reject")
		}
	})
}

// upLink returns a card link brought up against a host without VJ.
func upLink(t *testing.T, cc Config) *Link {
	_, hc := vjConfigs(0, 0)
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	return h.a.l
}

// frameBytes frames info with protocol proto as l's peer would.
func frameBytes(l *Link, proto uint16, info []byte) []byte {
	f := []byte{0xff, 0x03, byte(proto >> 8), byte(proto)}
	f = append(f, info...)
	v := ^FCS16(fcs16Init, f)
	f = append(f, byte(v), byte(v>>8))
	out := []byte{flagSeq}
	for _, c := range f {
		if c == flagSeq || c == ctrlEscape || c < 0x20 {
			out = append(out, ctrlEscape, c^escXor)
		} else {
			out = append(out, c)
		}
	}
	return append(out, flagSeq)
}

// TestVJBadFCSTosses: a frame with a bad FCS makes the decompressor toss
// compressed packets without a slot id (RFC 1144 §4) until one with a slot
// id or an uncompressed one arrives.
func TestVJBadFCSTosses(t *testing.T) {
	cc, hc := vjConfigs(2, 2)
	h := newHarness(t, cc, hc)
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		t.Fatal("not up")
	}
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 20}
	next := func() []byte {
		p := tcpSeg(s)
		s.seq += uint32(s.data)
		s.id++
		return p
	}
	h.a.queue = append(h.a.queue, next(), next())
	h.pump()
	if len(h.b.got) != 2 {
		t.Fatalf("got %d", len(h.b.got))
	}
	bad := frameBytes(h.b.l, ProtoIP, []byte{1, 2, 3, 4})
	bad[len(bad)-2] ^= 1
	h.b.l.Input(bad, h.now)
	h.a.queue = append(h.a.queue, next(), next())
	h.pump()
	if vs := h.b.l.VJStats(); len(h.b.got) != 2 || vs.Tossed != 2 {
		t.Fatalf("after a bad FCS: delivered %d, stats %+v", len(h.b.got), vs)
	}
	// The compressor learns nothing of the loss; TCP's retransmission
	// (nothing changed) goes uncompressed and resynchronises.
	s.seq -= uint32(s.data)
	s.id--
	h.a.queue = append(h.a.queue, next(), next())
	h.pump()
	// ... and holds the connection uncompressed for a while (vjHold).
	if vs := h.b.l.VJStats(); len(h.b.got) != 4 || vs.UncompIn != 3 || vs.CompIn != 1 || h.a.l.VJStats().Holds != 1 {
		t.Fatalf("after the retransmission: delivered %d, stats %+v", len(h.b.got), vs)
	}
}

// TestVJLossy: a seeded lossy line (octets dropped, bits flipped) carrying
// two interleaved TCP-like streams with VJ: the FCS catches the damage and
// the decompressor tosses (RFC 1144 §4), and every packet delivered is one
// that was sent, byte for byte, or one TCP's checksum rejects (a slot whose
// compressed packet was lost, used again with a slot id: RFC 1144 §4.1
// counts on the TCP checksum there). Delivery resumes after each loss once
// a retransmission goes uncompressed.
func TestVJLossy(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		cc, hc := vjConfigs(4, 4)
		h := newHarness(t, cc, hc)
		h.open()
		if !h.run(time.Minute, h.bothUp) {
			t.Fatal("not up")
		}
		rng := rand.New(rand.NewSource(seed))
		h.fault = func(_ bool, p []byte) []byte {
			out := p[:0]
			for _, c := range p {
				if rng.Intn(20000) == 0 {
					continue // an octet lost
				}
				if rng.Intn(20000) == 0 {
					c ^= byte(1 << rng.Intn(8))
				}
				out = append(out, c)
			}
			return out
		}
		sent := map[string]bool{}
		s := [2]seg{
			{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000},
			{src: hostA, dst: hostB, sport: 80, dport: 50001, seq: 1 << 30, ack: 7, flags: tcpACK, win: 9000},
		}
		var last [2][]byte
		for round := 0; round < 400; round++ {
			k := rng.Intn(2)
			c := &s[k]
			p := last[k]
			if p == nil || rng.Intn(8) != 0 { // else a retransmission
				c.data = 1 + rng.Intn(600)
				if rng.Intn(4) == 0 {
					c.ack += uint32(rng.Intn(2000))
				}
				p = tcpSeg(*c)
				c.seq += uint32(c.data)
				c.id++
				last[k] = p
			}
			sent[string(p)] = true
			h.a.queue = append(h.a.queue, p)
			h.pump()
		}
		good, rejected := 0, 0
		for _, p := range h.b.got {
			switch {
			case sent[string(p)]:
				good++
			case !tcpChecksumOK(p):
				rejected++
			default:
				t.Fatalf("seed %d: a packet never sent, with a good TCP checksum, was delivered: % x", seed, p[:40])
			}
		}
		st, vs := h.b.l.Stats(), h.b.l.VJStats()
		t.Logf("seed %d: %d of 400 delivered intact, %d rebuilt wrong (TCP checksum fails); bad FCS %d, runts %d; VJ in: %d compressed, %d uncompressed, %d tossed, %d errors",
			seed, good, rejected, st.BadFCS, st.Runts, vs.CompIn, vs.UncompIn, vs.Tossed, vs.Errors)
		if good < 300 || st.BadFCS == 0 || h.a.l.VJStats().Holds == 0 {
			t.Fatalf("seed %d: %d of 400 delivered intact, no damage, or no hold", seed, good)
		}
	}
}

func tcpChecksumOK(p []byte) bool {
	ihl := int(p[0]&15) * 4
	th := p[ihl:]
	var ph [12]byte
	copy(ph[0:8], p[12:20])
	ph[9] = 6
	put16(ph[10:], uint16(len(th)))
	return onesSum(append(ph[:], th...)) == 0xffff
}

// vjUpPair is upPair with VJ negotiated both ways.
func vjUpPair(tb testing.TB, pkt []byte, pending *bool, delivered *int) *harness {
	cc, hc := vjConfigs(4, 4)
	cc.EchoInterval = time.Second
	h := newHarness(tb, cc, hc)
	h.open()
	if !h.run(10*time.Second, h.bothUp) {
		tb.Fatal("not up")
	}
	for _, e := range []*end{h.a, h.b} {
		e.l.cfg.Tap, e.l.fu().event = nil, nil
		e.l.fu().deliver = func(p []byte) { *delivered++ }
		e.l.pull = true
		e.l.fu().pull = func(dst []byte) int {
			if !*pending {
				return 0
			}
			*pending = false
			n := copy(dst, pkt)
			// The next segment of the stream: seq += data, id++.
			put32(pkt[24:], get32(pkt[24:])+uint32(len(pkt)-40))
			put16(pkt[4:], get16(pkt[4:])+1)
			pkt[10], pkt[11] = 0, 0
			put16(pkt[10:], ipChecksum(pkt[:20]))
			return n
		}
	}
	return h
}

// TestVJZeroAllocs: compressing and rebuilding allocate nothing per packet.
func TestVJZeroAllocs(t *testing.T) {
	pkt := tcpSeg(seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 1400})
	pending, delivered := false, 0
	h := vjUpPair(t, pkt, &pending, &delivered)
	buf := make([]byte, 700)
	now := h.now
	allocs := testing.AllocsPerRun(200, func() {
		for _, pair := range [2][2]*Link{{h.a.l, h.b.l}, {h.b.l, h.a.l}} {
			pending = true
			for {
				n := pair[0].Output(buf, now)
				if n == 0 {
					break
				}
				pair[1].Input(buf[:n], now)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round trip", allocs)
	}
	if a, b := h.a.l.VJStats(), h.b.l.VJStats(); a.CompOut < 200 || b.CompIn < 200 || delivered < 400 {
		t.Fatalf("not compressed: card %+v host %+v, delivered %d", a, b, delivered)
	}
}

// BenchmarkVJ: one 1400-octet TCP segment compressed, framed, deframed and
// rebuilt (run with -benchmem: 0 allocs/op).
func BenchmarkVJ(b *testing.B) {
	pkt := tcpSeg(seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 1400})
	pending, delivered := false, 0
	h := vjUpPair(b, pkt, &pending, &delivered)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pending = true
		for {
			n := h.a.l.Output(buf, h.now)
			if n == 0 {
				break
			}
			h.b.l.Input(buf[:n], h.now)
		}
	}
	if delivered != b.N {
		b.Fatalf("delivered %d of %d", delivered, b.N)
	}
}

// BenchmarkVJCompress: the compressor and decompressor alone, per segment.
func BenchmarkVJCompress(b *testing.B) {
	v := newVJPair(4, true)
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 1400}
	pkt := tcpSeg(s)
	work := make([]byte, len(pkt))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(work, pkt)
		proto, off := v.c.compress(work, &v.st)
		start := vjRxHdr + 4
		n := copy(v.buf[start:], work[off:])
		if proto == ProtoVJComp {
			if v.d.decompress(v.buf, start, start+n) < 0 {
				b.Fatal("decompress failed")
			}
		} else if !v.d.uncompressed(v.buf[start : start+n]) {
			b.Fatal("uncompressed failed")
		}
		put32(pkt[24:], get32(pkt[24:])+1400)
		put16(pkt[4:], get16(pkt[4:])+1)
	}
}

// FuzzVJ: the decompressor is total (any compressed or uncompressed packet
// against any state is rebuilt or dropped: no panic, no write outside the
// frame buffer's headroom, and a rebuilt header has a valid IP checksum),
// and the compressor round-trips: packets derived from the input by
// cumulative field changes, compressed and rebuilt, come back byte-exact.
func FuzzVJ(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		// Decompressor on raw input: chunks [kind][len][bytes].
		v := newVJPair(4, true)
		for _, p := range [][]byte{
			tcpSeg(seg{src: hostA, dst: hostB, sport: 1, dport: 2, flags: tcpACK, data: 10}),
			tcpSeg(seg{src: hostA, dst: hostB, sport: 3, dport: 4, flags: tcpACK, tcpOpts: make([]byte, 40), ipOpts: make([]byte, 40)}),
		} {
			p[9] = byte(p[5] & 1) // slot 0, then 1 (ids 0 and 1)
			if !v.d.uncompressed(append([]byte(nil), p...)) && p[5] == 0 {
				t.Fatal("seed packet refused")
			}
		}
		in := data
		for len(in) >= 2 {
			kind, n := in[0], min(int(in[1])*8, len(in)-2)
			chunk := in[2 : 2+n]
			in = in[2+n:]
			if kind&1 == 1 {
				p := append([]byte(nil), chunk...)
				if v.d.uncompressed(p) && (p[9] != 6 || ipChecksum(p[:int(p[0]&15)*4]) != 0) {
					t.Fatal("uncompressed packet accepted with a bad header")
				}
				continue
			}
			if len(chunk) > len(v.buf)-vjRxHdr {
				continue
			}
			start := vjRxHdr
			copy(v.buf[start:], chunk)
			i := v.d.decompress(v.buf, start, start+len(chunk))
			if i >= 0 {
				p := v.buf[i : start+len(chunk)]
				ihl := int(p[0]&15) * 4
				if i > start || ipChecksum(p[:ihl]) != 0 || int(get16(p[2:])) != len(p) {
					t.Fatalf("rebuilt a bad packet: % x", p[:ihl])
				}
			}
		}

		// The same bytes as VJ frames into a link that negotiated VJ both
		// ways: whatever it delivers is a well-formed IPv4 header.
		l := fuzzVJLink(t)
		l.fu().deliver = func(p []byte) {
			if len(p) < 20 || ipChecksum(p[:int(p[0]&15)*4]) != 0 {
				t.Fatalf("link delivered a bad packet: % x", p[:min(len(p), 40)])
			}
		}
		for _, proto := range []uint16{ProtoVJUncomp, ProtoVJComp, ProtoVJComp} {
			l.Input(encodeFrame(append([]byte{0xff, 0x03, 0, byte(proto)}, data...), 0xffffffff), testNow)
		}
		drain(l)

		// Round trip.
		rt := newVJPair(2, len(data) == 0 || data[0]&1 == 0)
		hdr := tcpSeg(seg{src: hostA, dst: hostB, sport: 443, dport: 9999, seq: 1, ack: 1, flags: tcpACK, win: 100})
		for in := data; len(in) >= 2; {
			muts, plen := int(in[0]%8), int(in[1])
			in = in[2:]
			for ; muts > 0 && len(in) >= 2; muts-- {
				hdr[int(in[0])%len(hdr)] += in[1]
				in = in[2:]
			}
			p := append(append([]byte(nil), hdr...), make([]byte, plen)...)
			put16(p[2:], uint16(len(p)))
			if ihl := int(p[0]&15) * 4; ihl >= 20 && ihl <= len(p) {
				p[10], p[11] = 0, 0
				put16(p[10:], ipChecksum(p[:ihl]))
			}
			proto, info := rt.send(p)
			if got := rt.recv(proto, info); !bytes.Equal(got, p) {
				t.Fatalf("round trip (%#04x):\n got % x\nwant % x", proto, got, p)
			}
		}
	})
}

// fuzzVJLink is a scripted card link up with VJ negotiated both ways (the
// peer asks for Max-Slot-Id 15, Comp-Slot-Id 1, as pppd does).
func fuzzVJLink(t testing.TB) *Link {
	l := scriptLink(t, Config{VJSlots: 2}, "020600000000050601020304")
	ackOwn(t, l, ProtoIPCP)
	l.Input(encodeFrame(unhex("ff038021010100"+"10"+"03060a000202"+"0206002d0f01"), 0xffffffff), testNow)
	if v := l.VJStats(); !l.Up() || !v.TxOn || !v.RxOn {
		t.Fatalf("scripted VJ link not up: %+v", v)
	}
	drain(l)
	return l
}

// TestVJSlotIdRange: slot counts and ids are kept in 8 bits. The largest
// Max-Slot-Id a peer can negotiate (255) gives the compressor all its
// states and the decompressor ids 0..15 (MaxVJSlots); an id past that, in
// an uncompressed or a compressed packet (255 and 200 do not fit an int8),
// is dropped and tosses (RFC 1144 §4), and 15 still works.
func TestVJSlotIdRange(t *testing.T) {
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1000, ack: 5000, flags: tcpACK, win: 8192, id: 100, data: 10}
	v := newVJPair(MaxVJSlots, false)
	v.c.reset(255, false)
	v.d.reset(255)
	if v.c.n != MaxVJSlots || v.d.max != MaxVJSlots-1 {
		t.Fatalf("Max-Slot-Id 255: compressor %d slots, decompressor max id %d", v.c.n, v.d.max)
	}
	proto, info := v.send(tcpSeg(s))
	if proto != ProtoVJUncomp {
		t.Fatalf("first packet: protocol %#x", proto)
	}
	for _, id := range []byte{255, 200, MaxVJSlots} {
		bad := append([]byte(nil), info...)
		bad[9] = id
		if v.recv(ProtoVJUncomp, bad) != nil || !v.d.toss {
			t.Fatalf("uncompressed with slot id %d accepted", id)
		}
	}
	good := append([]byte(nil), info...)
	good[9] = MaxVJSlots - 1
	if got := v.recv(ProtoVJUncomp, good); got == nil || v.d.last != MaxVJSlots-1 || v.d.toss {
		t.Fatalf("uncompressed with slot id 15 refused (last %d)", v.d.last)
	}
	c := s
	c.seq += 10
	c.id++
	_, cinfo := v.send(tcpSeg(c))
	for _, id := range []byte{255, 200} {
		bad := append([]byte(nil), cinfo...)
		bad[0] |= vjNewC
		bad = append(bad[:1], append([]byte{id}, bad[1:]...)...)
		if cinfo[0]&vjNewC != 0 {
			bad = append([]byte(nil), cinfo...)
			bad[1] = id
		}
		if v.recv(ProtoVJComp, bad) != nil || !v.d.toss {
			t.Fatalf("compressed with slot id %d accepted", id)
		}
	}
}

// TestVJTxHeaderBound: a compressor slot keeps headers of up to vjTxHdr
// (56) octets, 64 bytes a slot: a header with TCP timestamps (52) is
// compressed, one with timestamps and a SACK block (64) goes as plain IP
// (RFC 1144 always allows it) and is still delivered intact.
func TestVJTxHeaderBound(t *testing.T) {
	if n := unsafe.Sizeof(vjTxSlot{}); n > 64 {
		t.Fatalf("vjTxSlot is %d bytes, want ≤ 64", n)
	}
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	sack := []byte{1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 19}
	s := seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1000, ack: 5000, flags: tcpACK, win: 8192, id: 100, data: 10, tcpOpts: ts}
	v := newVJPair(1, true)
	v.roundTrip(t, "timestamps", tcpSeg(s), ProtoVJUncomp)
	s.seq += 10
	s.id++
	v.roundTrip(t, "timestamps again", tcpSeg(s), ProtoVJComp)
	s.tcpOpts = append(append([]byte(nil), ts...), sack...)
	s.seq += 10
	s.id++
	if len(tcpSeg(s)) != 64+10 {
		t.Fatalf("header with a SACK block: %d octets", len(tcpSeg(s))-10)
	}
	v.roundTrip(t, "timestamps and SACK", tcpSeg(s), ProtoIP)
}

// TestVJAfterShed: compressed headers are rebuilt in the headroom in front
// of the receive frame buffer (Link.vjArea, found from rx.buf) also after
// Shed dropped that buffer and the next frame lent it again.
func TestVJAfterShed(t *testing.T) {
	pkt := tcpSeg(seg{src: hostA, dst: hostB, sport: 443, dport: 50000, seq: 1, ack: 1, flags: tcpACK, win: 4000, data: 200})
	pending, delivered := false, 0
	h := vjUpPair(t, pkt, &pending, &delivered)
	buf := make([]byte, 700)
	send := func() {
		pending = true
		for {
			n := h.a.l.Output(buf, h.now)
			if n == 0 {
				break
			}
			h.b.l.Input(buf[:n], h.now)
		}
	}
	for round := 0; round < 3; round++ {
		send()
		before := h.b.l.VJStats().CompIn
		if h.b.l.Shed() == 0 || h.b.l.rx.buf != nil {
			t.Fatalf("round %d: receive buffer not shed", round)
		}
		send()
		if h.b.l.VJStats().CompIn != before+1 || h.b.l.VJStats().Errors != 0 {
			t.Fatalf("round %d: after Shed %+v", round, h.b.l.VJStats())
		}
		if h.b.l.Lent() != vjRxHdr+h.b.l.frameBuf() {
			t.Fatalf("round %d: lent %d", round, h.b.l.Lent())
		}
	}
	if delivered != 6 {
		t.Fatalf("delivered %d of 6", delivered)
	}
}
