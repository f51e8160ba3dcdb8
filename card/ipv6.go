package card

import (
	"time"

	"netcard/ipv6"
	"netcard/ppp"
)

// IPv6 (Profile.IPv6): IPV6CP on the PPP link, the ipv6 layer with SLAAC,
// and the same TCP (through the same admission gate, tcpGate) and UDP as
// IPv4 — listeners are dual-stack. The hooks card.go calls are here.

// WithIPv6 returns p with IPv6 on (named NAME+ipv6).
func (p Profile) WithIPv6() Profile {
	if !p.IPv6 {
		p.IPv6 = true
		p.Name += "+ipv6"
	}
	return p
}

// LinkMRU is the MRU the link runs with: MRU, raised to IPv6's minimum MTU
// (1280) when IPv6 is on.
func (p Profile) LinkMRU() int {
	if p.IPv6 {
		return max(p.MRU, ipv6.MinMTU)
	}
	return p.MRU
}

// IPv6Bytes is the RAM of the IPv6 layer's buffers (ipv6.Host.Footprint):
// zero without IPv6.
func (p Profile) IPv6Bytes() int {
	if !p.IPv6 {
		return 0
	}
	return ipv6.Footprint(p.ipv6Config())
}

func (p Profile) ipv6Config() ipv6.Config {
	return ipv6.Config{MTU: p.LinkMRU(), ReassemblySlots: 1, ReassemblyBytes: 1500}
}

// pppIPv6 is the PPP link's IPv6 configuration (nil: IPV6CP is rejected).
func (p Profile) pppIPv6() *ppp.IPv6Config {
	if !p.IPv6 {
		return nil
	}
	return &ppp.IPv6Config{}
}

// newIPv6 builds the IPv6 layer of a card whose profile asks for it.
func (c *Card) newIPv6(p Profile, ethernet bool) {
	if !p.IPv6 {
		return
	}
	ip6 := ipv6.NewHost(p.ipv6Config())
	if ethernet {
		// On Ethernet every address is checked by one DAD probe first
		// (RFC 4862 §5.1: DupAddrDetectTransmits default 1), and next hops
		// are resolved by Neighbor Discovery (RFC 4861 §7.2, newEthFront).
		c.auto = ipv6.NewSLAAC(ip6, ipv6.SLAACConfig{DupAddrDetectTransmits: 1})
	} else {
		// On PPP, IPV6CP made the two interface identifiers of the two-node
		// link differ: no DAD probes (RFC 4862 §5.1 allows 0).
		c.auto = ipv6.NewSLAAC(ip6, ipv6.SLAACConfig{})
	}
	ip6.Register(ipv6.ProtoTCP, (*tcpGate)(c))
	ip6.Register(ipv6.ProtoUDP, c.udp)
}

// IP6 returns the card's IPv6 layer (nil without Profile.IPv6).
func (c *Card) IP6() *ipv6.Host {
	if c.auto == nil {
		return nil
	}
	return c.auto.Host()
}

// ipv6Event handles IPV6CP up and down.
func (c *Card) ipv6Event(e ppp.Event) {
	if c.auto == nil {
		return
	}
	switch e {
	case ppp.EventIPV6CPUp:
		// RFC 5072 §5: the link-local address from the negotiated
		// interface identifier; global ones from router advertisements
		// (SLAAC, RFC 4862), logged when they appear (pollIPv6).
		c.auto.Host().SetMTU(c.link.MTU())
		c.auto.Start(c.link.LocalIID(), c.nowTime())
		c.cfg.Log.Info("IPv6 up", "local", c.auto.Host().LinkLocal(), "peer", ipv6.LinkLocal(c.link.PeerIID()))
	case ppp.EventIPV6CPDown:
		c.auto.Stop()
		c.flags &^= flagV6Logged
		c.cfg.Log.Info("IPv6 down")
	}
}

// pollIPv6 runs the IPv6 timers (reassembly, SLAAC) and returns the next.
func (c *Card) pollIPv6(now time.Time) time.Time {
	if c.auto == nil {
		return time.Time{}
	}
	next := earliest(c.auto.Host().Poll(now), c.auto.Poll(now))
	if g := c.auto.Host().Global(); g != (ipv6.Addr{}) && c.flags&flagV6Logged == 0 {
		c.flags |= flagV6Logged
		c.cfg.Log.Info("IPv6 address", "global", g)
	}
	return next
}

// deliverIPv6 takes an IPv6 packet from the link (the version nibble tells;
// the link delivers protocol 0x0057 only with IPV6CP up) and reports
// whether it was one.
func (c *Card) deliverIPv6(pkt []byte) bool {
	if c.auto == nil || len(pkt) == 0 || pkt[0]>>4 != 6 {
		return false
	}
	c.auto.Host().Input(pkt, c.nowTime())
	return true
}

// pullDual writes the next IP packet when both families run: IPv4 and
// IPv6 take turns when both have one.
func (c *Card) pullDual(dst []byte) int {
	c.pull = !c.pull
	if c.pull {
		if n := c.auto.Host().Output(dst, c.nowTime()); n > 0 {
			return n
		}
	}
	if n := c.ip.Output(dst, c.nowTime()); n > 0 {
		return n
	}
	if c.pull {
		return 0
	}
	return c.auto.Host().Output(dst, c.nowTime())
}

// Output6 implements ipv6.Transport for the gate, as Output.
func (g *tcpGate) Output6(dst []byte, now time.Time) (int, ipv6.Addr, ipv6.Addr) {
	c := (*Card)(g)
	n, l, a := c.tcp.Output6(dst, now)
	c.noteSynAck(dst[:n], l, a, now)
	return n, l, a
}

// ICMPError6 implements ipv6.ErrorReceiver6 (Path MTU, RFC 8201).
func (g *tcpGate) ICMPError6(typ, code uint8, local, remote ipv6.Addr, quoted []byte, info uint32, now time.Time) {
	(*Card)(g).tcp.ICMPError6(typ, code, local, remote, quoted, info, now)
}
