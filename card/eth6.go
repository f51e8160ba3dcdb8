package card

import (
	"time"

	"netcard/eth"
	"netcard/ipv6"
	"netcard/mdns"
	"netcard/udp"
)

// IPv6 on the Ethernet link (RFC 2464): the interface identifier from the
// MAC, the multicast groups the card listens to, and the packets it takes
// from the link before the IPv6 layer (mDNS).

// eui64 is the modified EUI-64 interface identifier of mac (RFC 4291
// Appendix A, RFC 2464 §4): ff:fe in the middle, the universal/local bit
// inverted.
func eui64(mac eth.MAC) [8]byte {
	return [8]byte{mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
}

// mdnsGroup6 is mDNS's IPv6 group, ff02::fb (RFC 6762 §3).
var mdnsGroup6 = ipv6.Addr{0: 0xff, 1: 0x02, 15: 0xfb}

// start6 brings IPv6 up on the link: the link-local address from the
// MAC, tentative until DAD (one probe, RFC 4862 §5.4) finds it unused,
// then Router Solicitations and SLAAC. The link joins all-nodes, the
// address's solicited-node group (RFC 4861 §7.2.1: global addresses share
// the identifier, hence the group) and, with mDNS, ff02::fb.
func (f *ethFront) start6(now time.Time) {
	c := f.c
	if c.auto == nil {
		return
	}
	iid := eui64(f.link.MAC())
	h := c.auto.Host()
	h.SetLinkLayer(f.link.MAC())
	h.SetMTU(f.link.MTU())
	f.link.Leave()
	f.link.Join(eth.MAC(ipv6.MulticastMAC(ipv6.AllNodes)))
	f.link.Join(eth.MAC(ipv6.MulticastMAC(ipv6.SolicitedNode(ipv6.LinkLocal(iid)))))
	if f.mdns != nil {
		f.link.Join(eth.MAC(ipv6.MulticastMAC(mdnsGroup6)))
	}
	c.auto.Start(iid, now)
	f.v6Logged, f.v6Global = ipv6.Addr{}, ipv6.Addr{}
}

// addrs6 follows the IPv6 addresses once DAD ended: logged, and given
// to the mDNS responder for its AAAA records.
func (f *ethFront) addrs6(now time.Time) {
	h := f.c.auto.Host()
	ll, g := h.LinkLocal(), h.Global()
	if ll == f.v6Logged && g == f.v6Global {
		return
	}
	f.v6Logged, f.v6Global = ll, g
	f.c.cfg.Log.Info("IPv6 addresses", "link-local", ll, "global", g)
	if f.mdns != nil {
		f.mdns.SetAddr6(ll, g, now)
	}
}

// deliver6 takes an IPv6 packet from the link: mDNS to the responder,
// everything else to the IPv6 layer.
func (f *ethFront) deliver6(pkt []byte, now time.Time) {
	if f.mdns6(pkt, now) {
		return
	}
	f.c.auto.Host().Input(pkt, now)
}

// mdns6 takes an mDNS message over IPv6 (RFC 6762 §3: ff02::fb port 5353,
// or a one-shot query to our address): a UDP datagram directly after the
// IPv6 header. It reports whether it took the packet.
func (f *ethFront) mdns6(pkt []byte, now time.Time) bool {
	if f.mdns == nil || len(pkt) < ipv6.HeaderLen+udp.HeaderLen || pkt[6] != ipv6.ProtoUDP {
		return false
	}
	hd, err := ipv6.Parse(pkt)
	if err != nil {
		return false // the IPv6 layer counts it
	}
	dst, src := hd.Dst(), hd.Src()
	h := f.c.auto.Host()
	if dst != mdnsGroup6 && (dst == (ipv6.Addr{}) || dst != h.LinkLocal() && dst != h.Global()) {
		return false
	}
	u, err := udp.Parse(hd.Payload())
	if err != nil || u.DstPort() != mdns.Port {
		return false
	}
	f.udpIn++
	if !u.VerifyChecksum6(src, dst) {
		f.udpBadCk++
		return true
	}
	// RFC 6762 §11: only queries from the local link are answered — a
	// link-local source, or one in the prefix of our global address.
	g := h.Global()
	if !src.IsLinkLocal() && (g == (ipv6.Addr{}) || [8]byte(src[:8]) != [8]byte(g[:8])) {
		f.mdnsOffLink++
		return true
	}
	f.mdns.Input6(src, u.SrcPort(), u.Payload(), now)
	return true
}

// pullMDNS writes the responder's next message over either family.
func (f *ethFront) pullMDNS(dst []byte, now time.Time) int {
	if f.mdns == nil {
		return 0
	}
	if f.c.auto == nil {
		n, to, port := f.mdns.Output(dst[20+udp.HeaderLen:], now)
		if n == 0 {
			return 0
		}
		// RFC 6762 §11: TTL 255 on everything sent.
		return f.putUDP(dst, f.link.Local(), to, mdns.Port, port, n, 255)
	}
	// An IPv6 message needs the larger header: build at the IPv6 offset
	// and move an IPv4 one down.
	const off = ipv6.HeaderLen + udp.HeaderLen
	n, d := f.mdns.Next(dst[off:], now)
	if n == 0 {
		return 0
	}
	if !d.V6 {
		copy(dst[20+udp.HeaderLen:], dst[off:off+n])
		return f.putUDP(dst, f.link.Local(), d.To4, mdns.Port, d.Port, n, 255)
	}
	src := f.c.auto.Host().LinkLocal()
	if src == (ipv6.Addr{}) {
		return 0
	}
	seg := dst[ipv6.HeaderLen : off+n]
	udp.PutHeader6(seg, src, d.To6, mdns.Port, d.Port)
	ipv6.PutHeader(dst, &ipv6.Fields{PayloadLen: len(seg), NextHeader: ipv6.ProtoUDP, HopLimit: 255, Src: src, Dst: d.To6})
	return ipv6.HeaderLen + len(seg)
}

// Neighbors returns the card's IPv6 neighbour cache (nil unless IPv6 runs
// on Ethernet).
func (c *Card) Neighbors() *ipv6.Neighbors {
	if c.eth == nil {
		return nil
	}
	return c.eth.nb
}

// SLAAC returns the card's address autoconfiguration (nil without
// Profile.IPv6).
func (c *Card) SLAAC() *ipv6.SLAAC { return c.auto }
