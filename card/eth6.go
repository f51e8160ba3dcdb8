package card

import (
	"time"

	"netcard/eth"
	"netcard/ipv6"
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
	f.v6Logged = ipv6.Addr{}
}

// logIPv6 logs the link-local address once DAD ended.
func (f *ethFront) logIPv6() {
	if ll := f.c.auto.Host().LinkLocal(); ll != f.v6Logged {
		f.v6Logged = ll
		if ll != (ipv6.Addr{}) {
			f.c.cfg.Log.Info("IPv6 up", "link-local", ll)
		}
	}
}

// deliver6 takes an IPv6 packet from the link.
func (f *ethFront) deliver6(pkt []byte, now time.Time) {
	f.c.auto.Host().Input(pkt, now)
}

// Neighbors returns the card's IPv6 neighbour cache (nil unless IPv6 runs
// on Ethernet).
func (c *Card) Neighbors() *ipv6.Neighbors {
	if c.eth == nil {
		return nil
	}
	return c.eth.nb
}
