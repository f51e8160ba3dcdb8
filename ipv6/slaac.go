package ipv6

import (
	"encoding/binary"
	"time"

	"netcard/ipv4"
)

// SLAACConfig configures address autoconfiguration on one link.
type SLAACConfig struct {
	// DupAddrDetectTransmits is the number of DAD probes per address (RFC
	// 4862 §5.1): 1 on Ethernet; 0 on PPP, where IPV6CP already made the
	// two interface identifiers of the two-node link differ (RFC 5072 §5).
	DupAddrDetectTransmits int
	// RetransTimer is the time between probes and after the last one
	// (RFC 4861 §10 RETRANS_TIMER, default 1 s).
	RetransTimer time.Duration
	// Solicitations is the number of Router Solicitations sent at start
	// (RFC 4861 §10 MAX_RTR_SOLICITATIONS, default 3; negative: none),
	// SolicitInterval apart (default 4 s).
	Solicitations   int
	SolicitInterval time.Duration
}

// SLAACStats counts router advertisements and the addresses they gave.
type SLAACStats struct {
	RAIn, RABad     uint64 // advertisements processed, dropped as invalid (RFC 4861 §6.1.2)
	PrefixIgnored   uint64 // prefix options not used (RFC 4862 §5.5.3 a–c, prefix length ≠ 64, no slot)
	AddrsConfigured uint64 // addresses formed from prefixes
	AddrsExpired    uint64 // addresses whose valid lifetime ran out
	RSOut           uint64 // router solicitations sent
	MTUSet          uint64 // MTU options applied
}

// slaacAddr is one autoconfigured address.
type slaacAddr struct {
	addr      Addr
	valid     time.Time // zero: infinite
	dadLeft   int8      // probes still to send
	tentative bool
	dadAt     time.Time // next probe, or the end of DAD
}

// SLAAC is stateless address autoconfiguration (RFC 4862) and the host's
// part of router discovery (RFC 4861 §6.3) for a Host on one link: the
// link-local address from the interface identifier, Router Solicitations,
// and global addresses from the prefixes of Router Advertisements (the A
// flag, /64 prefixes: our identifiers are 64 bits), with their valid
// lifetimes; the MTU option. It is the Host's ND hook (Host.ND); its table
// is fixed (one entry per address slot of the Host).
type SLAAC struct {
	h     *Host
	cfg   SLAACConfig
	iid   [8]byte
	on    bool
	addrs [maxAddrs]slaacAddr // [0]: link-local
	rsN   int
	rsAt  time.Time
	gotRA bool
	stats SLAACStats
}

// NewSLAAC attaches autoconfiguration to h (it becomes h.ND).
func NewSLAAC(h *Host, cfg SLAACConfig) *SLAAC {
	if cfg.RetransTimer <= 0 {
		cfg.RetransTimer = time.Second
	}
	if cfg.Solicitations == 0 {
		cfg.Solicitations = 3
	}
	if cfg.SolicitInterval <= 0 {
		cfg.SolicitInterval = 4 * time.Second
	}
	s := &SLAAC{h: h, cfg: cfg}
	h.ND = s
	return s
}

// Host returns the IPv6 layer s configures.
func (s *SLAAC) Host() *Host { return s.h }

// Stats returns the counters.
func (s *SLAAC) Stats() SLAACStats { return s.stats }

// Start runs when the link comes up with interface identifier iid: the
// link-local address (after DAD when probes are configured), then Router
// Solicitations (RFC 4861 §6.3.7).
func (s *SLAAC) Start(iid [8]byte, now time.Time) {
	s.Stop()
	s.on, s.iid = true, iid
	s.add(LinkLocal(iid), 0xffffffff, now)
	s.rsN = max(s.cfg.Solicitations, 0)
	s.rsAt = now
}

// Stop forgets every address (the link went down).
func (s *SLAAC) Stop() {
	s.h.ClearAddrs()
	s.addrs = [maxAddrs]slaacAddr{}
	s.on, s.gotRA, s.rsN = false, false, 0
}

// add starts using a (tentative while DAD runs) with a valid lifetime in
// seconds (0xffffffff: infinite, RFC 4861 §4.6.2).
func (s *SLAAC) add(a Addr, valid uint32, now time.Time) bool {
	for i := range s.addrs {
		e := &s.addrs[i]
		if e.addr != (Addr{}) {
			continue
		}
		if !s.h.AddAddr(a, s.cfg.DupAddrDetectTransmits > 0) {
			return false
		}
		*e = slaacAddr{addr: a, tentative: s.cfg.DupAddrDetectTransmits > 0,
			dadLeft: int8(min(s.cfg.DupAddrDetectTransmits, 8)), dadAt: now}
		s.setValid(e, valid, now)
		return true
	}
	return false
}

func (s *SLAAC) setValid(e *slaacAddr, valid uint32, now time.Time) {
	e.valid = time.Time{}
	if valid != 0xffffffff {
		e.valid = now.Add(time.Duration(valid) * time.Second)
	}
}

// Duplicate is called by the Host when DAD finds a in use (RFC 4862 §5.4.5:
// the address is not used; no other is tried).
func (s *SLAAC) Duplicate(a Addr) {
	for i := range s.addrs {
		if s.addrs[i].addr == a {
			s.addrs[i] = slaacAddr{}
		}
	}
}

// Poll sends DAD probes and solicitations when due, ends DAD, expires
// addresses, and returns when it next wants to run.
func (s *SLAAC) Poll(now time.Time) time.Time {
	if !s.on {
		return time.Time{}
	}
	var next time.Time
	for i := range s.addrs {
		e := &s.addrs[i]
		if e.addr == (Addr{}) {
			continue
		}
		if !e.valid.IsZero() && !now.Before(e.valid) {
			s.h.RemoveAddr(e.addr)
			*e = slaacAddr{}
			s.stats.AddrsExpired++
			continue
		}
		if e.tentative && !now.Before(e.dadAt) {
			switch {
			case e.dadLeft > 0 && s.h.ctlN == 0:
				s.h.SendDADProbe(e.addr)
				e.dadLeft--
				e.dadAt = now.Add(s.cfg.RetransTimer)
			case e.dadLeft == 0:
				// RFC 4862 §5.4.3: no conflict within RetransTimer of
				// the last probe: the address is ours.
				e.tentative = false
				s.h.SetPreferred(e.addr)
			}
		}
		next = earliest(next, e.valid)
		if e.tentative {
			next = earliest(next, e.dadAt)
		}
	}
	// Solicit once the link-local address is usable (RFC 4861 §6.3.7
	// allows the unspecified source too; a link-local one gets a unicast
	// answer from routers that use it).
	if s.rsN > 0 && !s.gotRA && !s.addrs[0].tentative && s.addrs[0].addr != (Addr{}) {
		if !now.Before(s.rsAt) && s.h.ctlN == 0 {
			s.h.SendRouterSolicit(s.addrs[0].addr)
			s.stats.RSOut++
			s.rsN--
			s.rsAt = now.Add(s.cfg.SolicitInterval)
		}
		if s.rsN > 0 {
			next = earliest(next, s.rsAt)
		}
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// NDInput implements NDHandler: Router Advertisements (RFC 4861 §6.3.4,
// RFC 4862 §5.5.3). Other messages are not for SLAAC.
func (s *SLAAC) NDInput(typ uint8, src, dst Addr, msg []byte, now time.Time) {
	if typ != TypeRouterAdv || !s.on {
		return
	}
	// RFC 4861 §6.1.2: from a link-local source, at least 16 bytes, every
	// option with a non-zero length (hop limit 255 and code 0 were checked
	// by the Host).
	if !src.IsLinkLocal() || len(msg) < 16 || !optionsValid(msg[16:]) {
		s.stats.RABad++
		return
	}
	s.stats.RAIn++
	s.gotRA = true
	if hl := msg[4]; hl != 0 {
		s.h.hop = hl // Cur Hop Limit
	}
	for o := msg[16:]; len(o) >= 8; o = o[int(o[1])*8:] {
		switch o[0] {
		case 3: // Prefix Information (RFC 4861 §4.6.2)
			if o[1] == 4 {
				s.prefix(o[:32], now)
			}
		case 5: // MTU (RFC 4861 §4.6.4): only within 1280 … the link's MTU
			if o[1] == 1 {
				mtu := int(binary.BigEndian.Uint32(o[4:8]))
				if mtu >= MinMTU && mtu <= int(s.h.echoL) {
					s.h.SetMTU(mtu)
					s.stats.MTUSet++
				}
			}
		}
	}
}

// optionsValid reports whether every ND option has a non-zero length and
// fits (RFC 4861 §6.1.2).
func optionsValid(o []byte) bool {
	for len(o) > 0 {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return false
		}
		o = o[int(o[1])*8:]
	}
	return true
}

// prefix processes one Prefix Information option (RFC 4862 §5.5.3).
func (s *SLAAC) prefix(o []byte, now time.Time) {
	plen, flags := o[2], o[3]
	valid, preferred := binary.BigEndian.Uint32(o[4:8]), binary.BigEndian.Uint32(o[8:12])
	p := Addr(o[16:32])
	// a) autonomous flag off, b) link-local prefix, c) preferred > valid:
	// ignore the option.
	if flags&0x40 == 0 || p.IsLinkLocal() || preferred > valid || plen != 64 || p.IsMulticast() {
		s.stats.PrefixIgnored++
		return
	}
	a := WithPrefix(p, s.iid)
	for i := range s.addrs {
		e := &s.addrs[i]
		if e.addr != a {
			continue
		}
		// e) an address from this prefix exists: RFC 4862 §5.5.3 (e)'s
		// two-hour rule against a spoofed advertisement shortening it.
		const twoHours = 2 * 60 * 60
		remaining := uint32(twoHours + 1)
		if !e.valid.IsZero() {
			remaining = uint32(max(e.valid.Sub(now)/time.Second, 0))
		}
		if valid > twoHours || valid > remaining {
			s.setValid(e, valid, now)
		} else if remaining > twoHours {
			s.setValid(e, twoHours, now)
		}
		return
	}
	// d) a new prefix: form an address unless the valid lifetime is 0.
	if valid == 0 {
		s.stats.PrefixIgnored++
		return
	}
	if !s.add(a, valid, now) {
		s.stats.PrefixIgnored++
		return
	}
	s.stats.AddrsConfigured++
}

// AppendRouterAdvert appends a Router Advertisement packet (IPv6 header
// included) from the link-local router src to all-nodes, with a Prefix
// Information option (on-link and autonomous, /64) for prefix with the
// given lifetimes, and an MTU option when mtu > 0. Router lifetime 0: the
// sender is no default router (a host bridge only announces the prefix).
// For the host side of a link and for tests.
func AppendRouterAdvert(dst []byte, src, prefix Addr, valid, preferred uint32, mtu int) []byte {
	n := len(dst)
	ml := 16 + 32
	if mtu > 0 {
		ml += 8
	}
	dst = append(dst, make([]byte, HeaderLen+ml)...)
	b := dst[n:]
	PutHeader(b, &Fields{PayloadLen: ml, NextHeader: ProtoICMP, HopLimit: 255, Src: src, Dst: AllNodes})
	m := b[HeaderLen:]
	m[0] = TypeRouterAdv
	o := m[16:]
	o[0], o[1], o[2], o[3] = 3, 4, 64, 0xc0 // prefix information, L and A
	binary.BigEndian.PutUint32(o[4:], valid)
	binary.BigEndian.PutUint32(o[8:], preferred)
	copy(o[16:24], prefix[:8])
	if mtu > 0 {
		o = o[32:]
		o[0], o[1] = 5, 1
		binary.BigEndian.PutUint32(o[4:], uint32(mtu))
	}
	binary.BigEndian.PutUint16(m[2:4], ipv4.Checksum(m, PseudoHeaderSum(src, AllNodes, ProtoICMP, ml)))
	return dst
}
