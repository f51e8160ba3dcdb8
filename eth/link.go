package eth

import (
	"encoding/binary"
	"time"
)

// StreamHeaderLen is the length prefix of a frame on a frame stream: two
// bytes, big endian, then the frame (without FCS). The stream is how frames
// cross a byte-stream port (a socket, a USB gadget's bulk endpoint); a TAP
// device exchanges whole frames and link.TAP converts.
const StreamHeaderLen = 2

// minFrame is the shortest Ethernet frame without FCS: 64 bytes on the wire
// less the 4-byte FCS (IEEE 802.3 §3.2.8; RFC 894 pads the data with
// zeros). The card pads what it sends; it accepts shorter frames.
const minFrame = 60

// Config configures a Link. Zero fields take the defaults given.
type Config struct {
	MAC MAC // the card's address (required: a locally administered unicast address)
	MTU int // largest IPv4 packet; frames are MTU+14 bytes; default 1500

	// The ARP cache (RFC 826, RFC 1122 §2.3.2): ARPEntries neighbours
	// (default 4) and ARPHold packets (default 1; negative: none) held
	// while their neighbour is resolved, one per neighbour at most — a
	// further packet for an unresolved neighbour is dropped (TCP
	// retransmits). A resolved entry lives ARPReachable (default 60 s)
	// after its last confirmation; a neighbour is asked at most once per
	// ARPRetry (default 1 s, RFC 1122 §2.3.2.1) and given up after
	// ARPRetries requests (default 3).
	ARPEntries   int
	ARPHold      int
	ARPReachable time.Duration
	ARPRetry     time.Duration
	ARPRetries   int

	// Deliver receives each IPv4 packet (the frame's payload, link padding
	// included; valid during the call only). Pull writes the next IPv4
	// packet to send into dst and returns its length (0: none).
	Deliver func(pkt []byte, now time.Time)
	Pull    func(dst []byte, now time.Time) int

	// Tap sees every frame received and sent (pcap, LINKTYPE_ETHERNET).
	Tap func(sent bool, frame []byte)

	// IPv6 (RFC 2464): Deliver6 receives each IPv6 packet (EtherType
	// 0x86DD). Pull may also write IPv6 packets (version 6): ND resolves
	// their next hop; one packet waiting for its neighbour is held (as
	// ARPHold, one buffer of MTU bytes) for at most ARPRetries × ARPRetry,
	// a further one is dropped. Nil ND: IPv6 frames are neither taken nor
	// sent.
	Deliver6 func(pkt []byte, now time.Time)
	ND       Resolver6
}

// Resolver6 is IPv6 Neighbor Discovery's address resolution as the link
// uses it (ipv6.Neighbors): Resolve for a packet about to be sent (it
// starts a solicitation when the next hop is unknown), Lookup to retry a
// held packet without soliciting again; waiting is true while the
// neighbour is being resolved.
type Resolver6 interface {
	Resolve(pkt []byte, now time.Time) (mac [6]byte, ok bool)
	Lookup(pkt []byte, now time.Time) (mac [6]byte, ok, waiting bool)
}

// Stats counts what the link did with every frame; each drop has its own
// counter.
type Stats struct {
	InFrames, OutFrames uint64

	InStreamBadLength uint64 // length prefix < 14 or > the largest frame: that many bytes skipped
	InShort           uint64 // frame shorter than 14 bytes
	InNot2            uint64 // 802.3 length field, not an EtherType
	InNotForUs        uint64 // unicast to another MAC, or a multicast group we have not joined
	InBadSource       uint64 // source MAC is a group address or our own
	InUnknownType     uint64 // neither IPv4, ARP nor (with IPv6 on) IPv6
	InIPv4            uint64 // delivered to the IP layer
	InIPv6            uint64 // delivered to the IPv6 layer
	OutIPv6           uint64 // IPv6 packets sent
	ND6HoldDrops      uint64 // IPv6 packets dropped: the hold buffer was busy, or their neighbour was not resolved in time

	ARPIn          uint64
	ARPMalformed   uint64 // too short, not Ethernet/IPv4, unknown opcode, group sender address
	ARPNotForUs    uint64 // request or reply about another address: ignored (only an existing entry is refreshed)
	ARPRequestsIn  uint64
	ARPRepliesOut  uint64
	ARPRequestsOut uint64
	ARPGratuitous  uint64 // announcements sent (address change, defence)
	ARPConflicts   uint64 // another MAC claims our address (or the address being probed)
	ARPProbes      uint64 // address checks sent (RFC 5227 probes)
	ARPCacheFull   uint64 // a neighbour found no entry (all are being resolved)
	ARPHoldDrops   uint64 // packets dropped: their neighbour already holds one, or no hold buffer is free
	ARPFailed      uint64 // neighbours given up after ARPRetries requests (their held packet dropped)
	ARPExpired     uint64 // entries aged out
	OutNoAddr      uint64 // unicast IP packets pulled before the link had an address (or shorter than 20 bytes)
}

type entryState uint8

const (
	entryFree entryState = iota
	entryIncomplete
	entryReachable
)

// entry is one neighbour: 24 bytes plus the time.
type entry struct {
	ip    [4]byte
	mac   MAC
	state entryState
	tries uint8
	hold  int8      // index of the held packet, -1 none
	when  time.Time // incomplete: next request; reachable: expiry
}

type arpReply struct {
	mac MAC
	ip  [4]byte
}

// Link is the Ethernet link machine.
type Link struct {
	cfg Config
	mac MAC
	mtu int

	local, mask, router [4]byte

	cache   []entry
	hold    []byte // the ARPHold buffers of MTU bytes, one after the other (lent: see Shed)
	holdLen []int  // 0: free

	replies  [4]arpReply // ARP replies waiting to be sent
	nreplies int
	// An address check before use (RFC 5227 §2.1): the probe to send and
	// whether anyone answered for the address.
	probeIP       [4]byte
	probeDue      bool
	probeConflict bool

	announce int   // gratuitous ARPs still to send
	annAt    nanos // when the next one is due
	defended nanos // last defence of our address (RFC 5227 §2.4); 0: none

	// The receive side of the frame stream.
	hdr  [StreamHeaderLen]byte
	hdrN int
	skip int    // bytes of a rejected frame still to skip
	want int    // length of the frame being received
	rx   []byte // lent at a frame's first byte (see Shed)
	rxN  int

	// IPv6: the multicast groups joined (RFC 2464 §7, 33:33:xx:xx:xx:xx)
	// and the one packet held for Neighbor Discovery.
	groups     [maxGroups]MAC
	ngroups    int
	hold6      []byte // lent when a packet is held (see Shed)
	hold6N     int
	hold6Until nanos

	stats Stats
}

// nanos is a time in Unix nanoseconds (8 bytes where a time.Time takes
// 24: the Link's three times keep it in the 640-byte size class).
type nanos int64

func nanosOf(t time.Time) nanos { return nanos(t.UnixNano()) }

// after reports whether n is after now.
func (n nanos) after(now time.Time) bool { return int64(n) > now.UnixNano() }

func (n nanos) time() time.Time { return time.Unix(0, int64(n)) }

// maxGroups is the number of link-layer multicast groups a link joins
// besides IPv4's: IPv6's all-nodes, the solicited-node group and mDNS.
const maxGroups = 4

// New allocates a link: its ARP cache (the receive buffer and the hold
// buffers are lent when used, see Shed).
func New(cfg Config) *Link {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.ARPEntries <= 0 {
		cfg.ARPEntries = 4
	}
	if cfg.ARPHold == 0 {
		cfg.ARPHold = 1
	}
	if cfg.ARPHold < 0 {
		cfg.ARPHold = 0
	}
	if cfg.ARPReachable <= 0 {
		cfg.ARPReachable = 60 * time.Second
	}
	if cfg.ARPRetry <= 0 {
		cfg.ARPRetry = time.Second
	}
	if cfg.ARPRetries <= 0 {
		cfg.ARPRetries = 3
	}
	l := &Link{cfg: cfg, mac: cfg.MAC, mtu: cfg.MTU,
		cache:   make([]entry, cfg.ARPEntries),
		holdLen: make([]int, cfg.ARPHold),
	}
	for i := range l.cache {
		l.cache[i].hold = -1
	}
	// The receive frame and the hold buffers are lent when used (Shed).
	return l
}

// Footprint is the most RAM the link takes for buffers and tables (the
// hard bound): the receive frame, the ARP cache and the hold buffers.
// The buffers are lent when used; Lent is what they take now.
func (l *Link) Footprint() int {
	const entrySize = 40 // ip, mac, state, tries, hold, time (24 bytes)
	n := HeaderLen + l.mtu + len(l.cache)*entrySize + len(l.holdLen)*l.mtu
	if l.cfg.ND != nil {
		n += l.mtu
	}
	return n
}

// Lent returns the bytes of buffers the link holds now.
func (l *Link) Lent() int { return cap(l.rx) + cap(l.hold) + cap(l.hold6) }

// Shed drops every buffer that holds nothing right now and returns the
// bytes released: the receive frame between frames, the ARP hold buffers
// when none holds a packet, the IPv6 hold buffer when empty. A buffer with
// part of a frame or a packet waiting for its neighbour stays. They are
// lent again at the same size when needed: a shed link behaves byte for
// byte as one that was not. Shed never allocates; a second call returns 0.
func (l *Link) Shed() int {
	n := 0
	if l.rx != nil && !(l.hdrN == StreamHeaderLen && l.rxN > 0) {
		n += cap(l.rx)
		l.rx = nil
	}
	if l.hold != nil {
		free := true
		for _, k := range l.holdLen {
			free = free && k == 0
		}
		if free {
			n += cap(l.hold)
			l.hold = nil
		}
	}
	if l.hold6 != nil && l.hold6N == 0 {
		n += cap(l.hold6)
		l.hold6 = nil
	}
	return n
}

// holdBuf returns ARP hold buffer i, lending the buffers if they were shed.
func (l *Link) holdBuf(i int) []byte {
	if l.hold == nil {
		l.hold = make([]byte, len(l.holdLen)*l.mtu)
	}
	return l.hold[i*l.mtu : (i+1)*l.mtu]
}

// Join makes the link accept frames to the multicast address m (an IPv6
// group's 33:33:xx:xx:xx:xx, RFC 2464 §7). It reports false when m is not
// a group address or maxGroups are joined already.
func (l *Link) Join(m MAC) bool {
	if !m.IsMulticast() {
		return false
	}
	for _, g := range l.groups[:l.ngroups] {
		if g == m {
			return true
		}
	}
	if l.ngroups == maxGroups {
		return false
	}
	l.groups[l.ngroups] = m
	l.ngroups++
	return true
}

// Leave forgets every IPv6 group joined (the address changed).
func (l *Link) Leave() { l.groups, l.ngroups = [maxGroups]MAC{}, 0 }

func (l *Link) joined(m MAC) bool {
	for _, g := range l.groups[:l.ngroups] {
		if g == m {
			return true
		}
	}
	return false
}

// MaxFrame is the largest frame the link sends or accepts.
func (l *Link) MaxFrame() int { return HeaderLen + l.mtu }

// MAC is the link's address.
func (l *Link) MAC() MAC { return l.mac }

// MTU is the largest IPv4 packet.
func (l *Link) MTU() int { return l.mtu }

// Stats returns the counters.
func (l *Link) Stats() Stats { return l.stats }

// Local is the link's IPv4 address (zero: none yet).
func (l *Link) Local() [4]byte { return l.local }

// SetAddr sets the link's IPv4 address, subnet mask and default router
// (zero: none; destinations outside the subnet are then asked for
// directly). A new non-zero address is announced with two gratuitous ARP
// requests a second apart (RFC 5227 §2.3), so neighbours update their
// caches; the cache is flushed when the subnet changes.
func (l *Link) SetAddr(local, mask, router [4]byte, now time.Time) {
	changed := local != l.local
	if changed || mask != l.mask {
		for i := range l.cache {
			l.free(&l.cache[i])
		}
	}
	l.local, l.mask, l.router = local, mask, router
	if changed && local != ([4]byte{}) {
		l.announce, l.annAt = 2, nanosOf(now)
	}
}

// Probe checks whether ip is in use before the link takes it (RFC 2131
// §4.4.1: a DHCP client "SHOULD perform a check on the suggested address";
// RFC 5227 §2.1.1): one ARP probe (sender address 0.0.0.0) goes out with
// the next Output, and ProbeConflict then reports whether any host sent
// ARP from ip, or probed for it too, since.
func (l *Link) Probe(ip [4]byte, now time.Time) {
	l.probeIP, l.probeDue, l.probeConflict = ip, true, false
}

// ProbeConflict reports whether the address being probed is in use, and
// ends the check.
func (l *Link) ProbeConflict() bool {
	c := l.probeConflict
	l.probeIP, l.probeDue, l.probeConflict = [4]byte{}, false, false
	return c
}

// Learn enters a neighbour as resolved (a DHCP server answering a client
// that has no address yet, RFC 2131 §4.1, unicasts to yiaddr and chaddr).
func (l *Link) Learn(ip [4]byte, mac MAC, now time.Time) {
	if mac.IsMulticast() || ip == ([4]byte{}) {
		return
	}
	e := l.lookup(ip)
	if e == nil {
		e = l.alloc(ip)
	}
	if e != nil {
		l.resolve(e, mac, now)
	}
}

// Neighbor returns the cached address of ip, if resolved.
func (l *Link) Neighbor(ip [4]byte) (MAC, bool) {
	if e := l.lookup(ip); e != nil && e.state == entryReachable {
		return e.mac, true
	}
	return MAC{}, false
}

// Input takes bytes of the frame stream.
func (l *Link) Input(b []byte, now time.Time) {
	for len(b) > 0 {
		switch {
		case l.skip > 0:
			k := min(l.skip, len(b))
			l.skip -= k
			b = b[k:]
		case l.hdrN < StreamHeaderLen:
			l.hdr[l.hdrN] = b[0]
			l.hdrN++
			b = b[1:]
			if l.hdrN == StreamHeaderLen {
				n := int(binary.BigEndian.Uint16(l.hdr[:]))
				if n < HeaderLen || n > HeaderLen+l.mtu {
					l.stats.InStreamBadLength++
					l.skip, l.hdrN = n, 0
				} else {
					l.want, l.rxN = n, 0
				}
			}
		default:
			if l.rx == nil {
				l.rx = make([]byte, HeaderLen+l.mtu) // lent (see Shed)
			}
			k := copy(l.rx[l.rxN:l.want], b)
			l.rxN += k
			b = b[k:]
			if l.rxN == l.want {
				l.hdrN = 0
				l.InputFrame(l.rx[:l.want], now)
			}
		}
	}
}

// InputFrame processes one whole frame (without FCS). frame is read during
// the call only, except that the IP layer may modify its payload in place.
func (l *Link) InputFrame(frame []byte, now time.Time) {
	l.stats.InFrames++
	f, err := Parse(frame)
	if err != nil {
		if err == ErrShort {
			l.stats.InShort++
		} else {
			l.stats.InNot2++
		}
		return
	}
	if l.cfg.Tap != nil {
		l.cfg.Tap(false, frame)
	}
	dst, src := f.Dst(), f.Src()
	if dst != l.mac && dst != Broadcast && !(dst[0] == 0x01 && dst[1] == 0x00 && dst[2] == 0x5e) && !l.joined(dst) {
		l.stats.InNotForUs++
		return
	}
	if src.IsMulticast() || src == l.mac {
		l.stats.InBadSource++
		return
	}
	switch f.Type() {
	case TypeIPv4:
		l.stats.InIPv4++
		if l.cfg.Deliver != nil {
			l.cfg.Deliver(f.Payload(), now)
		}
	case TypeARP:
		l.arpInput(f.Payload(), now)
	case TypeIPv6:
		if l.cfg.Deliver6 == nil {
			l.stats.InUnknownType++
			return
		}
		l.stats.InIPv6++
		l.cfg.Deliver6(f.Payload(), now)
	default:
		l.stats.InUnknownType++
	}
}

// arpInput is RFC 826's packet reception algorithm, with RFC 5227's
// conflict detection for our own address.
func (l *Link) arpInput(p []byte, now time.Time) {
	l.stats.ARPIn++
	a, err := ParseARP(p)
	if err != nil || a.SenderMAC().IsMulticast() {
		l.stats.ARPMalformed++
		return
	}
	sha, spa, tpa := a.SenderMAC(), a.SenderIP(), a.TargetIP()
	// RFC 5227 §2.1.1: while probing, any ARP whose sender address is the
	// probed one, or another host's probe for it, is a conflict.
	if l.probeIP != ([4]byte{}) && (spa == l.probeIP || (spa == [4]byte{} && tpa == l.probeIP && a.Op() == ARPRequest)) {
		l.stats.ARPConflicts++
		l.probeConflict = true
	}
	if l.local != ([4]byte{}) && spa == l.local {
		// RFC 5227 §2.4: another host uses our address. Defend it with one
		// announcement, at most once per DEFEND_INTERVAL (10 s).
		l.stats.ARPConflicts++
		if l.defended == 0 || now.UnixNano()-int64(l.defended) >= int64(10*time.Second) {
			l.defended = nanosOf(now)
			if l.announce == 0 {
				l.announce, l.annAt = 1, nanosOf(now)
			}
		}
		return
	}
	// RFC 826: "If the pair <protocol type, sender protocol address> is
	// already in my translation table, update the sender hardware address
	// field of the entry with the new information ... set Merge_flag".
	merged := false
	if spa != ([4]byte{}) {
		if e := l.lookup(spa); e != nil {
			l.resolve(e, sha, now)
			merged = true
		}
	}
	// "?Am I the target protocol address?" — if not, the packet is done
	// with (no reply, no new entry).
	if l.local == ([4]byte{}) || tpa != l.local {
		l.stats.ARPNotForUs++
		return
	}
	if !merged && spa != ([4]byte{}) {
		if e := l.alloc(spa); e != nil {
			l.resolve(e, sha, now)
		}
	}
	if a.Op() == ARPRequest {
		l.stats.ARPRequestsIn++
		// "Swap hardware and protocol fields, putting the local hardware
		// and protocol addresses in the sender fields; set ar$op to
		// ares_op$REPLY; send the packet to the (new) target hardware
		// address." A probe (spa 0.0.0.0, RFC 5227) is answered too: the
		// address is in use.
		if l.nreplies < len(l.replies) {
			l.replies[l.nreplies] = arpReply{mac: sha, ip: spa}
			l.nreplies++
		}
	}
}

func (l *Link) lookup(ip [4]byte) *entry {
	for i := range l.cache {
		if e := &l.cache[i]; e.state != entryFree && e.ip == ip {
			return e
		}
	}
	return nil
}

// alloc finds an entry for ip: a free one, else the resolved entry closest
// to expiry. Entries being resolved are never taken (they end within
// ARPRetries × ARPRetry): nil when all are, counted in ARPCacheFull.
func (l *Link) alloc(ip [4]byte) *entry {
	var victim *entry
	for i := range l.cache {
		e := &l.cache[i]
		if e.state == entryFree {
			victim = e
			break
		}
		if e.state == entryReachable && (victim == nil || e.when.Before(victim.when)) {
			victim = e
		}
	}
	if victim == nil {
		l.stats.ARPCacheFull++
		return nil
	}
	l.free(victim)
	victim.ip = ip
	return victim
}

func (l *Link) free(e *entry) {
	if e.hold >= 0 {
		l.holdLen[e.hold] = 0
	}
	*e = entry{hold: -1}
}

func (l *Link) resolve(e *entry, mac MAC, now time.Time) {
	e.mac, e.state, e.tries = mac, entryReachable, 0
	e.when = now.Add(l.cfg.ARPReachable)
}

// nextHop maps an IPv4 destination to the MAC to send to; ok is false when
// the neighbour must be resolved first (ip is the address to resolve).
func (l *Link) nextHop(dst [4]byte) (mac MAC, ip [4]byte, ok bool) {
	bcast := [4]byte{l.local[0] | ^l.mask[0], l.local[1] | ^l.mask[1], l.local[2] | ^l.mask[2], l.local[3] | ^l.mask[3]}
	switch {
	case dst == [4]byte{255, 255, 255, 255} || (l.mask != ([4]byte{}) && dst == bcast):
		return Broadcast, dst, true
	case dst[0]&0xf0 == 224:
		return IPv4Multicast(dst), dst, true
	}
	ip = dst
	onLink := (dst[0]^l.local[0])&l.mask[0] == 0 && (dst[1]^l.local[1])&l.mask[1] == 0 &&
		(dst[2]^l.local[2])&l.mask[2] == 0 && (dst[3]^l.local[3])&l.mask[3] == 0
	if !onLink && l.router != ([4]byte{}) {
		ip = l.router
	}
	if e := l.lookup(ip); e != nil && e.state == entryReachable {
		return e.mac, ip, true
	}
	return MAC{}, ip, false
}

// Output writes the next frame of the frame stream (length prefix and
// frame) into p and returns its length; 0 when there is nothing to send or
// p cannot hold a largest frame (2 + 14 + MTU bytes).
func (l *Link) Output(p []byte, now time.Time) int {
	if len(p) < StreamHeaderLen+HeaderLen+l.mtu {
		return 0
	}
	n := l.OutputFrame(p[StreamHeaderLen:], now)
	if n > 0 {
		binary.BigEndian.PutUint16(p, uint16(n))
		return StreamHeaderLen + n
	}
	return 0
}

// OutputFrame writes the next whole frame into p (at least 14 + MTU bytes)
// and returns its length, 0 if there is none. Frames are padded to 60
// bytes. ARP goes first (replies, announcements, requests), then packets
// released by a resolution, then the IP layer's packets.
func (l *Link) OutputFrame(p []byte, now time.Time) int {
	if len(p) < HeaderLen+l.mtu {
		return 0
	}
	// Each round either returns a frame, or consumes a packet from the IP
	// layer (held or dropped) whose ARP request then goes out next round;
	// the bound keeps one call short.
	for round := 0; round < 8; round++ {
		if n := l.arpOutput(p, now); n > 0 {
			return l.sent(p, n)
		}
		if n := l.heldOutput(p); n > 0 {
			return l.sent(p, n)
		}
		if n := l.held6Output(p, now); n > 0 {
			return l.sent(p, n)
		}
		if l.cfg.Pull == nil {
			return 0
		}
		k := l.cfg.Pull(p[HeaderLen:HeaderLen+l.mtu], now)
		if k <= 0 {
			return 0
		}
		if p[HeaderLen]>>4 == 6 {
			if n := l.send6(p, k, now); n > 0 {
				return l.sent(p, n)
			}
			continue
		}
		if k < 20 {
			l.stats.OutNoAddr++
			continue
		}
		dst := [4]byte(p[HeaderLen+16 : HeaderLen+20])
		mac, ip, ok := l.nextHop(dst)
		if ok {
			PutHeader(p, mac, l.mac, TypeIPv4)
			return l.sent(p, HeaderLen+k)
		}
		if l.local == ([4]byte{}) {
			// Without an address only broadcast and multicast go out (a
			// DHCP client's DISCOVER); nobody can be asked by ARP.
			l.stats.OutNoAddr++
			continue
		}
		l.holdPacket(ip, p[HeaderLen:HeaderLen+k], now)
	}
	return 0
}

// send6 frames the IPv6 packet of k bytes at p[14:] for its next hop
// (RFC 2464 §5, §7: a multicast destination maps to 33:33 and its last four
// bytes; a unicast one is resolved by Neighbor Discovery) and returns the
// frame's length; 0 when the packet was held or dropped.
func (l *Link) send6(p []byte, k int, now time.Time) int {
	pkt := p[HeaderLen : HeaderLen+k]
	if l.cfg.ND == nil || k < 40 {
		l.stats.OutNoAddr++
		return 0
	}
	mac, ok := l.cfg.ND.Resolve(pkt, now)
	if ok {
		PutHeader(p, MAC(mac), l.mac, TypeIPv6)
		l.stats.OutIPv6++
		return HeaderLen + k
	}
	if l.hold6N > 0 {
		l.stats.ND6HoldDrops++ // one packet held: keep the first (TCP retransmits)
		return 0
	}
	if l.hold6 == nil {
		l.hold6 = make([]byte, l.mtu) // lent (see Shed)
	}
	l.hold6N = copy(l.hold6, pkt)
	l.hold6Until = nanosOf(now.Add(time.Duration(l.cfg.ARPRetries) * l.cfg.ARPRetry))
	return 0
}

// held6Output sends the held IPv6 packet once its neighbour is resolved,
// and drops it when resolution failed or took too long.
func (l *Link) held6Output(p []byte, now time.Time) int {
	if l.hold6N == 0 {
		return 0
	}
	pkt := l.hold6[:l.hold6N]
	mac, ok, waiting := l.cfg.ND.Lookup(pkt, now)
	switch {
	case ok:
		n := copy(p[HeaderLen:], pkt)
		l.hold6N = 0
		PutHeader(p, MAC(mac), l.mac, TypeIPv6)
		l.stats.OutIPv6++
		return HeaderLen + n
	case !waiting || !l.hold6Until.after(now):
		l.hold6N = 0
		l.stats.ND6HoldDrops++
	}
	return 0
}

// holdPacket keeps pkt until ip is resolved, starting the resolution.
func (l *Link) holdPacket(ip [4]byte, pkt []byte, now time.Time) {
	e := l.lookup(ip)
	if e == nil {
		if e = l.alloc(ip); e == nil {
			l.stats.ARPHoldDrops++
			return
		}
		e.state, e.when = entryIncomplete, now // the first request goes out at once
	}
	if e.hold >= 0 {
		l.stats.ARPHoldDrops++ // one packet per neighbour: keep the first
		return
	}
	for i, n := range l.holdLen {
		if n == 0 {
			copy(l.holdBuf(i), pkt)
			l.holdLen[i] = len(pkt)
			e.hold = int8(i)
			return
		}
	}
	l.stats.ARPHoldDrops++
}

// arpOutput writes the next ARP frame due: a reply, an announcement, a
// request. It expires entries on the way.
func (l *Link) arpOutput(p []byte, now time.Time) int {
	if l.probeDue {
		// RFC 5227 §2.1.1: a request with sender protocol address zero and
		// target hardware address zero.
		l.probeDue = false
		PutHeader(p, Broadcast, l.mac, TypeARP)
		PutARP(p[HeaderLen:], ARPRequest, l.mac, [4]byte{}, MAC{}, l.probeIP)
		l.stats.ARPProbes++
		return HeaderLen + ARPLen
	}
	if l.nreplies > 0 {
		r := l.replies[0]
		copy(l.replies[:], l.replies[1:l.nreplies])
		l.nreplies--
		if l.local == ([4]byte{}) {
			return 0
		}
		PutHeader(p, r.mac, l.mac, TypeARP)
		PutARP(p[HeaderLen:], ARPReply, l.mac, l.local, r.mac, r.ip)
		l.stats.ARPRepliesOut++
		return HeaderLen + ARPLen
	}
	if l.announce > 0 && !l.annAt.after(now) && l.local != ([4]byte{}) {
		l.announce--
		l.annAt = nanosOf(now.Add(time.Second))
		// RFC 5227 §3: an announcement is a request with sender and target
		// protocol addresses both ours, target hardware address zero.
		PutHeader(p, Broadcast, l.mac, TypeARP)
		PutARP(p[HeaderLen:], ARPRequest, l.mac, l.local, MAC{}, l.local)
		l.stats.ARPGratuitous++
		return HeaderLen + ARPLen
	}
	for i := range l.cache {
		e := &l.cache[i]
		switch {
		case e.state == entryReachable && !now.Before(e.when):
			l.stats.ARPExpired++
			l.free(e)
		case e.state == entryIncomplete && !now.Before(e.when):
			if int(e.tries) >= l.cfg.ARPRetries {
				l.stats.ARPFailed++
				l.free(e)
				continue
			}
			if l.local == ([4]byte{}) {
				continue
			}
			e.tries++
			e.when = now.Add(l.cfg.ARPRetry)
			PutHeader(p, Broadcast, l.mac, TypeARP)
			PutARP(p[HeaderLen:], ARPRequest, l.mac, l.local, MAC{}, e.ip)
			l.stats.ARPRequestsOut++
			return HeaderLen + ARPLen
		}
	}
	return 0
}

// heldOutput sends a held packet whose neighbour has been resolved.
func (l *Link) heldOutput(p []byte) int {
	for i := range l.cache {
		e := &l.cache[i]
		if e.state != entryReachable || e.hold < 0 {
			continue
		}
		h := e.hold
		n := copy(p[HeaderLen:], l.holdBuf(int(h))[:l.holdLen[h]])
		l.holdLen[h] = 0
		e.hold = -1
		PutHeader(p, e.mac, l.mac, TypeIPv4)
		return HeaderLen + n
	}
	return 0
}

// sent pads the frame to the minimum length, shows it to the tap and
// counts it.
func (l *Link) sent(p []byte, n int) int {
	for n < minFrame {
		p[n] = 0
		n++
	}
	l.stats.OutFrames++
	if l.cfg.Tap != nil {
		l.cfg.Tap(true, p[:n])
	}
	return n
}

// Poll returns when the link next has work: an ARP request or
// announcement due, an entry to expire (zero: none). Output does the work.
func (l *Link) Poll(now time.Time) time.Time {
	var next time.Time
	if l.announce > 0 {
		next = l.annAt.time()
	}
	if l.hold6N > 0 {
		next = earliest(next, l.hold6Until.time())
	}
	for i := range l.cache {
		if e := &l.cache[i]; e.state != entryFree {
			next = earliest(next, e.when)
		}
	}
	return next
}

// Pending reports whether Output has a frame to send without asking the IP
// layer: an ARP reply, or a held packet now resolved.
func (l *Link) Pending(now time.Time) bool {
	if l.hold6N > 0 {
		if _, ok, waiting := l.cfg.ND.Lookup(l.hold6[:l.hold6N], now); ok || !waiting {
			return true
		}
	}
	if l.probeDue || l.nreplies > 0 || (l.announce > 0 && !l.annAt.after(now)) {
		return true
	}
	for i := range l.cache {
		e := &l.cache[i]
		if (e.state == entryReachable && e.hold >= 0) || (e.state == entryIncomplete && !now.Before(e.when)) {
			return true
		}
	}
	return false
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
