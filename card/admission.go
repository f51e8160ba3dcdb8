package card

import (
	"bytes"
	"encoding/binary"
	"netcard/ipv6"
	"time"

	"netcard/apps"
	"netcard/ipv4"
	"netcard/tcp"
	"netcard/tls"
)

// Admission under connection exhaustion. The Card profile has a handful of
// TCP slots, and anyone who can complete a TCP handshake can try to hold
// them all, on either listening port (HTTPS and the plain-HTTP redirect
// share the slots and this policy). The card's policy, applied when a
// connection attempt finds every slot busy:
//
//   - A bare SYN never evicts anything: it is answered with a SYN cookie
//     (RFC 4987) and the card keeps no state.
//   - The ACK that completes a cookie handshake is admitted by eviction only
//     if it shows progress — it carries the start of a request, sent at
//     once (see showsProgress: a ClientHello record, whole or 256 bytes of
//     it; a request line). Until a victim exists it is silently dropped,
//     not reset (as Linux does when its accept queue overflows): the peer
//     retransmits its data, each retransmission is another try, and its
//     cookie stays valid for 64–128 s. An idle or byte-dripping attacker can
//     thus take only slots that are free; it never takes one from a client
//     that came with its request.
//   - The freed slot goes to the segment whose arrival evicted (tcp
//     Config.Full is called from inside that segment's processing). A
//     half-open connection keeps its slot for halfOpenAfter after its
//     SYN-ACK went out; then TCP may recycle it for a peer that showed
//     progress (spoofed SYNs never answer).
//   - Victims, in this order of preference (rank):
//     0. a connection that has sent no byte for SilentAfter (TLS or plain);
//     1. a request (head or body) that lags the minimum rate: it has taken
//     longer than EvictAfter plus its bytes at http.ServerConfig.MinRate
//     (256 B/s) — a slow header or body drip, whatever its deadlines;
//     2. a TLS handshake not completed within EvictAfter (after the
//     drippers: a handshake may be slow only because the line is busy);
//     3. a connection between requests (after its handshake, or plain) for
//     EvictAfter, or whose output the peer has stopped taking
//     (apps.StallIdleAfter);
//     4. a request in progress for LongRequestAfter, even at the minimum
//     rate (an attacker sending just enough must not hold a slot for the
//     length of a 4 MiB body).
//     Per-source fairness comes first: when an address holds at least two
//     slots more than the newcomer's, any of its connections older than
//     FairAfter (no work in progress) or EvictAfter (a request being
//     received) is eligible, and the victim is taken from the address
//     holding most slots; then the lowest rank, then the oldest. A response
//     being sent (output the peer takes) is never evicted.
//
// Lone deadlines end what this policy does not need to evict: a handshake
// after 10 s (apps.SessionConfig.HandshakeTimeout), a request head 10 s
// after its first byte, a body lagging MinRate after a 20 s grace
// (http.ServerConfig), an idle connection after 60 s.
const (
	// EvictAfter is the handshake budget and the idle time after which a
	// connection may lose its slot to a newcomer that made progress. It
	// does not cut short a handshake that is merely slow on a serial line
	// (≈ 0.2 s at 115200 baud, ≈ 2 s at 9600) when no one is waiting.
	EvictAfter = 2 * time.Second
	// SilentAfter is how long a TLS connection may hold a slot without
	// sending a single byte when a newcomer is waiting.
	SilentAfter = time.Second
	// FairAfter is the age after which an address holding two slots more
	// than a newcomer's loses one without work in progress.
	FairAfter = 500 * time.Millisecond
	// LongRequestAfter is how long a request may be received, at any rate,
	// before its slot may go to a newcomer that made progress: the slots
	// are time-shared under contention. Requests from one address look
	// alike whether an attacker sends them at just above MinRate or a
	// client uploads a file, so none may keep a contended slot for long;
	// 10 s lets a client waiting for a slot find one within its TCP
	// retransmissions (4 attacker uploads at 300 B/s: the paced client
	// gets 22 of 23 requests, against 5 of 14 with 30 s). A legitimate
	// upload longer than this loses its slot only when every slot is busy
	// and nothing else is evictable; it completes once the contention ends.
	LongRequestAfter = 10 * time.Second
)

// tcpGate is the card's TCP as the IPv4 layer sees it: it records which
// connections have sent data, and applies the admission policy (see
// EvictAfter) before TCP answers a handshake-completing ACK with RST.
type tcpGate Card

// admission is the context of the segment TCP is processing, for evict.
type admission struct {
	active   bool // a segment is inside tcp.Stack.Input
	syn      bool
	progress bool      // it carries the start of a request
	src      ipv6.Addr // IPv4-mapped for IPv4
}

// Input implements ipv4.Transport.
func (g *tcpGate) Input(src, dst ipv4.Addr, seg []byte, now time.Time) bool {
	return g.Input6(ipv6.From4(src), ipv6.From4(dst), seg, now)
}

// Input6 implements ipv6.Transport: IPv6 connections pass the same gate,
// into the same dual-stack TCP (its RFC 5961/6528 defences included).
func (g *tcpGate) Input6(src, dst ipv6.Addr, seg []byte, now time.Time) bool {
	c := (*Card)(g)
	h, err := tcp.ParseHeader(seg)
	if err != nil || h.DataOff > len(seg) {
		return c.tcp.Input6(src, dst, seg, now)
	}
	data := seg[h.DataOff:]
	i := c.connSlot(src, dst, h.SrcPort, h.DstPort)
	reopen := false // a SYN reopening a connection in TIME-WAIT
	if i >= 0 {
		conn, _ := c.tcp.Conn(i)
		reopen = conn.State() == tcp.TimeWait && h.Flags&tcp.FlagSYN != 0
	}
	listening := h.DstPort == c.cfg.HTTPSPort || h.DstPort == c.cfg.HTTPPort
	adm := admission{active: true, syn: h.Flags&tcp.FlagSYN != 0, src: src}
	if i < 0 && listening && h.Flags&(tcp.FlagSYN|tcp.FlagRST|tcp.FlagACK) == tcp.FlagACK {
		// Completes a handshake answered with a SYN cookie (or is stray).
		adm.progress = c.showsProgress(h.DstPort, data)
		if !c.admissible(src, adm.progress, now) && tcp.Checksum6(src, dst, seg) == 0 {
			if c.admDeferred != ^uint32(0) {
				c.admDeferred++
			}
			return true // dropped, not reset: the peer retransmits and tries again
		}
	}
	c.adm = adm
	ok := c.tcp.Input6(src, dst, seg, now)
	c.adm = admission{}
	if j := c.connSlot(src, dst, h.SrcPort, h.DstPort); j >= 0 {
		switch {
		case j != i || reopen: // a new connection in slot j
			c.slots[j].at = unset
			c.slots[j].at.born = now.UnixNano()
			if len(data) > 0 {
				c.slots[j].at.data = now.UnixNano()
			}
		case len(data) > 0 && c.slots[j].at.data == never && tcp.Checksum6(src, dst, seg) == 0:
			c.slots[j].at.data = now.UnixNano()
		}
	}
	return ok
}

// Output implements ipv4.Transport. It notes when each half-open
// connection's SYN-ACK went out.
func (g *tcpGate) Output(dst []byte, local ipv4.Addr, now time.Time) (int, ipv4.Addr) {
	c := (*Card)(g)
	n, a := c.tcp.Output(dst, local, now)
	c.noteSynAck(dst[:n], ipv6.From4(local), ipv6.From4(a), now)
	return n, a
}

// noteSynAck notes when each half-open connection's SYN-ACK went out.
func (c *Card) noteSynAck(seg []byte, local, remote ipv6.Addr, now time.Time) {
	if len(seg) >= tcp.HeaderLen && seg[13]&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK {
		lport, rport := binary.BigEndian.Uint16(seg[0:]), binary.BigEndian.Uint16(seg[2:])
		if j := c.connSlot(remote, local, rport, lport); j >= 0 && c.slots[j].at.synAck == never {
			c.slots[j].at.synAck = now.UnixNano()
		}
	}
}

// Poll implements ipv4.Transport.
func (g *tcpGate) Poll(now time.Time) time.Time { return (*Card)(g).tcp.Poll(now) }

// showsProgress reports whether the first data of a connection is the
// start of a request that a client sends at once, not dripped: on the HTTPS
// port a ClientHello record whose first segment carries the whole record or
// at least progressBytes of it; on the HTTP port a complete request line.
func (c *Card) showsProgress(port uint16, data []byte) bool {
	if port == c.cfg.HTTPSPort {
		if len(data) < 9 || data[0] != 22 || data[1] != 3 || data[5] != 1 {
			return false
		}
		rec := 5 + (int(data[3])<<8 | int(data[4]))
		if rec < 5+minHelloBody {
			return false // no real ClientHello is that short
		}
		return len(data) >= min(rec, progressBytes)
	}
	return bytes.IndexByte(data, '\n') >= 0
}

// progressBytes is how much of a ClientHello the first segment must carry to
// show progress: less than any MSS a peer may use (536 by default), more
// than a byte-dripping client accumulates in minutes.
const progressBytes = 256

// minHelloBody is a lower bound on a ClientHello handshake message: header
// (4), version (2), random (32), session id, suites, compression and the
// extensions any TLS 1.2/1.3 client sends. A shorter record cannot evict.
const minHelloBody = 64

// connSlot returns the TCP slot of the connection a segment belongs to, or -1.
func (c *Card) connSlot(src, dst ipv6.Addr, sport, dport uint16) int {
	for i := range c.slots {
		conn, ok := c.tcp.Conn(i)
		if !ok || conn.State() == tcp.Closed {
			continue
		}
		ra, rp := conn.Remote()
		la, lp := conn.Local()
		if rp == sport && lp == dport && ra == src && la == dst {
			return i
		}
	}
	return -1
}

// admissible reports whether TCP can open a passive connection for a
// handshake-completing ACK: with a free slot or one in TIME-WAIT; by
// recycling the oldest half-open connection (which TCP does before it
// asks the card), only for an ACK that shows progress and only if that
// connection has had halfOpenAfter to complete its handshake (a client's
// SYN-ACK may still be on the line, or its answer); otherwise by evicting
// a victim.
func (c *Card) admissible(src ipv6.Addr, progress bool, now time.Time) bool {
	half := -1
	for i := range c.slots {
		conn, ok := c.tcp.Conn(i)
		if !ok {
			return true
		}
		switch conn.State() {
		case tcp.TimeWait: // (CLOSED but in use: not yet released, not free)
			return true
		case tcp.SynReceived:
			if half < 0 || before(c.slots[i].at.born, c.slots[half].at.born) {
				half = i
			}
		}
	}
	if half >= 0 {
		sent := c.slots[half].at.synAck
		return progress && sent != never && now.UnixNano()-sent >= int64(halfOpenAfter)
	}
	return c.victim(src, progress, now) != nil
}

// halfOpenAfter is how long after its SYN-ACK went out a half-open
// connection keeps its slot against a peer that completed a SYN-cookie
// handshake with its request: a client answers within a round trip.
const halfOpenAfter = 250 * time.Millisecond

// dataSince returns when the connection of a session first sent data (as
// slotTimes; never: not yet).
func (c *Card) dataSince(s *apps.ServerSession) int64 {
	conn, ok := s.Stream().(*tcp.Conn)
	if !ok {
		return never
	}
	for i := range c.slots {
		if x, _ := c.tcp.Conn(i); x == conn {
			return c.slots[i].at.data
		}
	}
	return never
}

// slotsHeld counts the sessions serving connections from a.
func (c *Card) slotsHeld(a ipv6.Addr) int {
	n := 0
	for i := range c.slots {
		s := c.slots[i].sess
		if !s.Done() && ipv6.FromNetip(s.Remote().Addr()).Owner() == a.Owner() {
			n++
		}
	}
	return n
}

// victim returns the session whose connection a newcomer from src may
// evict under the admission policy (see EvictAfter), or nil.
func (c *Card) victim(src ipv6.Addr, progress bool, now time.Time) *apps.ServerSession {
	if !progress {
		return nil
	}
	mine := c.slotsHeld(src)
	var best *apps.ServerSession
	var bestHeld, bestRank int
	var bestSince time.Time
	for i := range c.slots {
		s := c.slots[i].sess
		if s.Done() {
			continue
		}
		held := c.slotsHeld(ipv6.FromNetip(s.Remote().Addr()))
		rank, since, eligible := c.evictable(s, held >= mine+2, now)
		if !eligible {
			continue
		}
		better := best == nil || held > bestHeld ||
			held == bestHeld && (rank < bestRank || rank == bestRank && since.Before(bestSince))
		if better {
			best, bestHeld, bestRank, bestSince = s, held, rank, since
		}
	}
	return best
}

// The victim ranks (see EvictAfter), most evictable first.
const (
	rankSilent = iota
	rankLagging
	rankHandshaking
	rankIdle
	rankLong
)

// evictable returns the rank of s as a victim and since when it has been
// in that state, and whether it is eligible now; unfair says its address
// holds two slots more than the newcomer's.
func (c *Card) evictable(s *apps.ServerSession, unfair bool, now time.Time) (rank int, since time.Time, ok bool) {
	if since, idle := s.Idle(); idle {
		age := now.Sub(since)
		rank = rankIdle // after its handshake (or plain), waiting for a request
		silent := c.dataSince(s) == never
		if e := s.Engine(); e != nil && e.State() == tls.Handshaking {
			rank = rankHandshaking
			if silent {
				rank = rankSilent
			}
		} else if e == nil && silent {
			rank = rankSilent
		}
		return rank, since, age >= EvictAfter || (rank == rankSilent && age >= SilentAfter) ||
			(unfair && age >= FairAfter)
	}
	since, lagging, receiving := s.Receiving(now, EvictAfter)
	if !receiving {
		return 0, time.Time{}, false // a response in progress
	}
	age := now.Sub(since)
	if lagging {
		return rankLagging, since, true
	}
	return rankLong, since, age >= LongRequestAfter || (unfair && age >= EvictAfter)
}

// evict is TCP's Config.Full: it frees a slot for the segment being
// processed if the admission policy allows (see EvictAfter).
func (c *Card) evict(now time.Time) bool {
	if !c.adm.active || c.adm.syn {
		return false // a bare SYN gets a SYN cookie
	}
	v := c.victim(c.adm.src, c.adm.progress, now)
	if v == nil {
		return false
	}
	_, since, _ := c.evictable(v, false, now)
	c.cfg.Log.Debug("evicting a connection", "remote", v.Remote(), "for", c.adm.src, "since", now.Sub(since))
	v.Evict()
	v.Release()
	return true
}

func (c *Card) freeSession() *apps.ServerSession {
	for i := range c.slots {
		s := c.slots[i].sess
		if s.Done() {
			return s
		}
	}
	return nil
}
