package ipv4

import (
	"encoding/binary"
	"io"
	"time"
	"unsafe"

	"netcard/internal/count"
)

// PortFilter is an optional interface a Transport may implement to take part
// in the host's early packet filter: before a datagram is reassembled,
// copied or handed to the transport, the host reads the destination port
// (the 16 bits at offset 2 of the transport header, as in TCP and UDP) and
// drops the packet, counted in Stats.InFiltered, when Wants returns false.
type PortFilter interface {
	Wants(dstPort uint16) bool
}

// PortsHidden is an optional interface for a Transport: when PortHidden
// returns true for a datagram's destination port, the host answers a
// datagram no endpoint wants with no ICMP port unreachable (it is still
// dropped and counted, Stats.InRefused or InFiltered). UDP hides its
// ephemeral range, where its DNS queries' sockets live: the ICMP token
// bucket is shared by all ICMP output, so whether a spoofed datagram drew
// a port unreachable (closed port) or nothing (open port) would show in
// the replies an attacker counts on its own traffic — the SADDNS side
// channel (CVE-2020-25705, Man et al., CCS 2020) that finds a DNS
// resolver's ephemeral port, the way CVE-2016-5696 found TCP sequence
// numbers through a shared challenge-ACK budget. RFC 1122 §4.1.3.1 makes
// port unreachable a SHOULD; ports no service uses gain nothing from it.
type PortsHidden interface {
	PortHidden(port uint16) bool
}

// ErrorReceiver is an optional interface for a Transport: ICMP destination
// unreachable (type 3), source quench (4), time exceeded (11) and parameter
// problem (12) messages about a datagram the card sent with the transport's
// protocol are passed to it (RFC 1122 §3.2.2.1). remote is the quoted
// datagram's destination, quoted its transport header (at least its first
// 8 bytes: ports, and for TCP the sequence number) and info the ICMP
// header's second word (next-hop MTU for "fragmentation needed", the
// pointer for a parameter problem). quoted aliases the receive frame.
type ErrorReceiver interface {
	ICMPError(typ, code uint8, remote Addr, quoted []byte, info uint32, now time.Time)
}

// Config configures a Host. Zero fields take the defaults given.
type Config struct {
	Local Addr  // the card's address; 0.0.0.0 until SetLocal (nothing is accepted or sent)
	MTU   int   // largest packet sent and largest echo reply; default 1500, at least 68
	TTL   uint8 // TTL of packets sent; default 64

	// Reassembly: RFC 1122 §3.3.2 requires a host to reassemble datagrams
	// of at least 576 bytes (556 payload bytes behind a 20-byte header).
	// When a slot holds at least MTU bytes, the last slot doubles as the
	// echo-reply buffer (see Host), so MTU-sized reassembly costs nothing
	// beyond the echo buffer a host needs anyway.
	ReassemblySlots   int           // datagrams reassembled at once; default 2; negative disables reassembly
	ReassemblyBytes   int           // payload bytes over all slots (split evenly); default ReassemblySlots*MTU
	ReassemblyTimeout time.Duration // from the first fragment; default 15s

	ICMPRatePerSec int // ICMP messages sent per second (token bucket); default 100; negative: unlimited
	ICMPBurst      int // bucket depth; default 20
	ICMPErrorSlots int // queued ICMP errors, 96 bytes each; default 2 (echo replies have a buffer of their own)

	Rand io.Reader // seeds the IP identification counter; nil: start at 0
}

// Stats counts what the host did with every packet. Each drop reason has a
// counter of its own.
type Stats struct {
	InPackets   uint64 // packets given to Input
	InDelivered uint64 // datagrams accepted by a transport or by ICMP

	InShort        uint64 // shorter than 20 bytes
	InBadVersion   uint64 // version ≠ 4
	InBadHeaderLen uint64 // IHL < 5 or header longer than the packet
	InBadLength    uint64 // total length < header length or > bytes received
	InBadChecksum  uint64 // header checksum wrong
	InNotForUs     uint64 // destination is not the card's address (the card never forwards)
	InBadSource    uint64 // source is not a unicast address, or is our own
	InBadOptions   uint64 // malformed IP option (see CheckOptions); Parameter Problem sent when allowed
	InSourceRoute  uint64 // source route not complete: the card is not its final hop and does not forward
	InFiltered     uint64 // early filter: no socket wants the destination port
	InNoTransport  uint64 // no transport registered for the protocol
	InRefused      uint64 // the transport's Input returned false (no endpoint)

	FragIn          uint64 // fragments received
	FragReassembled uint64 // datagrams completed
	FragBad         uint64 // malformed fragment (non-final length not a multiple of 8, beyond 64 KiB, inconsistent end)
	FragOverlap     uint64 // overlapping or duplicate fragment: whole datagram dropped
	FragDiscarded   uint64 // fragments of a datagram already dropped
	FragTimeout     uint64 // datagrams whose reassembly timed out
	FragNoSlot      uint64 // fragment dropped: all slots busy (or reassembly disabled)
	FragTooBig      uint64 // datagram larger than a slot: dropped

	ICMPIn          uint64 // ICMP messages received
	ICMPShort       uint64 // shorter than 8 bytes
	ICMPBadChecksum uint64 // ICMP checksum wrong
	ICMPEchoIn      uint64 // echo requests
	ICMPEchoReplyIn uint64 // echo replies (the card sends no pings: only counted)
	ICMPErrorsIn    uint64 // unreachable, time exceeded and other error messages received
	ICMPOtherIn     uint64 // other types
	ICMPErrorsUp    uint64 // errors passed to a transport's ErrorReceiver
	ICMPEchoOut     uint64 // echo replies sent
	ICMPErrorsOut   uint64 // errors sent
	ICMPRateLimited uint64 // replies or errors not sent: token bucket empty
	ICMPQueueFull   uint64 // replies or errors not sent: no free slot, or another echo reply still going out
	ICMPTooBig      uint64 // unfragmented echo request larger than the echo buffer (Config.MTU)
	ICMPEchoFrags   uint64 // fragments sent of echo replies larger than the MTU

	FragPreempted uint64 // partial reassembly dropped: an echo reply took its buffer (see Host)

	OutPackets  uint64 // packets written by Output
	OutTooSmall uint64 // queued ICMP packet dropped: Output's buffer too small
	OutBadDst   uint64 // transport segment dropped: remote is not a unicast address
}

// stats32 is what a Host keeps of its Stats: the same counters in 32 bits
// (160 bytes, not 320: the Host fits the allocator's 352-byte class
// instead of 512). A counter wraps after 2^32 packets — at 5,000 packets a
// second, ten days —; Stats widens them, and a reader that samples them
// at least that often sees every increment (deltas modulo 2^32).
type stats32 struct {
	InPackets       uint32
	InDelivered     uint32
	InShort         uint32
	InBadVersion    uint32
	InBadHeaderLen  uint32
	InBadLength     uint32
	InBadChecksum   uint32
	InNotForUs      uint32
	InBadSource     uint32
	InBadOptions    uint32
	InSourceRoute   uint32
	InFiltered      uint32
	InNoTransport   uint32
	InRefused       uint32
	FragIn          uint32
	FragReassembled uint32
	FragBad         uint32
	FragOverlap     uint32
	FragDiscarded   uint32
	FragTimeout     uint32
	FragNoSlot      uint32
	FragTooBig      uint32
	ICMPIn          uint32
	ICMPShort       uint32
	ICMPBadChecksum uint32
	ICMPEchoIn      uint32
	ICMPEchoReplyIn uint32
	ICMPErrorsIn    uint32
	ICMPOtherIn     uint32
	ICMPErrorsUp    uint32
	ICMPEchoOut     uint32
	ICMPErrorsOut   uint32
	ICMPRateLimited uint32
	ICMPQueueFull   uint32
	ICMPTooBig      uint32
	ICMPEchoFrags   uint32
	FragPreempted   uint32
	OutPackets      uint32
	OutTooSmall     uint32
	OutBadDst       uint32
}

// export widens the counters into Stats.
func (c *stats32) export() Stats {
	var s Stats
	count.Widen(&s, c)
	return s
}

const (
	// maxTransports is two: TCP and UDP, what the card runs (as ipv6.Host);
	// each slot is a 16-byte interface value in every Host.
	maxTransports = 2
	icmpErrMax    = HeaderLen + 8 + 60 + 8 // IP + ICMP headers + quoted header with options + 8 bytes
)

type reasmSlot struct {
	state    uint8 // slotFree, slotActive, slotDead, slotEcho
	proto    uint8
	id       uint16
	src, dst Addr
	total    int32 // payload length once the last fragment is in; -1 before
	got      int32 // payload bytes received
	maxEnd   int32 // highest end offset received
	firstLen int32 // payload bytes of fragment 0; 0 = not received
	deadline int64 // UnixNano: 8 bytes where a time.Time takes 24 (a slot is 64 bytes, not 80)
	// buf is the slot's payload area (len = Host.slotCap) followed, within
	// its capacity, by the bitmap of 8-byte blocks received (bitmap()).
	buf []byte
}

// bitmap returns the slot's block bitmap: one bit per 8-byte block.
func (s *reasmSlot) bitmap() []byte { return s.buf[len(s.buf):cap(s.buf)] }

const (
	slotFree uint8 = iota
	slotActive
	slotDead // dropped (overlap, too big): swallow its remaining fragments until the deadline
	slotEcho // the slot's buffer holds the echo reply going out
)

// Host is the card's IPv4 layer: it validates, filters and reassembles
// incoming packets, answers ICMP and demultiplexes to the transports, and
// builds outgoing packets. Its buffers are sized by NewHost and lent on
// first use (Shed drops them while they hold nothing): the reassembly
// slots (payload and block bitmap in one allocation), the ICMP error slots
// (one allocation) and an MTU-sized echo-reply buffer — which is the last
// reassembly slot's buffer when that holds MTU bytes (the Card profile:
// one 1,500-byte slot), otherwise behind the error slots.
//
// Echo replies (RFC 1122 §3.2.2.6: every echo request that can be
// reassembled SHOULD be answered, its data returned entire). The reply is
// the request with its type and checksum changed, kept as an ICMP message
// and sent from Output: whole when it fits the MTU, otherwise as RFC 791
// fragments of at most the MTU (one IP identification, offsets in 8-octet
// units, MF on all but the last), one fragment per Output call. A
// reassembled request is answered in place in its reassembly slot, which
// stays busy until the last fragment is out; an unfragmented one is copied
// into the echo buffer. One reply goes out at a time; a request arriving
// meanwhile is not answered (Stats.ICMPQueueFull).
//
// An echo never waits on a reassembly: when the echo buffer is a
// reassembly slot and that slot holds a partial datagram, the echo takes
// another free slot if there is one, and otherwise drops the partial
// datagram (Stats.FragPreempted). Issue #13: when reassembly came first,
// one spoofed fragment from anyone kept ping down for the 15 s reassembly
// timeout, and one every 15 s for good. Dropping the partial datagram
// gives an attacker nothing new: with one slot, anyone can already deny
// reassembly to everyone by keeping it busy; a legitimate sender's
// datagram is lost only when an echo request lands between its fragments,
// and is retransmitted like any lost datagram. A fragment never takes the
// buffer of a reply going out (it is dropped, Stats.FragNoSlot): the reply
// leaves within a few Output calls.
type Host struct {
	local    Addr
	echoDst  Addr // where the echo reply going out goes
	id       uint16
	echoID   uint16 // IP identification of its fragments
	ttl      uint8
	ntrans   uint8
	rr       uint8
	icmpTurn bool // the last packet out was ICMP: the transports go first next
	errHead  uint8
	errN     uint8
	nerr     uint8
	proto    [maxTransports]uint8
	// Reassembly slots by index+1 (0: none): echoSlot's buffer is the echo
	// buffer (0: its own, behind errBuf); echoHold holds the echo reply
	// going out (0: the echo buffer does, or no reply).
	echoSlot, echoHold uint8

	mtu, maxMTU  uint16
	echoN        uint16 // length of the ICMP message of the echo reply going out; 0: none
	echoOff      uint16 // bytes of it already sent (fragments)
	slotCap      int32
	reasmTimeout time.Duration

	trans [maxTransports]Transport // PortFilter and ErrorReceiver are asserted when used

	slots []reasmSlot

	// errBuf is the first byte of the error buffer (errb; nil when shed):
	// nerr × icmpErrMax of queued errors (each's length in its IP header),
	// then the echo buffer if not shared. A pointer, not a slice: its
	// length is errLen, and the 16 bytes keep the Host in the 288-byte
	// size class.
	errBuf *byte

	icmp TokenBucket // ICMP rate limit

	stats stats32
}

// NewHost returns a host with every buffer sized (the echo-reply slot of
// MTU bytes, the ICMP error slots, the reassembly slots) and none lent yet.
func NewHost(cfg Config) *Host {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 68 {
		cfg.MTU = 68
	}
	if cfg.MTU > 65535 {
		cfg.MTU = 65535
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	if cfg.ReassemblySlots == 0 {
		cfg.ReassemblySlots = 2
	}
	cfg.ReassemblySlots = min(max(cfg.ReassemblySlots, 0), 255)
	if cfg.ReassemblyBytes <= 0 {
		cfg.ReassemblyBytes = cfg.ReassemblySlots * cfg.MTU
	}
	if cfg.ReassemblyTimeout <= 0 {
		cfg.ReassemblyTimeout = 15 * time.Second
	}
	if cfg.ICMPRatePerSec == 0 {
		cfg.ICMPRatePerSec = 100
	}
	if cfg.ICMPBurst <= 0 {
		cfg.ICMPBurst = 20
	}
	if cfg.ICMPErrorSlots <= 0 {
		// One error waiting for the line and one more arriving meanwhile;
		// errors are rate-limited anyway, and one dropped is only counted.
		cfg.ICMPErrorSlots = 2
	}
	if cfg.ICMPErrorSlots > 255 {
		cfg.ICMPErrorSlots = 255
	}
	h := &Host{local: cfg.Local, ttl: cfg.TTL, mtu: uint16(cfg.MTU), maxMTU: uint16(cfg.MTU),
		reasmTimeout: cfg.ReassemblyTimeout, nerr: uint8(cfg.ICMPErrorSlots)}
	if cfg.Rand != nil {
		var b [2]byte
		if _, err := io.ReadFull(cfg.Rand, b[:]); err == nil {
			h.id = binary.BigEndian.Uint16(b[:])
		}
	}
	if cfg.ReassemblySlots > 0 {
		slotCap := min(cfg.ReassemblyBytes/cfg.ReassemblySlots, 65535-HeaderLen)
		h.slotCap = int32(slotCap)
		h.slots = make([]reasmSlot, cfg.ReassemblySlots)
		if slotCap >= cfg.MTU {
			h.echoSlot = uint8(len(h.slots))
		}
	}
	// The reassembly buffers and the error slots (followed by the echo
	// buffer when it is not shared) are lent on first use (see Shed).
	h.icmp = NewTokenBucket(cfg.ICMPRatePerSec, cfg.ICMPBurst)
	return h
}

// bitmapLen is the bytes of block bitmap for a slot of slotCap payload
// bytes: one bit per 8-byte block, including the partial block at the end.
func bitmapLen(slotCap int) int { return (slotCap/8 + 1 + 7) / 8 }

// Register attaches the transport t for protocol number proto (ProtoTCP,
// ProtoUDP). ICMP is handled by the host itself and cannot be registered.
// At most two transports (another protocol is ignored: its packets get
// protocol unreachable); registering a protocol again replaces it. If t
// implements PortFilter, it takes part in the early packet filter.
func (h *Host) Register(proto uint8, t Transport) {
	if proto == ProtoICMP || t == nil {
		return
	}
	i := 0
	for i < int(h.ntrans) && h.proto[i] != proto {
		i++
	}
	if i == maxTransports {
		return
	}
	h.proto[i], h.trans[i] = proto, t
	if i == int(h.ntrans) {
		h.ntrans++
	}
}

// SetLocal sets the card's address (when IPCP comes up). 0.0.0.0 stops
// traffic.
func (h *Host) SetLocal(a Addr) { h.local = a }

// Local returns the card's address.
func (h *Host) Local() Addr { return h.local }

// SetMTU sets the largest packet Output writes (the peer's MRU once LCP is
// up), clamped to [68, Config.MTU].
func (h *Host) SetMTU(mtu int) {
	h.mtu = uint16(max(min(mtu, int(h.maxMTU)), 68))
}

// MTU returns the current MTU.
func (h *Host) MTU() int { return int(h.mtu) }

// Stats returns the counters.
func (h *Host) Stats() Stats { return h.stats.export() }

// Footprint returns the most the host's buffers take (echo buffer unless
// it is shared with a reassembly slot, ICMP error slots, reassembly
// buffers and bitmaps), for the card's RAM budget: the hard bound. They
// are lent on first use and dropped by Shed; Lent is what is held now.
func (h *Host) Footprint() int { return h.errLen() + h.arenaLen() }

// errLen is the size of errBuf: the error slots, then the echo buffer
// when it is not a reassembly slot's.
func (h *Host) errLen() int {
	n := int(h.nerr) * icmpErrMax
	if h.echoSlot == 0 {
		n += int(h.maxMTU)
	}
	return n
}

// arenaLen is the size of the reassembly arena: every slot's payload
// area and block bitmap.
func (h *Host) arenaLen() int {
	return len(h.slots) * (int(h.slotCap) + bitmapLen(int(h.slotCap)))
}

// Buffers returns the sizes of the host's two lent buffers, each one
// allocation: the ICMP error (and echo) buffer and the reassembly arena
// (Footprint is their sum; a RAM bound rounds each to its size class).
func (h *Host) Buffers() (errBuf, arena int) { return h.errLen(), h.arenaLen() }

// ControlBytes returns the bytes of the host's control state: its struct
// and the reassembly slot table.
func (h *Host) ControlBytes() int {
	return int(unsafe.Sizeof(*h)) + len(h.slots)*int(unsafe.Sizeof(reasmSlot{}))
}

// Lent returns the bytes of buffers the host holds now.
func (h *Host) Lent() int {
	n := 0
	if h.errBuf != nil {
		n = h.errLen()
	}
	if len(h.slots) > 0 && h.slots[0].buf != nil {
		n += h.arenaLen()
	}
	return n
}

// lendSlots materialises the reassembly arena (one allocation for every
// slot) if it was shed.
func (h *Host) lendSlots() {
	if len(h.slots) == 0 || h.slots[0].buf != nil {
		return
	}
	slotCap := int(h.slotCap)
	per := slotCap + bitmapLen(slotCap)
	buf := make([]byte, per*len(h.slots))
	for i := range h.slots {
		h.slots[i].buf = buf[i*per : i*per+slotCap : (i+1)*per]
	}
}

// lendErr materialises errBuf if it was shed.
func (h *Host) lendErr() {
	if h.errBuf == nil {
		h.errBuf = unsafe.SliceData(make([]byte, h.errLen()))
	}
}

// errb returns the error buffer (nil when shed): errLen bytes from errBuf.
func (h *Host) errb() []byte {
	if h.errBuf == nil {
		return nil
	}
	return unsafe.Slice(h.errBuf, h.errLen())
}

// Shed drops every buffer that holds nothing right now and returns the
// bytes released: the reassembly arena when no slot holds a datagram
// being reassembled or an echo reply going out, and the ICMP error slots
// (with the echo buffer behind them) when no error and no echo reply in
// them is queued. They are lent again, at the same size, when a fragment,
// an echo request or an error needs them: a shed host behaves byte for
// byte as one that was not. Shed never allocates; a second call returns 0.
func (h *Host) Shed() int {
	n := 0
	if len(h.slots) > 0 && h.slots[0].buf != nil {
		busy := false
		for i := range h.slots {
			// A dead slot only swallows fragments: its buffer holds nothing.
			busy = busy || h.slots[i].state == slotActive || h.slots[i].state == slotEcho
		}
		if !busy {
			n += h.arenaLen()
			for i := range h.slots {
				h.slots[i].buf = nil
			}
		}
	}
	echoInErr := h.echoN != 0 && h.echoHold == 0 && h.echoSlot == 0
	if h.errBuf != nil && h.errN == 0 && !echoInErr {
		n += h.errLen()
		h.errBuf = nil
	}
	return n
}

// EchoShared reports whether the echo-reply buffer is a reassembly slot's.
func (h *Host) EchoShared() bool { return h.echoSlot != 0 }

// slot returns reassembly slot i-1 (i: an index+1 as in echoSlot), nil for 0.
func (h *Host) slot(i uint8) *reasmSlot {
	if i == 0 {
		return nil
	}
	return &h.slots[i-1]
}

// slotIndex returns the index+1 of slot s (nil: 0).
func (h *Host) slotIndex(s *reasmSlot) uint8 {
	for i := range h.slots {
		if &h.slots[i] == s {
			return uint8(i + 1)
		}
	}
	return 0
}

// lookup returns the index of the transport for proto, -1 if none.
func (h *Host) lookup(proto uint8) int {
	for i := 0; i < int(h.ntrans); i++ {
		if h.proto[i] == proto {
			return i
		}
	}
	return -1
}

// Input processes one received IPv4 packet (ppp's DeliverIP). pkt is only
// read during the call, except that a transport may modify its payload in
// place.
func (h *Host) Input(pkt []byte, now time.Time) {
	h.stats.InPackets++
	// Early filter, before any further work: length, version, destination.
	if len(pkt) < HeaderLen {
		h.stats.InShort++
		return
	}
	if pkt[0]>>4 != 4 {
		h.stats.InBadVersion++
		return
	}
	if h.local == (Addr{}) || Addr(pkt[16:20]) != h.local {
		h.stats.InNotForUs++
		return
	}
	hdr, err := Parse(pkt)
	switch err {
	case nil:
	case ErrHeaderLen:
		h.stats.InBadHeaderLen++
		return
	case ErrLength:
		h.stats.InBadLength++
		return
	default:
		h.stats.InBadChecksum++
		return
	}
	// TTL: RFC 1122 §3.2.1.7, "A host MUST NOT discard a datagram just
	// because it was received with TTL less than 2" — TTL 0 included:
	// the TTL bounds forwarding, and the card forwards nothing.
	src := hdr.Src()
	if !src.IsUnicast() || src == h.local {
		h.stats.InBadSource++
		return
	}
	proto := hdr.Protocol()
	payload := hdr.Payload()
	if hdr.HeaderLen() > HeaderLen && !h.options(hdr, now) {
		return
	}
	e := h.lookup(proto)
	if !hdr.IsFragment() {
		h.deliver(e, src, proto, hdr.Bytes()[:hdr.HeaderLen()], payload, nil, now)
		return
	}
	h.stats.FragIn++
	if hdr.FragOffset() == 0 && e >= 0 && !h.wanted(e, payload) {
		return
	}
	s := h.reassemble(hdr, now)
	if s == nil {
		return
	}
	h.stats.FragReassembled++
	payload = s.buf[:s.total]
	var quote [HeaderLen]byte // a rebuilt header to quote in an ICMP error
	quoteHeader(quote[:], s, int(s.total))
	s.state = slotFree
	h.deliver(e, src, proto, quote[:], payload, s, now)
}

// options validates the options of a header longer than 20 bytes and
// reports whether the packet goes on (CheckOptions; counted drops).
//
// A malformed option: RFC 792 (Parameter Problem) says a host that finds
// a problem with the header parameters, "incorrect arguments in an
// option" for one, "must discard the datagram" and may notify the source
// with a Parameter Problem whose pointer identifies the octet in error
// (20: the first option's type); RFC 1122 §3.2.2.5: a host SHOULD
// generate them (RFC 1812 is for routers; the card is a host). So the
// packet is dropped (Stats.InBadOptions) and a Parameter Problem (type 12,
// code 0, pointer) is queued through the ICMP token bucket like every
// error — except about a non-initial fragment or an ICMP error message
// (RFC 1122 §3.2.2: no ICMP error about those). The source was checked to
// be unicast before.
//
// A source route whose pointer is within the route: the datagram is not at
// its final destination (RFC 1122 §3.2.1.8(c)); forwarding it is a MAY of
// §3.3.5 that a card does not take, so it is dropped silently
// (Stats.InSourceRoute), as Linux does by default (accept_source_route =
// 0). A completed source route is accepted: a host MUST be able to be the
// final destination of one. Recognised options are otherwise not acted on
// (record route and timestamp are not updated in echo replies, which carry
// no options: a SHOULD of RFC 1122 §3.2.2.6 not met).
func (h *Host) options(hdr Header, now time.Time) bool {
	o, at, err := CheckOptions(hdr.Options())
	if err != nil {
		h.stats.InBadOptions++
		p := hdr.Payload()
		if hdr.FragOffset() == 0 && (hdr.Protocol() != ProtoICMP || len(p) > 0 && icmpQuery(p[0])) {
			h.sendError(12, 0, uint32(at)<<24, hdr.Src(), hdr.Bytes()[:hdr.HeaderLen()], p, now)
		}
		return false
	}
	if o.SourceRoute != 0 && !o.RouteDone {
		h.stats.InSourceRoute++
		return false
	}
	return true
}

// icmpQuery reports whether an ICMP type is a query (echo, timestamp,
// information, address mask), about which errors may be sent; every other
// type counts as an error message (RFC 1122 §3.2.2).
func icmpQuery(typ uint8) bool { return typ == 0 || typ == 8 || typ >= 13 && typ <= 18 }

// wanted applies the early port filter of transport e; it counts a drop.
func (h *Host) wanted(e int, payload []byte) bool {
	f, ok := h.trans[e].(PortFilter)
	if !ok || len(payload) < 4 {
		return true
	}
	if f.Wants(binary.BigEndian.Uint16(payload[2:4])) {
		return true
	}
	h.stats.InFiltered++
	return false
}

// deliver hands a whole datagram to ICMP or transport e (-1: none). hdr is
// the IP header to quote in an ICMP error; slot the reassembly slot the
// payload lies in (nil: the receive frame).
func (h *Host) deliver(e int, src Addr, proto uint8, hdr, payload []byte, slot *reasmSlot, now time.Time) {
	if proto == ProtoICMP {
		h.icmpInput(src, payload, slot, now)
		return
	}
	if e < 0 {
		h.stats.InNoTransport++
		h.sendError(3, 2, 0, src, hdr, payload, now) // protocol unreachable
		return
	}
	if !h.wanted(e, payload) {
		if h.portUnreachable(e, proto, payload) {
			h.sendError(3, 3, 0, src, hdr, payload, now) // port unreachable
		}
		return
	}
	if !h.trans[e].Input(src, h.local, payload, now) {
		h.stats.InRefused++
		if h.portUnreachable(e, proto, payload) {
			h.sendError(3, 3, 0, src, hdr, payload, now)
		}
		return
	}
	h.stats.InDelivered++
}

// portUnreachable reports whether a datagram for transport e that no
// endpoint wants gets an ICMP port unreachable: UDP only (TCP answers with
// RST itself), and not to a port the transport hides (PortsHidden).
func (h *Host) portUnreachable(e int, proto uint8, payload []byte) bool {
	if proto != ProtoUDP {
		return false
	}
	ph, ok := h.trans[e].(PortsHidden)
	return !ok || len(payload) < 4 || !ph.PortHidden(binary.BigEndian.Uint16(payload[2:4]))
}

func (h *Host) icmpInput(src Addr, p []byte, slot *reasmSlot, now time.Time) {
	h.stats.ICMPIn++
	if len(p) < 8 {
		h.stats.ICMPShort++
		return
	}
	if Checksum(p, 0) != 0 {
		h.stats.ICMPBadChecksum++
		return
	}
	h.stats.InDelivered++
	switch p[0] {
	case 8: // echo request
		h.stats.ICMPEchoIn++
		h.echoReply(src, p, slot, now)
	case 0:
		h.stats.ICMPEchoReplyIn++
	case 3, 4, 11, 12:
		h.stats.ICMPErrorsIn++
		h.icmpErrorUp(p, now)
	case 5: // redirect: a host on a point-to-point link has no routes to change
		h.stats.ICMPErrorsIn++
	default:
		h.stats.ICMPOtherIn++
	}
}

// icmpErrorUp hands a received ICMP error to the transport that sent the
// quoted datagram, if that datagram came from us and the transport
// implements ErrorReceiver.
func (h *Host) icmpErrorUp(p []byte, now time.Time) {
	q := p[8:]
	if len(q) < HeaderLen || q[0]>>4 != 4 {
		return
	}
	hl := int(q[0]&0x0f) * 4
	if hl < HeaderLen || len(q) < hl+8 || Addr(q[12:16]) != h.local {
		return
	}
	e := h.lookup(q[9])
	if e < 0 {
		return
	}
	if r, ok := h.trans[e].(ErrorReceiver); ok {
		h.stats.ICMPErrorsUp++
		r.ICMPError(p[0], p[1], Addr(q[16:20]), q[hl:], binary.BigEndian.Uint32(p[4:8]), now)
	}
}

// echoReply queues the reply to the echo request p (see Host): in place
// when p lies in reassembly slot slot, else copied into the echo buffer.
func (h *Host) echoReply(src Addr, p []byte, slot *reasmSlot, now time.Time) {
	if h.echoN != 0 {
		h.stats.ICMPQueueFull++
		return
	}
	var b []byte
	if slot == nil && len(p) > int(h.maxMTU) { // the echo buffer's size
		h.stats.ICMPTooBig++
		return
	}
	if !h.icmp.Allow(now) {
		h.stats.ICMPRateLimited++
		return
	}
	if slot == nil {
		if h.echoSlot != 0 {
			h.lendSlots()
		} else {
			h.lendErr()
		}
		b = h.echoBuf()
		if es := h.slot(h.echoSlot); es != nil {
			slot = es
			if slot.state != slotFree {
				slot = h.freeSlot()
			}
			if slot == nil {
				// Every slot holds a reassembly: the echo slot's gives way.
				h.stats.FragPreempted++
				slot = es
			}
			b = slot.buf
		}
		copy(b, p)
	} else {
		b = slot.buf
	}
	// Type 8 → 0: update the checksum incrementally (RFC 1624, eqn. 3).
	old := binary.BigEndian.Uint16(b[0:2])
	hc := binary.BigEndian.Uint16(b[2:4])
	b[0] = 0
	nw := binary.BigEndian.Uint16(b[0:2])
	c := ^Fold(uint32(^hc) + uint32(^old) + uint32(nw))
	if c == 0 {
		// One's-complement ambiguity: 0x0000 is right only if the other
		// words do not sum to +0 (all zero); recompute in that rare case.
		b[2], b[3] = 0, 0
		c = Checksum(b[:len(p)], 0)
	}
	binary.BigEndian.PutUint16(b[2:4], c)
	h.echoN, h.echoOff, h.echoDst = uint16(len(p)), 0, src
	h.id++
	h.echoID = h.id
	h.echoHold = h.slotIndex(slot)
	if slot != nil {
		slot.state = slotEcho
	}
}

// freeSlot returns a free reassembly slot, nil if none.
func (h *Host) freeSlot() *reasmSlot {
	for i := range h.slots {
		if h.slots[i].state == slotFree {
			return &h.slots[i]
		}
	}
	return nil
}

// echoBuf returns the echo-reply buffer (Config.MTU bytes): the last
// reassembly slot's, or the one behind the ICMP error slots.
func (h *Host) echoBuf() []byte {
	if es := h.slot(h.echoSlot); es != nil {
		return es.buf[:h.maxMTU]
	}
	return h.errb()[int(h.nerr)*icmpErrMax:]
}

// echoMsg returns the ICMP message of the echo reply going out.
func (h *Host) echoMsg() []byte {
	if s := h.slot(h.echoHold); s != nil {
		return s.buf[:h.echoN]
	}
	return h.echoBuf()[:h.echoN]
}

// endEcho forgets the echo reply and frees the buffer it holds.
func (h *Host) endEcho() {
	h.echoN, h.echoOff = 0, 0
	if s := h.slot(h.echoHold); s != nil {
		s.state = slotFree
	}
	h.echoHold = 0
}

// echoOutput writes the echo reply, or its next fragment, into dst
// (limit: the room, at most the MTU). RFC 791 fragmentation: every
// fragment but the last carries a multiple of 8 payload octets and MF;
// all carry the reply's identification and the offset in 8-octet units.
func (h *Host) echoOutput(dst []byte, limit int) int {
	msg := h.echoMsg()
	off := int(h.echoOff)
	n := len(msg) - off
	mf := false
	if HeaderLen+n > limit {
		n = (limit - HeaderLen) &^ 7
		mf = true
		if n <= 0 {
			h.stats.OutTooSmall++
			h.endEcho()
			return 0
		}
	}
	PutHeader(dst, &Fields{TotalLen: HeaderLen + n, ID: h.echoID, MF: mf, FragOff: off,
		TTL: h.ttl, Protocol: ProtoICMP, Src: h.local, Dst: h.echoDst})
	copy(dst[HeaderLen:], msg[off:off+n])
	if mf || off > 0 {
		h.stats.ICMPEchoFrags++
	}
	h.stats.OutPackets++
	if mf {
		h.echoOff += uint16(n)
	} else {
		h.stats.ICMPEchoOut++
		h.endEcho()
	}
	return HeaderLen + n
}

// sendError queues an ICMP error (type, code; info is the second word: the
// pointer of a Parameter Problem in its top octet) to dst about the
// datagram with header hdr and payload. It is never called for ICMP error
// messages or non-initial fragments; dst has been checked to be unicast.
func (h *Host) sendError(typ, code uint8, info uint32, dst Addr, hdr, payload []byte, now time.Time) {
	if h.errN == h.nerr {
		h.stats.ICMPQueueFull++
		return
	}
	if !h.icmp.Allow(now) {
		h.stats.ICMPRateLimited++
		return
	}
	h.lendErr()
	q := min(len(payload), 8)
	n := min(HeaderLen+8+len(hdr)+q, int(h.mtu))
	b := h.errSlot(uint8((int(h.errHead) + int(h.errN)) % int(h.nerr)))
	icmp := b[HeaderLen:n]
	icmp[0], icmp[1], icmp[2], icmp[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(icmp[4:8], info)
	k := copy(icmp[8:], hdr)
	copy(icmp[8+k:], payload[:q])
	binary.BigEndian.PutUint16(icmp[2:4], Checksum(icmp, 0))
	h.putIP(b, n, ProtoICMP, dst)
	h.errN++
}

// errSlot returns ICMP error slot i; a queued packet's length is the total
// length in its IP header.
func (h *Host) errSlot(i uint8) []byte {
	o := int(i) * icmpErrMax
	return h.errb()[o : o+icmpErrMax : o+icmpErrMax]
}

func (h *Host) putIP(b []byte, n int, proto uint8, dst Addr) {
	h.id++
	PutHeader(b, &Fields{
		TotalLen: n,
		ID:       h.id,
		DF:       proto == ProtoTCP,
		TTL:      h.ttl,
		Protocol: proto,
		Src:      h.local,
		Dst:      dst,
	})
}

// Output writes the next IPv4 packet to send into dst (ppp's PullIP) and
// returns its length, 0 if there is nothing to send. Queued ICMP errors and
// echo replies go first, then the transports in round-robin order — except
// right after an ICMP packet, when the transports go first: an echo flood
// (or an error storm) can take at most half of the packets out, never
// starve TCP. Packets are at most the MTU; TCP segments carry DF.
func (h *Host) Output(dst []byte, now time.Time) int {
	if h.local == (Addr{}) {
		return 0
	}
	limit := min(len(dst), int(h.mtu))
	if h.icmpTurn {
		h.icmpTurn = false
		if n := h.transportOutput(dst, limit, now); n > 0 {
			return n
		}
	}
	if n := h.icmpOutput(dst, limit); n > 0 {
		h.icmpTurn = true
		return n
	}
	return h.transportOutput(dst, limit, now)
}

// icmpOutput writes the next queued ICMP error or echo reply.
func (h *Host) icmpOutput(dst []byte, limit int) int {
	for h.errN > 0 {
		p := h.errSlot(h.errHead)
		h.errHead = uint8((int(h.errHead) + 1) % int(h.nerr))
		h.errN--
		n := int(binary.BigEndian.Uint16(p[2:4]))
		if n > limit {
			h.stats.OutTooSmall++
			continue
		}
		h.stats.ICMPErrorsOut++
		h.stats.OutPackets++
		return copy(dst, p[:n])
	}
	if h.echoN > 0 {
		return h.echoOutput(dst, limit)
	}
	return 0
}

// transportOutput writes the next transport packet, round robin.
func (h *Host) transportOutput(dst []byte, limit int, now time.Time) int {
	if limit <= HeaderLen {
		return 0
	}
	nt := int(h.ntrans)
	for i := 0; i < nt; i++ {
		k := (int(h.rr) + i) % nt
		n, remote := h.trans[k].Output(dst[HeaderLen:limit], h.local, now)
		if n <= 0 || n > limit-HeaderLen {
			continue
		}
		if !remote.IsUnicast() {
			h.stats.OutBadDst++
			continue
		}
		h.putIP(dst, HeaderLen+n, h.proto[k], remote)
		h.rr = uint8(k + 1)
		h.stats.OutPackets++
		return HeaderLen + n
	}
	return 0
}

// Poll expires reassembly slots and runs the transports' timers. It returns
// the earliest time it wants to be called again (zero: no timer pending).
func (h *Host) Poll(now time.Time) time.Time {
	var next time.Time
	for i := range h.slots {
		s := &h.slots[i]
		if s.state == slotFree || s.state == slotEcho {
			continue
		}
		if now.UnixNano() >= s.deadline {
			h.expire(s, now)
			continue
		}
		next = earliest(next, time.Unix(0, s.deadline))
	}
	for i := 0; i < int(h.ntrans); i++ {
		next = earliest(next, h.trans[i].Poll(now))
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// expire frees a slot whose deadline has passed; an active datagram whose
// first fragment arrived gets an ICMP time exceeded (code 1, RFC 792).
func (h *Host) expire(s *reasmSlot, now time.Time) {
	if s.state == slotActive {
		h.stats.FragTimeout++
		if s.firstLen > 0 && s.proto != ProtoICMP {
			var quote [HeaderLen]byte
			quoteHeader(quote[:], s, int(s.firstLen))
			h.sendError(11, 1, 0, s.src, quote[:], s.buf[:s.firstLen], now)
		}
	}
	s.state = slotFree
}

// quoteHeader rebuilds a header for slot s into q (to quote in an ICMP
// error).
func quoteHeader(q []byte, s *reasmSlot, plen int) {
	PutHeader(q, &Fields{
		TotalLen: HeaderLen + plen,
		ID:       s.id,
		TTL:      1,
		Protocol: s.proto,
		Src:      s.src,
		Dst:      s.dst,
	})
}

// reassemble adds a fragment; it returns the slot when its datagram is
// complete (the caller frees it).
func (h *Host) reassemble(hdr Header, now time.Time) *reasmSlot {
	off := hdr.FragOffset()
	data := hdr.Payload()
	mf := hdr.MF()
	end := off + len(data)
	if (mf && (len(data) == 0 || len(data)%8 != 0)) || end > 65535-hdr.HeaderLen() {
		h.stats.FragBad++
		return nil
	}
	src, dst, id, proto := hdr.Src(), hdr.Dst(), hdr.ID(), hdr.Protocol()
	var s, free, dead *reasmSlot
	for i := range h.slots {
		c := &h.slots[i]
		if (c.state == slotActive || c.state == slotDead) && now.UnixNano() >= c.deadline {
			h.expire(c, now)
		}
		switch {
		case c.state == slotFree:
			if free == nil {
				free = c
			}
		case c.state == slotEcho:
			// An echo reply going out: not a datagram being reassembled.
		case c.id == id && c.src == src && c.dst == dst && c.proto == proto:
			s = c
		case c.state == slotDead && dead == nil:
			dead = c
		}
	}
	if s != nil && s.state == slotDead {
		h.stats.FragDiscarded++
		return nil
	}
	if s == nil {
		if free == nil {
			free = dead
		}
		if free == nil {
			h.stats.FragNoSlot++
			return nil
		}
		s = free
		h.lendSlots()
		*s = reasmSlot{state: slotActive, src: src, dst: dst, id: id, proto: proto,
			deadline: now.Add(h.reasmTimeout).UnixNano(), total: -1, buf: s.buf}
		clear(s.bitmap())
	}
	if end > int(h.slotCap) {
		h.stats.FragTooBig++
		s.state = slotDead
		return nil
	}
	e32 := int32(end)
	if (!mf && (s.total >= 0 && s.total != e32 || s.maxEnd > e32)) || (mf && s.total >= 0 && e32 > s.total) {
		h.stats.FragBad++
		s.state = slotDead
		return nil
	}
	// Overlap check on 8-byte blocks: every fragment but the last covers
	// whole blocks, so a block belongs to exactly one fragment.
	bits := s.bitmap()
	b0, b1 := off/8, (end+7)/8
	for b := b0; b < b1; b++ {
		if bits[b/8]&(1<<(b%8)) != 0 {
			h.stats.FragOverlap++
			s.state = slotDead
			return nil
		}
	}
	for b := b0; b < b1; b++ {
		bits[b/8] |= 1 << (b % 8)
	}
	copy(s.buf[off:end], data)
	s.got += int32(len(data))
	s.maxEnd = max(s.maxEnd, e32)
	if !mf {
		s.total = e32
	}
	if off == 0 {
		s.firstLen = int32(len(data))
	}
	if s.total >= 0 && s.got == s.total {
		return s
	}
	return nil
}
