package ipv6

import (
	"encoding/binary"
	"time"
)

// Neighbor Discovery's address resolution for an Ethernet link (RFC 4861
// §7.2, §7.3): a fixed table of neighbour entries, sized at start, with the
// states a host needs — INCOMPLETE while solicitations (at most
// MaxMulticastSolicit, RetransTimer apart) wait for an answer, REACHABLE
// for ReachableTime after a solicited advertisement, STALE after that or
// when an unsolicited message carried the link-layer address (still used:
// the next solicited advertisement confirms it). When the table is full
// the least recently used entry that is not INCOMPLETE is replaced; when
// every entry is INCOMPLETE the new destination is not resolved (the
// packet is dropped, Stats.NoEntry): a flood of destinations costs a
// bounded table and at most one solicitation per entry per RetransTimer.
//
// The link calls Resolve for every packet it sends; a packet whose
// neighbour is not known is dropped, not queued (RFC 4861 §7.2.2 SHOULDs
// a one-packet queue; TCP retransmits, and the card keeps no per-packet
// buffer).
type Neighbors struct {
	h         *Host
	ents      []neighbor
	retrans   time.Duration
	reachable time.Duration
	router    Addr      // default router (from an advertisement with a router lifetime)
	routerTo  time.Time // its lifetime
	onlink    [2]onlinkPrefix
	stats     NeighborStats
	Next      NDHandler // also receives every ND message (e.g. SLAAC); nil: none
}

type onlinkPrefix struct {
	p     Addr // /64
	until time.Time
}

// NeighborStats counts the cache's work.
type NeighborStats struct {
	Resolved, Incomplete, NoEntry uint64 // Resolve outcomes
	SolicitsOut, Failed           uint64 // NS sent; entries given up after MaxMulticastSolicit
	Learned, Confirmed            uint64 // entries created or updated from messages; advertisements that made one REACHABLE
	Replaced                      uint64 // entries evicted for a new one
	BadOptions                    uint64 // ND messages with a malformed option (RFC 4861 §7.1)
}

const (
	nbFree uint8 = iota
	nbIncomplete
	nbReachable
	nbStale

	maxMulticastSolicit = 3 // RFC 4861 §10
)

type neighbor struct {
	addr  Addr
	mac   [6]byte
	state uint8
	tries uint8
	at    time.Time // INCOMPLETE: next solicitation; REACHABLE: becomes STALE
	used  time.Time
}

// NewNeighbors attaches a neighbour cache of n entries to h (it becomes
// h.ND; set Next to chain SLAAC).
func NewNeighbors(h *Host, n int) *Neighbors {
	nb := &Neighbors{h: h, ents: make([]neighbor, max(n, 1)), retrans: time.Second, reachable: 30 * time.Second}
	h.ND = nb
	return nb
}

// Stats returns the counters.
func (nb *Neighbors) Stats() NeighborStats { return nb.stats }

// Footprint is the bytes of the table.
func (nb *Neighbors) Footprint() int { return len(nb.ents) * int(neighborSize) }

const neighborSize = 16 + 6 + 2 + 24 + 24 // addr, mac, state/tries, two times

// NeighborBytes is the RAM of one neighbour cache entry (Footprint).
const NeighborBytes = int(neighborSize)

// MulticastMAC is the Ethernet address of an IPv6 multicast group (RFC 2464
// §7): 33:33 and the group's last four bytes.
func MulticastMAC(a Addr) [6]byte { return [6]byte{0x33, 0x33, a[12], a[13], a[14], a[15]} }

// NextHop returns where a packet to dst goes on the link: dst itself when
// it is link-local, multicast or in an on-link prefix (RFC 4861 §5.2),
// else the default router (zero when there is none).
func (nb *Neighbors) NextHop(dst Addr, now time.Time) Addr {
	if dst.IsLinkLocal() || dst.IsMulticast() {
		return dst
	}
	for _, p := range nb.onlink {
		if p.p != (Addr{}) && now.Before(p.until) && [8]byte(dst[:8]) == [8]byte(p.p[:8]) {
			return dst
		}
	}
	if nb.router != (Addr{}) && now.Before(nb.routerTo) {
		return nb.router
	}
	return Addr{}
}

// Resolve returns the link-layer address for an IPv6 packet the host is
// sending (its next hop, NextHop). ok is false when it is not known yet: a
// solicitation is on its way (or the table is full), and the packet should
// be dropped.
func (nb *Neighbors) Resolve(pkt []byte, now time.Time) (mac [6]byte, ok bool) {
	if len(pkt) < HeaderLen {
		return mac, false
	}
	hop := nb.NextHop(Addr(pkt[24:40]), now)
	if hop.IsMulticast() {
		return MulticastMAC(hop), true
	}
	if hop == (Addr{}) {
		nb.stats.NoEntry++
		return mac, false
	}
	if e := nb.find(hop); e != nil {
		e.used = now
		if e.state != nbIncomplete {
			if e.state == nbReachable && !now.Before(e.at) {
				e.state = nbStale // RFC 4861 §7.3.3: ReachableTime passed
			}
			nb.stats.Resolved++
			return e.mac, true
		}
		nb.stats.Incomplete++
		return mac, false
	}
	e := nb.slot(now)
	if e == nil {
		nb.stats.NoEntry++
		return mac, false
	}
	*e = neighbor{addr: hop, state: nbIncomplete, at: now, used: now}
	nb.stats.Incomplete++
	nb.solicit(e, now)
	return mac, false
}

// Lookup is Resolve without side effects, for a packet the link holds
// while its neighbour is resolved: ok with the address once known;
// waiting while a solicitation is outstanding (false once the entry
// failed, so the link drops the packet).
func (nb *Neighbors) Lookup(pkt []byte, now time.Time) (mac [6]byte, ok, waiting bool) {
	if len(pkt) < HeaderLen {
		return mac, false, false
	}
	hop := nb.NextHop(Addr(pkt[24:40]), now)
	if hop.IsMulticast() {
		return MulticastMAC(hop), true, false
	}
	if e := nb.find(hop); e != nil && hop != (Addr{}) {
		if e.state == nbIncomplete {
			return mac, false, true
		}
		e.used = now
		return e.mac, true, false
	}
	return mac, false, false
}

func (nb *Neighbors) find(a Addr) *neighbor {
	for i := range nb.ents {
		if nb.ents[i].state != nbFree && nb.ents[i].addr == a {
			return &nb.ents[i]
		}
	}
	return nil
}

// slot returns a free entry, or the least recently used complete one.
func (nb *Neighbors) slot(now time.Time) *neighbor {
	var lru *neighbor
	for i := range nb.ents {
		e := &nb.ents[i]
		if e.state == nbFree {
			return e
		}
		if e.state != nbIncomplete && (lru == nil || e.used.Before(lru.used)) {
			lru = e
		}
	}
	if lru != nil {
		nb.stats.Replaced++
	}
	return lru
}

// solicit sends the entry's next Neighbor Solicitation when due.
func (nb *Neighbors) solicit(e *neighbor, now time.Time) {
	if now.Before(e.at) || nb.h.ctlN != 0 {
		return
	}
	if e.tries >= maxMulticastSolicit {
		nb.stats.Failed++
		*e = neighbor{}
		return
	}
	src := nb.h.source(e.addr)
	if src == (Addr{}) {
		return
	}
	nb.h.SendSolicit(src, e.addr)
	nb.stats.SolicitsOut++
	e.tries++
	e.at = now.Add(nb.retrans)
}

// Poll retries solicitations and returns when it next wants to run.
func (nb *Neighbors) Poll(now time.Time) time.Time {
	var next time.Time
	for i := range nb.ents {
		e := &nb.ents[i]
		if e.state == nbIncomplete {
			nb.solicit(e, now)
			if e.state == nbIncomplete {
				next = earliest(next, e.at)
			}
		}
	}
	return next
}

// lladdr returns the link-layer address option of type typ (1 source, 2
// target) in ND options o; ok false when absent; bad when an option is
// malformed (RFC 4861 §7.1: zero length).
func lladdr(o []byte, typ byte) (mac [6]byte, ok, bad bool) {
	for len(o) > 0 {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return mac, false, true
		}
		if o[0] == typ && o[1] == 1 {
			mac, ok = [6]byte(o[2:8]), true
		}
		o = o[int(o[1])*8:]
	}
	return mac, ok, false
}

// learn records a link-layer address for a (RFC 4861 §7.2.3, §7.2.5):
// a new entry is STALE; an INCOMPLETE one takes the address; reachable
// makes it REACHABLE.
func (nb *Neighbors) learn(a Addr, mac [6]byte, reachable bool, create bool, now time.Time) {
	e := nb.find(a)
	if e == nil {
		if !create {
			return
		}
		if e = nb.slot(now); e == nil {
			return
		}
		*e = neighbor{addr: a, used: now}
	}
	nb.stats.Learned++
	e.mac, e.state, e.tries = mac, nbStale, 0
	if reachable {
		e.state, e.at = nbReachable, now.Add(nb.reachable)
		nb.stats.Confirmed++
	}
}

// NDInput implements NDHandler (the Host checked hop limit 255 and code 0).
func (nb *Neighbors) NDInput(typ uint8, src, dst Addr, msg []byte, now time.Time) {
	switch typ {
	case TypeNeighborSol:
		// §7.2.3: a solicitation's source link-layer address creates or
		// updates a STALE entry (none from the unspecified source, §7.1.1).
		if len(msg) >= 24 {
			mac, ok, bad := lladdr(msg[24:], 1)
			switch {
			case bad || ok && src == (Addr{}):
				nb.stats.BadOptions++
			case ok:
				nb.learn(src, mac, false, true, now)
			}
		}
	case TypeNeighborAdv:
		// §7.1.2: at least 24 bytes, target not multicast, Solicited
		// clear when sent to a multicast address. §7.2.5: only an
		// existing entry is updated; Solicited makes it REACHABLE.
		if len(msg) >= 24 {
			target := Addr(msg[8:24])
			solicited := msg[4]&0x40 != 0
			mac, ok, bad := lladdr(msg[24:], 2)
			switch {
			case bad || target.IsMulticast() || solicited && dst.IsMulticast():
				nb.stats.BadOptions++
			case ok:
				nb.learn(target, mac, solicited, false, now)
			}
		}
	case TypeRouterAdv:
		if len(msg) >= 16 && src.IsLinkLocal() {
			if mac, ok, bad := lladdr(msg[16:], 1); ok && !bad {
				nb.learn(src, mac, false, true, now)
			}
			if life := binary.BigEndian.Uint16(msg[6:8]); life > 0 {
				nb.router, nb.routerTo = src, now.Add(time.Duration(life)*time.Second)
			} else if nb.router == src {
				nb.router = Addr{}
			}
			nb.onLink(msg[16:], now)
		}
	}
	if nb.Next != nil {
		nb.Next.NDInput(typ, src, dst, msg, now)
	}
}

// onLink records the on-link prefixes (L flag) of an advertisement.
func (nb *Neighbors) onLink(o []byte, now time.Time) {
	for len(o) >= 8 && o[1] != 0 && int(o[1])*8 <= len(o) {
		if o[0] == 3 && o[1] == 4 && o[2] == 64 && o[3]&0x80 != 0 {
			p := Addr(o[16:32])
			valid := binary.BigEndian.Uint32(o[4:8])
			until := now.Add(time.Duration(valid) * time.Second)
			if valid == 0xffffffff {
				until = now.Add(100 * 365 * 24 * time.Hour)
			}
			k := 0
			for i, x := range nb.onlink {
				if [8]byte(x.p[:8]) == [8]byte(p[:8]) || x.p == (Addr{}) || !now.Before(x.until) {
					k = i
					break
				}
			}
			nb.onlink[k] = onlinkPrefix{p: p, until: until}
		}
		o = o[int(o[1])*8:]
	}
}

// Duplicate passes DAD's verdict on to Next.
func (nb *Neighbors) Duplicate(a Addr) {
	if d, ok := nb.Next.(interface{ Duplicate(Addr) }); ok {
		d.Duplicate(a)
	}
}
