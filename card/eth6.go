package card

import (
	"encoding/binary"
	"time"

	"netcard/eth"
	"netcard/ipv4"
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
	// RFC 3810 §6.1: joining a group sends an unsolicited report,
	// repeated [Robustness Variable] = 2 times; RFC 4862 §5.4.2: before
	// the DAD probe for the solicited-node group.
	f.mldLeft, f.mldDue = 2, now
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

// deliver6 takes an IPv6 packet from the link: mDNS to the responder, an
// MLD query to the reports, everything else to the IPv6 layer.
func (f *ethFront) deliver6(pkt []byte, now time.Time) {
	if f.mdns6(pkt, now) || f.mldQuery(pkt, now) {
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

// Multicast Listener Discovery version 2 (RFC 3810), the listener's part:
// the card reports the groups it joined — the solicited-node group of its
// addresses (they share the interface identifier) and ff02::fb — so that
// an MLD-snooping switch forwards them; all-nodes is never reported (§6).
// A query (general or for one of our groups) is answered by one report of
// all of them after half its Maximum Response Delay (§6.2 asks for a
// random delay within it; the card keeps no randomness here).

var mldRouters = ipv6.Addr{0: 0xff, 1: 0x02, 15: 0x16} // all MLDv2-capable routers (§5.2.14)

const (
	mldQueryType  = 130
	mldReportType = 143
	mldHopByHop   = 8 // Hop-by-Hop header with the Router Alert option (RFC 2711)
)

// mldQuery takes an MLD query (behind its Hop-by-Hop header): it schedules
// a report. It reports whether it took the packet.
func (f *ethFront) mldQuery(pkt []byte, now time.Time) bool {
	const off = ipv6.HeaderLen + mldHopByHop
	if len(pkt) < off+24 || pkt[6] != 0 || pkt[ipv6.HeaderLen] != ipv6.ProtoICMP || pkt[ipv6.HeaderLen+1] != 0 || pkt[off] != mldQueryType {
		return false
	}
	hd, err := ipv6.Parse(pkt)
	if err != nil || len(hd.Payload()) < mldHopByHop+24 {
		return false
	}
	m := hd.Payload()[mldHopByHop:]
	// §5.1.14, §6.2: a query with a source that is not link-local, a hop
	// limit other than 1 or a bad checksum is dropped.
	if !hd.Src().IsLinkLocal() || hd.HopLimit() != 1 || ipv4.Checksum(m, ipv6.PseudoHeaderSum(hd.Src(), hd.Dst(), ipv6.ProtoICMP, len(m))) != 0 {
		f.mldBad++
		return true
	}
	f.mldQueries++
	// Maximum Response Code (§5.1.3): below 32768 it is the delay in ms.
	code := binary.BigEndian.Uint16(m[4:6])
	delay := time.Duration(code) * time.Millisecond
	if code >= 32768 {
		delay = time.Duration((uint32(code&0x0fff)|0x1000)<<((code>>12&7)+3)) * time.Millisecond
	}
	due := now.Add(delay / 2)
	if f.mldLeft == 0 || due.Before(f.mldDue) {
		f.mldDue = due
	}
	f.mldLeft = max(f.mldLeft, 1)
	return true
}

// mldGroups writes the groups to report into g and returns how many.
func (f *ethFront) mldGroups(g *[2]ipv6.Addr) int {
	g[0] = ipv6.SolicitedNode(ipv6.LinkLocal(eui64(f.link.MAC())))
	if f.mdns != nil {
		g[1] = mdnsGroup6
		return 2
	}
	return 1
}

// pullMLD writes a report when one is due: from the link-local address,
// or :: while it is tentative (§5.2.13), to ff02::16, hop limit 1, with
// the Router Alert option; one CHANGE_TO_EXCLUDE_MODE record with no
// sources per group (§6.1: a join).
func (f *ethFront) pullMLD(dst []byte, now time.Time) int {
	if f.mldLeft == 0 || now.Before(f.mldDue) {
		return 0
	}
	var groups [2]ipv6.Addr
	n := f.mldGroups(&groups)
	size := mldHopByHop + 8 + 20*n
	if len(dst) < ipv6.HeaderLen+size {
		return 0
	}
	f.mldLeft--
	f.mldDue = now.Add(time.Second) // §9.11 Unsolicited Report Interval
	src := f.c.auto.Host().LinkLocal()
	b := dst[ipv6.HeaderLen : ipv6.HeaderLen+size]
	clear(b)
	b[0] = ipv6.ProtoICMP
	b[2], b[3] = 5, 2 // Router Alert (RFC 2711 §2.1), value 0: MLD; then a PadN of 2 bytes
	b[6] = 1
	m := b[mldHopByHop:]
	m[0] = mldReportType
	binary.BigEndian.PutUint16(m[6:8], uint16(n))
	for i := range n {
		r := m[8+20*i:]
		r[0] = 4 // CHANGE_TO_EXCLUDE_MODE (§5.2.12)
		copy(r[4:20], groups[i][:])
	}
	binary.BigEndian.PutUint16(m[2:4], ipv4.Checksum(m, ipv6.PseudoHeaderSum(src, mldRouters, ipv6.ProtoICMP, len(m))))
	ipv6.PutHeader(dst, &ipv6.Fields{PayloadLen: size, NextHeader: 0, HopLimit: 1, Src: src, Dst: mldRouters})
	f.mldOut++
	return ipv6.HeaderLen + size
}
