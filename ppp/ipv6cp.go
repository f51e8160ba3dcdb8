package ppp

import "time"

// IPV6CP (RFC 5072): the IPv6 Control Protocol, on the same RFC 1661
// automaton as IPCP. Its one option we negotiate is the Interface-Identifier
// (type 1, length 10): each end proposes a non-zero 64-bit identifier for
// its link-local address fe80::IID, and the two must differ (§4.1).
// IPv6-Compression-Protocol (type 2) and unknown options are rejected.
const (
	ProtoIPv6   = 0x0057 // Internet Protocol version 6 (RFC 5072 §2)
	ProtoIPV6CP = 0x8057 // IPv6 Control Protocol (RFC 5072 §3)

	optIfaceID  = 1
	ifaceOptLen = 10
)

// IPv6Config turns IPv6 on for a Link (Config.IPv6).
type IPv6Config struct {
	// LocalIID is our interface identifier; zero: a random one, redrawn
	// when the peer's collides (RFC 5072 §4.1).
	LocalIID [8]byte
}

// Stats6 are IPv6's counters of a link.
type Stats6 struct {
	IP6In, IP6Out uint64 // IPv6 packets delivered, sent
	IPV6CPOpens   uint64 // times IPV6CP reached Opened
	IPV6CPState   State
}

// link6 is a link's IPv6 state, allocated by New only with Config.IPv6
// (the Link itself stays in its 1,024-byte size class).
type link6 struct {
	fsm      fsm
	iid      [8]byte // ours, proposed
	hisIID   [8]byte
	localIID [8]byte // negotiated (while up)
	peerIID  [8]byte
	iidNeg   bool
	up       bool
	stats    Stats6
}

// ip6Input handles an IPV6CP or IPv6 packet; false: not in this phase.
func (l *Link) ip6Input(proto uint16, p []byte, now time.Time) bool {
	if proto == ProtoIPV6CP {
		if !l.network {
			return false
		}
		l.v6.fsm.input(p, now)
		return true
	}
	if !l.v6.up || len(p) == 0 || p[0]>>4 != 6 {
		return false // not open, or not IPv6 (the card dispatches on the version nibble)
	}
	l.v6.stats.IP6In++
	l.cfg.up.DeliverIP(p)
	return true
}

// Stats6 returns a copy of the IPv6 counters (zero without Config.IPv6).
func (l *Link) Stats6() Stats6 {
	if l.v6 == nil {
		return Stats6{}
	}
	s := l.v6.stats
	s.IPV6CPState = l.v6.fsm.state
	return s
}

// ipv6cpHandler is the Link seen as IPV6CP's option handler.
type ipv6cpHandler Link

func putIIDOpt(dst []byte, iid [8]byte) int {
	dst[0], dst[1] = optIfaceID, ifaceOptLen
	copy(dst[2:10], iid[:])
	return ifaceOptLen
}

// newIID draws a random non-zero identifier different from avoid (RFC 5072
// §4.1: "a value that is likely to be unique ... MUST NOT be zero").
func (l *Link) newIID(avoid [8]byte) [8]byte {
	var iid [8]byte
	for {
		l.random(iid[:4])
		l.random(iid[4:])
		iid[0] &^= 0x02 // the universal/local bit: locally assigned (RFC 4291 App. A)
		if iid != ([8]byte{}) && iid != avoid {
			return iid
		}
	}
}

func (h *ipv6cpHandler) resetCI() {
	l := (*Link)(h)
	o := l.v6
	if l.cfg.IPv6.LocalIID != ([8]byte{}) {
		o.iid = l.cfg.IPv6.LocalIID
	} else if o.iid == ([8]byte{}) {
		o.iid = l.newIID([8]byte{})
	}
	o.iidNeg = true
}

func (h *ipv6cpHandler) addCI(dst []byte) int {
	o := (*Link)(h).v6
	if !o.iidNeg {
		return 0
	}
	return putIIDOpt(dst, o.iid)
}

// checkCI judges the peer's Interface-Identifier (RFC 5072 §4.1): zero (it
// asks us for one) or equal to ours gets a Nak with a fresh suggestion
// different from ours; anything else is acknowledged.
func (h *ipv6cpHandler) checkCI(typ byte, val []byte, nak []byte) (byte, int) {
	l := (*Link)(h)
	if typ != optIfaceID {
		return codeConfRej, 0
	}
	if len(val) != 8 {
		return codeConfRej, 0
	}
	v := [8]byte(val)
	if v == ([8]byte{}) || v == l.v6.iid {
		return codeConfNak, putIIDOpt(nak, l.newIID(l.v6.iid))
	}
	return codeConfAck, 0
}

func (h *ipv6cpHandler) resetPeerCI() { (*Link)(h).v6.hisIID = [8]byte{} }

func (h *ipv6cpHandler) applyCI(typ byte, val []byte) {
	if typ == optIfaceID && len(val) == 8 {
		(*Link)(h).v6.hisIID = [8]byte(val)
	}
}

// nakCI takes the peer's suggested identifier (RFC 5072 §4.1: the
// suggestion is used unless it is zero or the peer's own); a configured
// LocalIID is kept — the automaton's max-failure bounds a disagreement.
func (h *ipv6cpHandler) nakCI(typ byte, val []byte) {
	l := (*Link)(h)
	o := l.v6
	if typ != optIfaceID || len(val) != 8 || l.cfg.IPv6.LocalIID != ([8]byte{}) {
		return
	}
	v := [8]byte(val)
	if v == ([8]byte{}) || v == o.hisIID {
		o.iid = l.newIID(o.hisIID)
		return
	}
	o.iid = v
}

func (h *ipv6cpHandler) rejCI(typ byte) {
	if typ == optIfaceID {
		// RFC 5072 §4.1: without the option we still need an identifier;
		// keep ours (it is random and non-zero).
		(*Link)(h).v6.iidNeg = false
	}
}

func (h *ipv6cpHandler) catastrophic(code byte) bool {
	return code >= codeConfReq && code <= codeCodeRej
}

func (h *ipv6cpHandler) extCode(byte, byte, []byte, time.Time) bool { return false }

func (h *ipv6cpHandler) up(time.Time) {
	l := (*Link)(h)
	o := l.v6
	o.localIID, o.peerIID = o.iid, o.hisIID
	o.up = true
	o.stats.IPV6CPOpens++
	l.event(EventIPV6CPUp)
}

func (h *ipv6cpHandler) down(time.Time) {
	l := (*Link)(h)
	l.v6.up = false
	l.event(EventIPV6CPDown)
}

func (h *ipv6cpHandler) started(time.Time) {}

func (h *ipv6cpHandler) finished(now time.Time) {
	l := (*Link)(h)
	if l.lcp.state == Opened && l.ipcp.state <= Stopped {
		l.lcp.close(now)
	}
}

// Up6 reports whether IPV6CP is Opened: IPv6 packets flow.
func (l *Link) Up6() bool { return l.v6 != nil && l.v6.up }

// LocalIID is our negotiated interface identifier (meaningful while Up6):
// the card's link-local address is fe80::LocalIID.
func (l *Link) LocalIID() [8]byte {
	if l.v6 == nil {
		return [8]byte{}
	}
	return l.v6.localIID
}

// PeerIID is the peer's negotiated interface identifier (zero if it sent
// none; meaningful while Up6).
func (l *Link) PeerIID() [8]byte {
	if l.v6 == nil {
		return [8]byte{}
	}
	return l.v6.peerIID
}
