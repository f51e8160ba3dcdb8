package ipv6

import (
	"encoding/binary"
	"time"

	"netcard/ipv4"
)

// Transport is a protocol above IPv6 (TCP, UDP) as the IPv6 host sees it.
// It is polled for timers by the card through its IPv4 interface (one
// dual-stack transport serves both hosts), so it has no Poll here.
type Transport interface {
	// Input6 delivers one datagram's upper-layer payload; src and dst are
	// IPv6 addresses (never IPv4-mapped). payload aliases the receive frame
	// and is valid only during the call. It returns false when no endpoint
	// wants the datagram (the host may answer port unreachable).
	Input6(src, dst Addr, payload []byte, now time.Time) bool
	// Output6 writes the next IPv6 segment to send into dst (at most the
	// MTU minus 40 bytes), checksummed with its source address, and returns
	// its length, source and destination; n == 0: nothing to send.
	Output6(dst []byte, now time.Time) (n int, src, remote Addr)
}

// ErrorReceiver6 is an optional interface of a Transport: ICMPv6 errors
// (RFC 4443 §2.4 b: destination unreachable, packet too big, time
// exceeded, parameter problem) about a packet the card sent with the
// transport's protocol are passed to it. local and remote are the quoted
// packet's source (one of our addresses) and destination, quoted its
// transport header (at least 8 bytes), info the ICMPv6 header's second
// word (the MTU of a Packet Too Big). quoted aliases the receive frame.
type ErrorReceiver6 interface {
	ICMPError6(typ, code uint8, local, remote Addr, quoted []byte, info uint32, now time.Time)
}

// PortFilter6 is an optional interface of a Transport: as ipv4.PortFilter.
type PortFilter6 interface{ Wants(dstPort uint16) bool }

// Config configures a Host. Zero fields take the defaults given.
type Config struct {
	MTU      int   // link MTU: largest packet sent, largest echo reply; default and minimum 1280
	HopLimit uint8 // of packets sent; default 64

	// Reassembly (RFC 8200 §4.5): datagrams reassembled at once (default 1;
	// negative disables), payload bytes over all slots (default
	// slots × 1500, the minimum RFC 8200 §5 requires), timeout (60 s).
	ReassemblySlots   int
	ReassemblyBytes   int
	ReassemblyTimeout time.Duration

	ICMPRatePerSec int // ICMPv6 messages per second (RFC 4443 §2.4 f); default 100; negative: unlimited
	ICMPBurst      int // bucket depth; default 20
	ICMPErrorSlots int // queued errors, errMax bytes each; default 2
}

// Stats counts what the host did with every packet.
type Stats struct {
	InPackets, InDelivered                    uint64
	InShort, InBadVersion, InBadLength        uint64
	InNotForUs, InBadSource, InNoTransport    uint64
	InRefused, InExtProblem, InFiltered       uint64
	FragIn, FragReassembled, FragBad          uint64
	FragOverlap, FragTimeout, FragNoSlot      uint64
	FragTooBig, FragPreempted                 uint64
	ICMPIn, ICMPShort, ICMPBadChecksum        uint64
	ICMPEchoIn, ICMPEchoOut, ICMPErrorsIn     uint64
	ICMPErrorsOut, ICMPRateLimited, ICMPQueue uint64
	ICMPTooBig, ICMPOtherIn, ICMPNDIn         uint64
	ICMPNDBad, ICMPNDOut                      uint64
	PacketTooBigIn, ICMPErrorsUp              uint64
	OutPackets, OutBadSrc, OutTooSmall        uint64
}

// ICMPv6 types (RFC 4443 §2.1, RFC 4861 §4).
const (
	TypeDstUnreach   uint8 = 1
	TypePacketTooBig uint8 = 2
	TypeTimeExceeded uint8 = 3
	TypeParamProblem uint8 = 4
	TypeEchoRequest  uint8 = 128
	TypeEchoReply    uint8 = 129
	TypeRouterSol    uint8 = 133
	TypeRouterAdv    uint8 = 134
	TypeNeighborSol  uint8 = 135
	TypeNeighborAdv  uint8 = 136
	TypeRedirect     uint8 = 137
)

const (
	maxTransports = 2
	maxAddrs      = 3 // link-local, and up to two global (IPV6CP/SLAAC)
	// errMax is one queued ICMPv6 error: IPv6 and ICMPv6 headers and up to
	// 128 bytes of the invoking packet (RFC 4443 §2.4 c asks for as much as
	// fits the minimum MTU; the card quotes what a TCP/UDP error receiver
	// needs — the IPv6 header, extension headers and transport header).
	errMax = HeaderLen + 8 + 128
	ctlMax = HeaderLen + 32 // one queued ND message: NA with a target link-layer option
)

// Host is the card's IPv6 layer: it validates packets, walks extension
// headers, reassembles, answers ICMPv6 echo and Neighbor Solicitations,
// sends ICMPv6 errors through a token bucket, and demultiplexes to the
// transports. All memory is allocated by NewHost.
type Host struct {
	addrs  [maxAddrs]Addr // assigned addresses; zero: free
	tent   [maxAddrs]bool // tentative (DAD running): not yet ours for traffic (RFC 4862 §5.4)
	mtu    int32
	echoL  int32 // the echo buffer's length: the largest MTU (SetMTU)
	hop    uint8
	ntrans uint8
	rr     uint8
	turn   bool // the last packet out was ICMP: transports first next
	proto  [maxTransports]uint8
	trans  [maxTransports]Transport

	// The buffers are lent on first use and dropped by Shed while they
	// hold nothing: echo (a reassembly slot's buffer when echoSlot is
	// set), errBuf, ctl and the reassembly arena.
	echo     []byte // the echo reply going out (an IPv6 packet); echoN its length
	echoN    int
	echoSlot *reasmSlot // the reassembly slot whose buffer is echo, or nil

	errBuf        []byte // ICMPError slots of errMax bytes: [len16][packet]
	errHead, errN int
	nerr          int

	ctl  *[ctlMax]byte // one ND message going out
	ctlN int

	reasm reassembly

	icmp ipv4.TokenBucket // RFC 4443 §2.4 f

	// ND is the Neighbor Discovery hook (Ethernet links; nil on PPP).
	ND     NDHandler
	lladdr *[6]byte // our link-layer address (Ethernet); nil on PPP
	dups   int

	stats Stats
}

// NDHandler receives the Neighbor Discovery messages a Host does not answer
// itself (router advertisements, neighbor advertisements, solicitations'
// link-layer options) — the Ethernet link's neighbor cache and SLAAC.
type NDHandler interface {
	NDInput(typ uint8, src, dst Addr, msg []byte, now time.Time)
}

// NewHost allocates a host and all its buffers.
func NewHost(cfg Config) *Host {
	if cfg.MTU < MinMTU {
		cfg.MTU = MinMTU
	}
	if cfg.HopLimit == 0 {
		cfg.HopLimit = 64
	}
	if cfg.ICMPBurst <= 0 {
		cfg.ICMPBurst = 20
	}
	if cfg.ICMPErrorSlots <= 0 {
		cfg.ICMPErrorSlots = 2
	}
	h := &Host{mtu: int32(cfg.MTU), echoL: int32(cfg.MTU), hop: cfg.HopLimit, nerr: cfg.ICMPErrorSlots}
	rate := cfg.ICMPRatePerSec
	if rate == 0 {
		rate = 100
	}
	h.icmp = ipv4.NewTokenBucket(rate, cfg.ICMPBurst)
	h.reasm.init(cfg)
	// The last reassembly slot doubles as the echo buffer when it holds an
	// MTU (as in ipv4.Host): a node needs both, rarely at once.
	if n := len(h.reasm.slots); n > 0 && h.reasm.slotCap >= cfg.MTU {
		h.echoSlot = &h.reasm.slots[n-1]
		h.echoL = int32(h.reasm.slotCap)
	}
	return h
}

// Footprint returns the most the host's buffers take (the hard bound;
// Lent is what they take now).
func (h *Host) Footprint() int {
	n := h.nerr*errMax + ctlMax + h.reasm.footprint()
	if h.echoSlot == nil {
		n += int(h.echoL)
	}
	return n
}

// Buffers returns the sizes of the buffers the host may lend, each one
// allocation (Footprint is their sum; a RAM bound rounds each to its size
// class): the ICMPv6 error slots, the ND message buffer, the reassembly
// arena and, when it is not a reassembly slot, the echo buffer.
func (h *Host) Buffers() []int {
	b := []int{h.nerr * errMax, ctlMax, h.reasm.footprint()}
	if h.echoSlot == nil {
		b = append(b, int(h.echoL))
	}
	return b
}

// Lent returns the bytes of buffers the host holds now.
func (h *Host) Lent() int {
	n := cap(h.errBuf)
	if h.ctl != nil {
		n += ctlMax
	}
	if h.reasm.lent() {
		n += h.reasm.footprint()
	}
	if h.echoSlot == nil {
		n += cap(h.echo)
	}
	return n
}

// lendEcho materialises the echo buffer: the reassembly arena when the
// echo shares a slot, else a buffer of its own.
func (h *Host) lendEcho() {
	if h.echo != nil {
		return
	}
	if h.echoSlot != nil {
		h.reasm.lend()
		h.echo = h.echoSlot.buf[:h.echoL]
		return
	}
	h.echo = make([]byte, h.echoL)
}

// lendCtl materialises the ND message buffer.
func (h *Host) lendCtl() *[ctlMax]byte {
	if h.ctl == nil {
		h.ctl = new([ctlMax]byte)
	}
	return h.ctl
}

// Shed drops every buffer that holds nothing right now and returns the
// bytes released: the reassembly arena (and with it a shared echo buffer)
// when no datagram is being reassembled and no echo reply is queued in it,
// an echo buffer of its own when no reply is queued, the error slots when
// no error is queued, the ND message buffer when none is queued. They are
// lent again at the same size when needed: a shed host behaves byte for
// byte as one that was not. Shed never allocates; a second call returns 0.
func (h *Host) Shed() int {
	n := 0
	if h.reasm.lent() && !h.reasm.busy() {
		n += h.reasm.footprint()
		h.reasm.shed()
		if h.echoSlot != nil {
			h.echo = nil
		}
	}
	if h.echoSlot == nil && h.echo != nil && h.echoN == 0 {
		n += cap(h.echo)
		h.echo = nil
	}
	if h.errBuf != nil && h.errN == 0 {
		n += cap(h.errBuf)
		h.errBuf = nil
	}
	if h.ctl != nil && h.ctlN == 0 {
		n += ctlMax
		h.ctl = nil
	}
	return n
}

// Footprint returns what NewHost(cfg) allocates for buffers, without
// allocating.
func Footprint(cfg Config) int {
	mtu := max(cfg.MTU, MinMTU)
	nerr := cfg.ICMPErrorSlots
	if nerr <= 0 {
		nerr = 2
	}
	var r reassembly
	n, slotCap := r.size(cfg)
	if n > 0 && slotCap >= mtu {
		mtu = 0 // the echo buffer is a reassembly slot
	}
	return mtu + nerr*errMax + ctlMax + n*(slotCap+(slotCap/8+7)/8)
}

// Register attaches a transport for next-header value proto.
func (h *Host) Register(proto uint8, t Transport) {
	if int(h.ntrans) == maxTransports {
		panic("ipv6: too many transports")
	}
	h.proto[h.ntrans], h.trans[h.ntrans] = proto, t
	h.ntrans++
}

// AddAddr assigns a unicast address; tentative ones take part only in
// Duplicate Address Detection until SetPreferred. It returns false when
// all address slots are taken.
func (h *Host) AddAddr(a Addr, tentative bool) bool {
	for i := range h.addrs {
		if h.addrs[i] == a {
			h.tent[i] = tentative
			return true
		}
	}
	for i := range h.addrs {
		if h.addrs[i] == (Addr{}) {
			h.addrs[i], h.tent[i] = a, tentative
			return true
		}
	}
	return false
}

// SetPreferred ends DAD for a: it becomes usable.
func (h *Host) SetPreferred(a Addr) { h.AddAddr(a, false) }

// RemoveAddr unassigns a (a duplicate found by DAD, an expired prefix).
func (h *Host) RemoveAddr(a Addr) {
	for i := range h.addrs {
		if h.addrs[i] == a {
			h.addrs[i], h.tent[i] = Addr{}, false
		}
	}
}

// ClearAddrs unassigns every address (the link went down).
func (h *Host) ClearAddrs() { h.addrs, h.tent = [maxAddrs]Addr{}, [maxAddrs]bool{} }

// Addrs returns the assigned, non-tentative addresses into dst.
func (h *Host) Addrs(dst []Addr) []Addr {
	for i, a := range h.addrs {
		if a != (Addr{}) && !h.tent[i] {
			dst = append(dst, a)
		}
	}
	return dst
}

// LinkLocal returns the preferred link-local address (zero if none).
func (h *Host) LinkLocal() Addr {
	for i, a := range h.addrs {
		if a.IsLinkLocal() && !h.tent[i] {
			return a
		}
	}
	return Addr{}
}

// Global returns a preferred global address (zero if none).
func (h *Host) Global() Addr {
	for i, a := range h.addrs {
		if a != (Addr{}) && !a.IsLinkLocal() && !h.tent[i] {
			return a
		}
	}
	return Addr{}
}

// Up reports whether the host has a usable address.
func (h *Host) Up() bool { return h.LinkLocal() != (Addr{}) || h.Global() != (Addr{}) }

// ours reports whether a is an assigned address; tent includes tentative ones.
func (h *Host) ours(a Addr, tent bool) bool {
	if a == (Addr{}) {
		return false
	}
	for i := range h.addrs {
		if h.addrs[i] == a && (tent || !h.tent[i]) {
			return true
		}
	}
	return false
}

// accepts reports whether dst is ours: an assigned address, all-nodes, or
// the solicited-node group of an assigned (even tentative) address.
func (h *Host) accepts(dst Addr) bool {
	if dst == AllNodes || h.ours(dst, false) {
		return true
	}
	if dst[0] == 0xff && dst[1] == 0x02 && dst[11] == 1 && dst[12] == 0xff {
		for _, a := range h.addrs {
			if a != (Addr{}) && SolicitedNode(a) == dst {
				return true
			}
		}
	}
	return false
}

// SetMTU sets the link MTU (at least 1280).
func (h *Host) SetMTU(mtu int) { h.mtu = int32(min(max(mtu, MinMTU), int(h.echoL))) }

// MTU returns the link MTU.
func (h *Host) MTU() int { return int(h.mtu) }

// Stats returns a copy of the counters.
func (h *Host) Stats() Stats { return h.stats }

func (h *Host) lookup(proto uint8) int {
	for i := 0; i < int(h.ntrans); i++ {
		if h.proto[i] == proto {
			return i
		}
	}
	return -1
}

// Input processes one received IPv6 packet.
func (h *Host) Input(pkt []byte, now time.Time) {
	h.stats.InPackets++
	hdr, err := Parse(pkt)
	switch err {
	case nil:
	case ErrShort:
		h.stats.InShort++
		return
	case ErrVersion:
		h.stats.InBadVersion++
		return
	default:
		h.stats.InBadLength++
		return
	}
	src, dst := hdr.Src(), hdr.Dst()
	if !h.accepts(dst) {
		h.stats.InNotForUs++
		return
	}
	// RFC 4291 §2.5.2/§2.7: the unspecified address only as the source of
	// DAD's solicitations (checked in nd); never a multicast source, never
	// our own address (a loop or a spoof), never an IPv4-mapped one on the
	// wire (RFC 4291 §2.5.5.2, RFC 6052's warnings).
	if src.IsMulticast() || src.IsLoopback() || src.Is4() || h.ours(src, true) {
		h.stats.InBadSource++
		return
	}
	ch, prob := Walk(hdr)
	if prob.Err != nil {
		h.stats.InExtProblem++
		if prob.Send {
			h.sendError(TypeParamProblem, prob.Code, prob.Pointer, hdr.Bytes(), now)
		}
		return
	}
	if src == (Addr{}) && ch.Proto != ProtoICMP {
		h.stats.InBadSource++
		return
	}
	if !ch.Frag {
		h.deliver(hdr, ch.Proto, hdr.Bytes()[ch.Off:], hdr.Bytes(), now)
		return
	}
	h.stats.FragIn++
	if ch.FragOff == 0 && !h.wholeChain(hdr, ch, now) {
		return
	}
	p, nh, ok := h.reasm.add(h, hdr, ch, now)
	if !ok {
		return
	}
	h.stats.FragReassembled++
	ch2, prob := WalkFrom(p, nh, 0, dst.IsMulticast())
	if prob.Err != nil || ch2.Frag {
		h.stats.InExtProblem++
		return
	}
	h.deliver(hdr, ch2.Proto, p[ch2.Off:], nil, now)
}

// wholeChain checks a first fragment carries the whole header chain, the
// upper-layer header included (RFC 8200 §4.5, RFC 7112 §5): otherwise it
// is dropped with a Parameter Problem, code 3, pointer 0. A chain that
// cannot be walked in the fragment is the same failure.
func (h *Host) wholeChain(hdr Header, ch Chain, now time.Time) bool {
	pkt := hdr.Bytes()
	c, prob := WalkFrom(pkt, ch.Proto, ch.Off, hdr.Dst().IsMulticast())
	need := 0
	switch c.Proto {
	case ProtoTCP:
		need = 20
	case ProtoUDP:
		need = 8
	case ProtoICMP:
		need = 4
	}
	if prob.Err == nil && !c.Frag && len(pkt)-c.Off >= need {
		return true
	}
	h.stats.FragBad++
	if prob.Err == nil || prob.Err == ErrExtShort {
		h.sendError(TypeParamProblem, CodeIncompleteChain, 0, pkt, now)
	}
	return false
}

// deliver hands an upper-layer payload to ICMPv6 or a transport. quote is
// the invoking packet for an ICMPv6 error (nil after reassembly: no error).
func (h *Host) deliver(hdr Header, proto uint8, payload, quote []byte, now time.Time) {
	src, dst := hdr.Src(), hdr.Dst()
	if proto == ProtoICMP {
		h.icmpInput(hdr, payload, now)
		return
	}
	if proto == ProtoNone {
		h.stats.InDelivered++
		return
	}
	if src == (Addr{}) || dst.IsMulticast() {
		// TCP and UDP here are unicast only.
		h.stats.InNotForUs++
		return
	}
	e := h.lookup(proto)
	if e < 0 {
		h.stats.InNoTransport++
		if quote != nil {
			// RFC 8200 §4: an unrecognized next header: code 1, pointer
			// to the next-header field (the fixed header's when there are
			// no extension headers).
			h.sendError(TypeParamProblem, CodeUnrecognizedNext, 6, quote, now)
		}
		return
	}
	if f, ok := h.trans[e].(PortFilter6); ok && len(payload) >= 4 && !f.Wants(binary.BigEndian.Uint16(payload[2:4])) {
		h.stats.InFiltered++
		return
	}
	if h.trans[e].Input6(src, dst, payload, now) {
		h.stats.InDelivered++
		return
	}
	h.stats.InRefused++
	if quote != nil && proto == ProtoUDP {
		// RFC 4443 §3.1: port unreachable (code 4).
		h.sendError(TypeDstUnreach, 4, 0, quote, now)
	}
}

// icmpInput handles one ICMPv6 message (RFC 4443 §2.4).
func (h *Host) icmpInput(hdr Header, p []byte, now time.Time) {
	h.stats.ICMPIn++
	src, dst := hdr.Src(), hdr.Dst()
	if len(p) < 4 {
		h.stats.ICMPShort++
		return
	}
	if ipv4.Checksum(p, PseudoHeaderSum(src, dst, ProtoICMP, len(p))) != 0 {
		h.stats.ICMPBadChecksum++
		return
	}
	typ := p[0]
	switch {
	case typ == TypeEchoRequest:
		h.stats.ICMPEchoIn++
		if src == (Addr{}) {
			return
		}
		h.echoReply(hdr, p, now)
	case typ < 128:
		// RFC 4443 §2.4 (a)(b): errors go to the upper layer; a Packet
		// Too Big is counted (Path MTU, RFC 8201: the card's segments fit
		// 1280 bytes, see Host.MTU).
		h.stats.ICMPErrorsIn++
		if typ == TypePacketTooBig {
			h.stats.PacketTooBigIn++
		}
		h.errorUp(typ, p, now)
	case typ >= TypeRouterSol && typ <= TypeRedirect:
		h.stats.ICMPNDIn++
		h.ndInput(hdr, p, now)
	default:
		// RFC 4443 §2.4 (b): unknown informational messages are
		// silently discarded.
		h.stats.ICMPOtherIn++
	}
}

// errorUp passes an ICMPv6 error about one of our packets to its
// transport: the quoted packet must come from one of our addresses and
// quote at least the 8 bytes of its transport header.
func (h *Host) errorUp(typ uint8, p []byte, now time.Time) {
	if len(p) < 8+HeaderLen {
		return
	}
	q := p[8:]
	src, dst := Addr(q[8:24]), Addr(q[24:40])
	if !h.ours(src, false) {
		return
	}
	proto, off := upperLayer(q)
	if off+8 > len(q) {
		return
	}
	if e := h.lookup(proto); e >= 0 {
		if r, ok := h.trans[e].(ErrorReceiver6); ok {
			h.stats.ICMPErrorsUp++
			r.ICMPError6(typ, p[1], src, dst, q[off:], binary.BigEndian.Uint32(p[4:8]), now)
		}
	}
}

// echoReply answers an echo request (RFC 4443 §4.2): same identifier,
// sequence and data, from the address it was sent to (or, to multicast,
// from our link-local address). A reply that would not fit the echo buffer
// (the MTU) is not sent (Stats.ICMPTooBig); one at a time.
func (h *Host) echoReply(hdr Header, p []byte, now time.Time) {
	if HeaderLen+len(p) > int(h.mtu) {
		h.stats.ICMPTooBig++
		return
	}
	if h.echoN > 0 {
		h.stats.ICMPQueue++
		return
	}
	if !h.icmp.Allow(now) {
		h.stats.ICMPRateLimited++
		return
	}
	if s := h.echoSlot; s != nil && s.state != 0 {
		// The echo takes its buffer from a partial reassembly, which is
		// dropped (as in ipv4.Host: an echo never waits on a reassembly,
		// or one spoofed fragment would silence ping for 60 s).
		h.stats.FragPreempted++
		s.state = 0
	}
	from := hdr.Dst()
	if from.IsMulticast() {
		if from = h.source(hdr.Src()); from == (Addr{}) {
			return
		}
	}
	h.lendEcho()
	b := h.echo
	n := HeaderLen + copy(b[HeaderLen:], p)
	m := b[HeaderLen:n]
	m[0], m[1], m[2], m[3] = TypeEchoReply, 0, 0, 0
	h.putIP(b, n, ProtoICMP, from, hdr.Src())
	binary.BigEndian.PutUint16(m[2:4], ipv4.Checksum(m, PseudoHeaderSum(from, hdr.Src(), ProtoICMP, len(m))))
	h.echoN = n
	if h.echoSlot != nil {
		h.echoSlot.state = slotEcho
	}
	h.stats.ICMPEchoOut++
}

// source picks our address to reach dst (RFC 6724 in miniature: link-local
// for a link-local destination, else a global one if we have one).
func (h *Host) source(dst Addr) Addr {
	if !dst.IsLinkLocal() && !dst.IsMulticast() {
		if g := h.Global(); g != (Addr{}) {
			return g
		}
	}
	return h.LinkLocal()
}

// Source returns the address the card uses to reach dst.
func (h *Host) Source(dst Addr) Addr { return h.source(dst) }

func (h *Host) putIP(b []byte, n int, proto uint8, src, dst Addr) {
	PutHeader(b, &Fields{PayloadLen: n - HeaderLen, NextHeader: proto, HopLimit: h.hop, Src: src, Dst: dst})
}

// sendError queues an ICMPv6 error about the packet pkt (RFC 4443 §2.4):
// never about an ICMPv6 error or a redirect (e.1, e.2), never to a multicast
// destination except Packet Too Big or an unrecognized option (e.3), never
// from a multicast or unspecified source (e.5, e.6); through the token
// bucket (f); quoting as much of pkt as the slot holds (c).
func (h *Host) sendError(typ, code uint8, info uint32, pkt []byte, now time.Time) {
	if len(pkt) < HeaderLen {
		return
	}
	src, dst := Addr(pkt[8:24]), Addr(pkt[24:40])
	if src == (Addr{}) || src.IsMulticast() {
		return
	}
	if dst.IsMulticast() && typ != TypePacketTooBig && !(typ == TypeParamProblem && code == CodeUnrecognizedOpt) {
		return
	}
	if proto, off := upperLayer(pkt); proto == ProtoICMP && len(pkt) > off {
		if t := pkt[off]; t < 128 || t == TypeRedirect {
			return
		}
	}
	if h.errN == h.nerr {
		h.stats.ICMPQueue++
		return
	}
	if !h.icmp.Allow(now) {
		h.stats.ICMPRateLimited++
		return
	}
	from := dst
	if !h.ours(from, false) {
		from = h.source(src)
	}
	if from == (Addr{}) {
		return
	}
	if h.errBuf == nil {
		h.errBuf = make([]byte, h.nerr*errMax) // lent (see Shed)
	}
	slot := h.errBuf[((h.errHead+h.errN)%h.nerr)*errMax:][:errMax]
	b := slot[2:]
	q := copy(b[HeaderLen+8:], pkt)
	n := HeaderLen + 8 + q
	m := b[HeaderLen:n]
	m[0], m[1], m[2], m[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(m[4:8], info)
	h.putIP(b, n, ProtoICMP, from, src)
	binary.BigEndian.PutUint16(m[2:4], ipv4.Checksum(m, PseudoHeaderSum(from, src, ProtoICMP, len(m))))
	binary.BigEndian.PutUint16(slot[0:2], uint16(n))
	h.errN++
}

// Output writes the next IPv6 packet into dst and returns its length (0:
// nothing to send). ND messages, errors and echo replies alternate with
// the transports, as in ipv4.Host.Output.
func (h *Host) Output(dst []byte, now time.Time) int {
	limit := min(len(dst), int(h.mtu))
	if h.turn {
		h.turn = false
		if n := h.transportOutput(dst, limit, now); n > 0 {
			return n
		}
	}
	if n := h.icmpOutput(dst, limit); n > 0 {
		h.turn = true
		h.stats.OutPackets++
		return n
	}
	return h.transportOutput(dst, limit, now)
}

func (h *Host) icmpOutput(dst []byte, limit int) int {
	if h.ctlN > 0 {
		n := h.ctlN
		h.ctlN = 0
		if n <= limit {
			h.stats.ICMPNDOut++
			return copy(dst, h.ctl[:n])
		}
		h.stats.OutTooSmall++
	}
	for h.errN > 0 {
		slot := h.errBuf[h.errHead*errMax:][:errMax]
		h.errHead = (h.errHead + 1) % h.nerr
		h.errN--
		n := int(binary.BigEndian.Uint16(slot[0:2]))
		if n > limit {
			h.stats.OutTooSmall++
			continue
		}
		if !h.ours(Addr(slot[2+8:2+24]), false) {
			// Queued before the address went (IPV6CP down): RFC 4443
			// §2.2, the source must be one of our addresses.
			h.stats.OutBadSrc++
			continue
		}
		h.stats.ICMPErrorsOut++
		return copy(dst, slot[2:2+n])
	}
	if h.echoN > 0 {
		n := h.echoN
		h.echoN = 0
		if h.echoSlot != nil {
			h.echoSlot.state = 0
		}
		switch {
		case n > limit:
			h.stats.OutTooSmall++
		case !h.ours(Addr(h.echo[8:24]), false):
			h.stats.OutBadSrc++ // as for errors above
		default:
			return copy(dst, h.echo[:n])
		}
	}
	return 0
}

func (h *Host) transportOutput(dst []byte, limit int, now time.Time) int {
	if limit <= HeaderLen {
		return 0
	}
	nt := int(h.ntrans)
	for i := 0; i < nt; i++ {
		k := (int(h.rr) + i) % nt
		n, src, remote := h.trans[k].Output6(dst[HeaderLen:limit], now)
		if n <= 0 || n > limit-HeaderLen {
			continue
		}
		if !h.ours(src, false) || !remote.IsUnicast() || remote.Is4() {
			h.stats.OutBadSrc++
			continue
		}
		h.putIP(dst, HeaderLen+n, h.proto[k], src, remote)
		h.rr = uint8(k + 1)
		h.stats.OutPackets++
		return HeaderLen + n
	}
	return 0
}

// Poll expires reassembly and returns when it next wants to be called.
func (h *Host) Poll(now time.Time) time.Time { return h.reasm.poll(h, now) }
