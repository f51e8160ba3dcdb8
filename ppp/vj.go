package ppp

import "netcard/internal/count"

// Van Jacobson TCP/IP header compression (RFC 1144), negotiated by IPCP's
// IP-Compression-Protocol option (RFC 1332 §3.2) and carried in PPP
// protocols 0x002d (compressed TCP) and 0x002f (uncompressed TCP).
//
// The compressor keeps, per connection slot, the last IPv4+TCP header sent
// and replaces a header with the differences from it: 3 to 19 octets instead
// of 40 or more. The decompressor keeps the peer's headers and rebuilds
// them. Both tables are allocated in New (Config.VJSlots slots a side) and
// nothing is allocated per packet: the compressor shrinks the header in the
// transmit frame buffer, the decompressor rebuilds it in headroom left in
// front of the receive frame buffer.

// PPP protocol numbers of RFC 1144 compression (RFC 1332 §3.2).
const (
	ProtoVJComp   = 0x002d // Van Jacobson compressed TCP/IP
	ProtoVJUncomp = 0x002f // Van Jacobson uncompressed TCP/IP: sets a slot's state
)

// MaxVJSlots bounds Config.VJSlots: pppd, slirp and Linux offer 16.
const MaxVJSlots = 16

const (
	// vjTxHdr is the largest IPv4+TCP header the compressor keeps; a
	// packet with a longer one (IP options, SACK blocks) is sent as plain
	// IP, which RFC 1144 always allows. 56 octets hold a header with TCP
	// timestamps (52) and the card's own (40; its TCP sends options only
	// on SYNs): a slot is 64 bytes, not 80.
	vjTxHdr = 56
	// vjRxHdr is the largest header the peer's compressor may send us:
	// a 60-octet IPv4 header and a 60-octet TCP header (RFC 1144 §3.2.1).
	vjRxHdr = 120
	// vjMaxComp is the longest compressed header: change mask, slot id,
	// TCP checksum and five three-octet deltas (urgent, window, ack, seq,
	// IP id).
	vjMaxComp = 1 + 1 + 2 + 5*3
	// vjMinComp: change mask and TCP checksum.
	vjMinComp = 3
)

// The change mask (RFC 1144 §3.2.2, appendix A.2).
const (
	vjNewC     = 0x40                              // the connection (slot) number is present
	vjNewI     = 0x20                              // IP id delta present (otherwise the id is one more)
	vjPush     = 0x10                              // the TCP PSH flag
	vjNewS     = 0x08                              // sequence delta
	vjNewA     = 0x04                              // acknowledgment delta
	vjNewW     = 0x02                              // window delta
	vjNewU     = 0x01                              // urgent pointer
	vjSpecialI = vjNewS | vjNewW | vjNewU          // seq and ack advance by the last packet's data (echoed terminal traffic)
	vjSpecialD = vjNewS | vjNewA | vjNewW | vjNewU // seq advances by the last packet's data (unidirectional data)
	vjSpecials = vjSpecialD
)

// TCP flags the compressor looks at.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
)

type vjTxSlot struct {
	hdr  [vjTxHdr]byte
	hlen uint8  // 0: empty
	hold uint8  // packets still to send uncompressed after a retransmission (vjHold)
	used uint32 // last use, for least-recently-used replacement
}

// vjHold is how many packets of a connection go uncompressed after it
// retransmits. A lost frame leaves the peer's slot stale: every compressed
// packet after it fails TCP's checksum until an uncompressed one arrives,
// which RFC 1144 §4.1 leaves to TCP's retransmission — one retransmission
// timeout per lost frame, where without compression the later segments
// would have arrived and a fast retransmit sufficed. A retransmission is
// the compressor's only sign of a lossy line, so it stops compressing that
// connection for a while (an uncompressed TCP packet is as long as plain
// IP and keeps the peer's state fresh); each further retransmission
// re-arms the hold. A duplicate ACK (the receiver's sign of a loss or of a
// retransmission) holds the ACK stream the same way, so that a lost ACK
// frame does not leave the sender without ACKs until its timeout. On a
// clean line nothing is ever held.
const vjHold = 64

type vjRxSlot struct {
	hdr  [vjRxHdr]byte
	hlen uint8  // 0: not set by an uncompressed packet yet
	id   uint8  // the peer's slot id this state belongs to
	used uint32 // last use, for least-recently-used replacement
}

// vjComp is the transmit side: our compressor, working for the peer's
// decompressor, whose Max-Slot-Id and Comp-Slot-Id it obeys.
type vjComp struct {
	slots    []vjTxSlot
	clock    uint32
	n        int8 // slots usable: min(len(slots), peer's Max-Slot-Id + 1) ≤ MaxVJSlots
	last     int8 // slot of the last compressed or uncompressed packet sent; -1 none
	compSlot bool // the peer lets us omit the slot id when it repeats
}

// vjDecomp is the receive side. We offer the peer the full id space of
// MaxVJSlots slot ids (slirp's compressor uses all 16 whatever Max-Slot-Id
// says) but keep only Config.VJSlots states: an id is bound to a state by
// the uncompressed packet that sets it, the least recently used state
// giving way. A compressed packet for an id whose state gave way is
// dropped like one whose state was lost (RFC 1144 §4: toss until the next
// uncompressed packet or slot id; TCP's retransmission goes uncompressed).
// A card has no more TCP connections than states, so this costs nothing
// in practice.
type vjDecomp struct {
	slots []vjRxSlot
	ids   [MaxVJSlots]int8 // state index bound to each slot id; -1 none
	clock uint32
	max   int8 // the largest slot id the peer may use (our acknowledged Max-Slot-Id), < MaxVJSlots
	last  int8 // slot id of the last packet received; -1 none
	toss  bool // RFC 1144 §4: discard compressed packets until a slot id is given
}

// vjState is a link's compression state, allocated in New when
// Config.VJSlots > 0.
type vjState struct {
	c  vjComp
	d  vjDecomp
	st vjStats32
	tx bool // we compress: we acknowledged the peer's request
	rx bool // the peer may compress: our request was acknowledged
}

// VJStats are the link's Van Jacobson compression counters and state.
type VJStats struct {
	TxOn, RxOn bool // compressing our output; accepting compressed input
	TxSlots    int  // slots our compressor uses (the peer's Max-Slot-Id+1, capped by Config.VJSlots)
	RxSlots    int  // slots the peer may use (our acknowledged Max-Slot-Id+1)

	CompOut   uint64 // TCP packets sent with a compressed header
	UncompOut uint64 // TCP packets sent as uncompressed TCP (setting a slot)
	PlainOut  uint64 // TCP packets that could not be compressed, sent as plain IP
	SavedOut  uint64 // header octets saved by compression on output
	CompIn    uint64 // compressed TCP packets received and rebuilt
	UncompIn  uint64 // uncompressed TCP packets received
	Errors    uint64 // VJ packets dropped as malformed or for a bad slot (the decompressor then tosses)
	Tossed    uint64 // compressed packets without a slot id dropped while tossing (RFC 1144 §4)
	Holds     uint64 // retransmissions that held a connection uncompressed (vjHold)
}

// vjStats32 is what a link keeps of VJStats: the counters in 32 bits (36
// bytes, not 96: vjState fits the allocator's 128-byte class (with its
// slot counts in 8 bits, and no slice of the receive area: Link.vjArea)
// instead of 240); they wrap after 2^32 packets (SavedOut: octets). VJStats widens
// them and adds the negotiated state.
type vjStats32 struct {
	CompOut   uint32
	UncompOut uint32
	PlainOut  uint32
	SavedOut  uint32
	CompIn    uint32
	UncompIn  uint32
	Errors    uint32
	Tossed    uint32
	Holds     uint32
}

// export widens the counters into VJStats.
func (c *vjStats32) export() VJStats {
	var s VJStats
	count.Widen(&s, c)
	return s
}

// reset empties the compressor's slots for a peer whose decompressor has
// maxSlot+1 slots (a fresh IPCP negotiation).
func (c *vjComp) reset(maxSlot int, compSlot bool) {
	for i := range c.slots {
		c.slots[i].hlen, c.slots[i].used, c.slots[i].hold = 0, 0, 0
	}
	c.n = int8(min(len(c.slots), maxSlot+1, MaxVJSlots))
	c.last, c.clock, c.compSlot = -1, 0, compSlot
}

// reset empties the decompressor's slots; the peer may use 0..maxSlot.
func (d *vjDecomp) reset(maxSlot int) {
	for i := range d.slots {
		d.slots[i].hlen, d.slots[i].used = 0, 0
	}
	for i := range d.ids {
		d.ids[i] = -1
	}
	d.max = int8(min(maxSlot, MaxVJSlots-1))
	d.last, d.toss, d.clock = -1, true, 0
}

func get16(b []byte) uint16    { return uint16(b[0])<<8 | uint16(b[1]) }
func put16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }

// ipChecksum is the Internet checksum of an IPv4 header (RFC 791), folded
// and complemented; over a header whose checksum field is right it is 0.
func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// vjEnc appends a delta: one octet for 1..255, else a zero octet and the
// value in two (RFC 1144 §3.2.2; a zero delta takes three octets).
func vjEnc(b []byte, n int, v uint16) int {
	if v >= 1 && v <= 255 {
		b[n] = byte(v)
		return n + 1
	}
	b[n], b[n+1], b[n+2] = 0, byte(v>>8), byte(v)
	return n + 3
}

// compress looks at the IPv4 packet p (exactly the packet, in the transmit
// frame buffer) and decides how it goes (RFC 1144 §3.2.3 and appendix
// A.2): ProtoIP unchanged; ProtoVJUncomp with the protocol field replaced
// by the slot id; or ProtoVJComp with the compressed header written in
// place just in front of the TCP data, which starts at p[off:]. It
// allocates nothing.
func (c *vjComp) compress(p []byte, st *vjStats32) (proto uint16, off int) {
	if c.n <= 0 || len(p) < 40 || p[0]>>4 != 4 || p[9] != 6 {
		return ProtoIP, 0
	}
	ihl := int(p[0]&15) * 4
	total := int(get16(p[2:]))
	if ihl < 20 || total != len(p) || p[6]&0x3f != 0 || p[7] != 0 || ihl+20 > total {
		return ProtoIP, 0 // odd length or an IP fragment: not compressible
	}
	th := p[ihl:]
	thl := int(th[12]>>4) * 4
	hlen := ihl + thl
	if thl < 20 || hlen > total {
		return ProtoIP, 0
	}
	if th[13]&(tcpSYN|tcpFIN|tcpRST) != 0 || th[13]&tcpACK == 0 || hlen > vjTxHdr {
		// Connection set-up or teardown, no ACK, or a header too long for
		// our slots: plain IP (§3.2.3).
		st.PlainOut++
		return ProtoIP, 0
	}

	// Find the connection's slot, or the least recently used one.
	c.clock++
	slot, empty, lru := -1, -1, -1
	for i := 0; i < int(c.n); i++ {
		s := &c.slots[i]
		if s.hlen == 0 {
			if empty < 0 {
				empty = i
			}
			continue
		}
		oih := int(s.hdr[0]&15) * 4
		if string(s.hdr[12:20]) == string(p[12:20]) && string(s.hdr[oih:oih+4]) == string(th[0:4]) {
			slot = i
			break
		}
		if lru < 0 || s.used < c.slots[lru].used {
			lru = i
		}
	}
	if slot < 0 {
		if empty >= 0 {
			lru = empty
		}
		c.slots[lru].hold = 0 // a new connection in the slot
		return c.uncompressed(p, lru, hlen, st)
	}
	s := &c.slots[slot]
	s.used = c.clock
	old := s.hdr[:s.hlen]
	// A retransmission: data starting before the end of the last packet's.
	if oih := int(old[0]&15) * 4; total > hlen && len(old) >= oih+20 {
		oldEnd := get32(old[oih+4:]) + uint32(get16(old[2:])) - uint32(len(old))
		if int32(get32(th[4:])-oldEnd) < 0 {
			s.hold = vjHold
			st.Holds++
			return c.uncompressed(p, slot, hlen, st)
		}
	}
	if s.hold > 0 {
		s.hold--
		return c.uncompressed(p, slot, hlen, st)
	}
	// Anything other than the fields RFC 1144 encodes differs: send it
	// uncompressed (version, IHL, TOS; flags and fragment offset; TTL and
	// protocol; header lengths; IP and TCP options).
	if int(s.hlen) != hlen || string(old[0:2]) != string(p[0:2]) {
		return c.uncompressed(p, slot, hlen, st)
	}
	oth := old[ihl:] // same IHL and header length: same layout
	if string(old[6:10]) != string(p[6:10]) ||
		string(old[20:ihl]) != string(p[20:ihl]) || oth[12] != th[12] || string(oth[20:thl]) != string(th[20:thl]) ||
		(oth[13]^th[13])&^(tcpPSH|tcpURG) != 0 || // ECN's CWR and ECE are not encoded either
		oth[13]&^th[13]&tcpURG != 0 { // URG going off would be lost in a SPECIAL_I or SPECIAL_D
		return c.uncompressed(p, slot, hlen, st)
	}

	var enc [vjMaxComp]byte
	n := 0
	var changes byte
	if th[13]&tcpURG != 0 {
		n = vjEnc(enc[:], n, get16(th[18:]))
		changes |= vjNewU
	} else if string(th[18:20]) != string(oth[18:20]) {
		return c.uncompressed(p, slot, hlen, st) // the urgent pointer changed without URG
	}
	if dw := get16(th[14:]) - get16(oth[14:]); dw != 0 {
		n = vjEnc(enc[:], n, dw)
		changes |= vjNewW
	}
	da := get32(th[8:]) - get32(oth[8:])
	if da != 0 {
		if da > 0xffff {
			return c.uncompressed(p, slot, hlen, st)
		}
		n = vjEnc(enc[:], n, uint16(da))
		changes |= vjNewA
	}
	ds := get32(th[4:]) - get32(oth[4:])
	if ds != 0 {
		if ds > 0xffff {
			return c.uncompressed(p, slot, hlen, st)
		}
		n = vjEnc(enc[:], n, uint16(ds))
		changes |= vjNewS
	}
	lastData := uint32(get16(old[2:])) - uint32(hlen) // data in the previous packet
	switch changes {
	case 0:
		// Nothing changed: a data packet after a bare ACK is sent
		// compressed; a duplicate ACK or a retransmission uncompressed.
		if total == int(get16(old[2:])) || int(get16(old[2:])) != hlen {
			if total == hlen {
				// A duplicate ACK: the receiver saw a segment out of
				// order or twice: the line loses frames (vjHold).
				s.hold = vjHold
				st.Holds++
			}
			return c.uncompressed(p, slot, hlen, st)
		}
	case vjSpecialI, vjSpecialD:
		// Real changes that would read as a special case.
		return c.uncompressed(p, slot, hlen, st)
	case vjNewS | vjNewA:
		if ds == da && ds == lastData {
			changes, n = vjSpecialI, 0
		}
	case vjNewS:
		if ds == lastData {
			changes, n = vjSpecialD, 0
		}
	}
	if did := get16(p[4:]) - get16(old[4:]); did != 1 {
		n = vjEnc(enc[:], n, did)
		changes |= vjNewI
	}
	if th[13]&tcpPSH != 0 {
		changes |= vjPush
	}
	cksum0, cksum1 := th[16], th[17]
	copy(s.hdr[:hlen], p[:hlen])

	// The compressed header, written just before the data.
	clen := 1 + 2 + n
	withSlot := !c.compSlot || int(c.last) != slot
	if withSlot {
		clen++
		changes |= vjNewC
	}
	off = hlen - clen
	h := p[off:hlen]
	h[0] = changes
	i := 1
	if withSlot {
		h[1] = byte(slot)
		i = 2
	}
	h[i], h[i+1] = cksum0, cksum1
	copy(h[i+2:], enc[:n])
	c.last = int8(slot) // < c.n ≤ MaxVJSlots
	st.CompOut++
	st.SavedOut += uint32(off)
	return ProtoVJComp, off
}

// uncompressed records p's header in slot and marks p as the slot's new
// state: the IP protocol field carries the slot id (RFC 1144 §3.2.3).
func (c *vjComp) uncompressed(p []byte, slot, hlen int, st *vjStats32) (uint16, int) {
	s := &c.slots[slot]
	copy(s.hdr[:hlen], p[:hlen])
	s.hlen = uint8(hlen)
	s.used = c.clock
	p[9] = byte(slot)
	c.last = int8(slot)
	st.UncompOut++
	return ProtoVJUncomp, 0
}

// uncompressed takes a TYPE_UNCOMPRESSED_TCP packet p: it validates it,
// restores the protocol field and saves the header in the slot named there
// (RFC 1144 §3.3.2, §4). It reports false for a packet that must be
// discarded; the decompressor then tosses until the next slot id.
func (d *vjDecomp) uncompressed(p []byte) bool {
	if len(p) < 40 || p[0]>>4 != 4 {
		return d.error()
	}
	ihl := int(p[0]&15) * 4
	if ihl < 20 || ihl+20 > len(p) {
		return d.error()
	}
	thl := int(p[ihl+12]>>4) * 4
	hlen := ihl + thl
	slot := int(p[9])
	if thl < 20 || hlen > len(p) || int(get16(p[2:])) < hlen || slot > int(d.max) {
		return d.error()
	}
	p[9] = 6
	if ipChecksum(p[:ihl]) != 0 {
		p[9] = byte(slot)
		return d.error() // a damaged header must not become a slot's state
	}
	s := d.bind(slot)
	copy(s.hdr[:], p[:hlen])
	s.hlen = uint8(hlen)
	d.last, d.toss = int8(slot), false // ≤ d.max < MaxVJSlots
	return true
}

// bind returns the state of slot id, binding the least recently used state
// to it if it has none.
func (d *vjDecomp) bind(id int) *vjRxSlot {
	d.clock++
	k := int(d.ids[id])
	if k < 0 {
		k = 0
		for i := range d.slots {
			if d.slots[i].hlen == 0 {
				k = i
				break
			}
			if d.slots[i].used < d.slots[k].used {
				k = i
			}
		}
		if s := &d.slots[k]; s.hlen != 0 {
			d.ids[s.id] = -1
		}
		d.ids[id] = int8(k)
		d.slots[k].id = uint8(id)
	}
	s := &d.slots[k]
	s.used = d.clock
	return s
}

func (d *vjDecomp) error() bool {
	d.toss = true
	return false
}

// errToss is decompress's verdict for a packet dropped while tossing.
const errToss = -2

// decompress rebuilds a TYPE_COMPRESSED_TCP packet in place. buf[start:end]
// is the compressed packet; buf[:start] is headroom (at least vjRxHdr
// octets less the compressed header's minimum). It returns where the
// rebuilt IPv4 packet starts (it ends at end), -1 for a malformed packet
// or one naming a bad slot (the decompressor then tosses), or errToss for
// a packet discarded while tossing (RFC 1144 §4).
func (d *vjDecomp) decompress(buf []byte, start, end int) int {
	cp := buf[start:end]
	if len(cp) < vjMinComp {
		d.toss = true
		return -1
	}
	changes := cp[0]
	i := 1
	slot := int(d.last)
	if changes&vjNewC != 0 {
		slot = int(cp[1])
		i = 2
		if slot > int(d.max) {
			d.toss = true
			return -1
		}
		d.toss = false
		d.last = int8(slot) // ≤ d.max < MaxVJSlots
	} else if d.toss {
		return errToss
	}
	if slot < 0 || d.ids[slot] < 0 {
		d.toss = true
		return -1
	}
	// Parse every field before changing the slot: a truncated packet
	// leaves the state as it was.
	if i+2 > len(cp) {
		d.toss = true
		return -1
	}
	ck0, ck1 := cp[i], cp[i+1]
	i += 2
	var v [5]uint16 // urgent, window, ack, seq, id deltas
	dec := func(k int) bool {
		if i >= len(cp) {
			return false
		}
		if cp[i] != 0 {
			v[k] = uint16(cp[i])
			i++
			return true
		}
		if i+3 > len(cp) {
			return false
		}
		v[k] = get16(cp[i+1:])
		i += 3
		return true
	}
	sp := changes & vjSpecials
	if sp != vjSpecialI && sp != vjSpecialD {
		for k, bit := range [4]byte{vjNewU, vjNewW, vjNewA, vjNewS} {
			if changes&bit != 0 && !dec(k) {
				d.toss = true
				return -1
			}
		}
	}
	if changes&vjNewI != 0 && !dec(4) {
		d.toss = true
		return -1
	}
	s := &d.slots[d.ids[slot]]
	d.clock++
	s.used = d.clock
	hlen := int(s.hlen)
	dataStart := start + i
	total := hlen + end - dataStart
	if total > 0xffff || dataStart < hlen {
		d.toss = true
		return -1
	}

	h := s.hdr[:hlen]
	ihl := int(h[0]&15) * 4
	th := h[ihl:]
	th[16], th[17] = ck0, ck1
	if changes&vjPush != 0 {
		th[13] |= tcpPSH
	} else {
		th[13] &^= tcpPSH
	}
	lastData := uint32(get16(h[2:])) - uint32(hlen)
	switch sp {
	case vjSpecialI:
		put32(th[8:], get32(th[8:])+lastData)
		put32(th[4:], get32(th[4:])+lastData)
	case vjSpecialD:
		put32(th[4:], get32(th[4:])+lastData)
	default:
		if changes&vjNewU != 0 {
			th[13] |= tcpURG
			put16(th[18:], v[0])
		} else {
			th[13] &^= tcpURG
		}
		if changes&vjNewW != 0 {
			put16(th[14:], get16(th[14:])+v[1])
		}
		if changes&vjNewA != 0 {
			put32(th[8:], get32(th[8:])+uint32(v[2]))
		}
		if changes&vjNewS != 0 {
			put32(th[4:], get32(th[4:])+uint32(v[3]))
		}
	}
	if changes&vjNewI != 0 {
		put16(h[4:], get16(h[4:])+v[4])
	} else {
		put16(h[4:], get16(h[4:])+1)
	}
	put16(h[2:], uint16(total))
	h[10], h[11] = 0, 0
	put16(h[10:], ipChecksum(h[:ihl]))
	return dataStart - copy(buf[dataStart-hlen:dataStart], h)
}

// VJDecoder rebuilds the IPv4 packets of one direction of a link that may
// use VJ compression, from its frames: for tools that read a line (wire
// analysis, pcap). It keeps MaxVJSlots slots and a 64 KiB buffer.
type VJDecoder struct {
	d   vjDecomp
	buf []byte
}

// NewVJDecoder returns a decoder that accepts every slot id.
func NewVJDecoder() *VJDecoder {
	v := &VJDecoder{buf: make([]byte, vjRxHdr+1<<16)}
	v.d.slots = make([]vjRxSlot, MaxVJSlots)
	v.d.reset(MaxVJSlots - 1)
	return v
}

// Lost tells the decoder a frame of the direction was lost or damaged.
func (v *VJDecoder) Lost() { v.d.toss = true }

// Decode takes a frame's protocol and information field. For ProtoIP,
// ProtoVJUncomp and ProtoVJComp it returns the IPv4 packet (valid until
// the next call) and the octets of the packet's headers as they were on
// the line (the compressed header for ProtoVJComp); ok is false for other
// protocols and for packets the decompressor drops.
func (v *VJDecoder) Decode(proto uint16, info []byte) (pkt []byte, lineHdr int, ok bool) {
	if len(info) > len(v.buf)-vjRxHdr {
		return nil, 0, false
	}
	switch proto {
	case ProtoIP, ProtoVJUncomp:
		p := v.buf[vjRxHdr : vjRxHdr+copy(v.buf[vjRxHdr:], info)]
		if proto == ProtoVJUncomp && !v.d.uncompressed(p) {
			return nil, 0, false
		}
		if len(p) < 20 {
			return p, len(p), true
		}
		h := int(p[0]&15) * 4
		if p[9] == 6 && h+20 <= len(p) {
			h += int(p[h+12]>>4) * 4
		}
		return p, min(h, len(p)), true
	case ProtoVJComp:
		n := copy(v.buf[vjRxHdr:], info)
		i := v.d.decompress(v.buf, vjRxHdr, vjRxHdr+n)
		if i < 0 {
			return nil, 0, false
		}
		p := v.buf[i : vjRxHdr+n]
		ih := int(p[0]&15) * 4
		return p, len(info) - (len(p) - ih - int(p[ih+12]>>4)*4), true
	}
	return nil, 0, false
}
