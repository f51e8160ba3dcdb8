package card_test

import (
	"encoding/binary"
	"testing"
	"time"

	"netcard/card"
	"netcard/dns"
	"netcard/eth"
	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/udp"
)

var (
	// cardLL is the modified EUI-64 link-local address of cardMAC
	// 02:00:00:00:00:01 (RFC 4291 App. A: the U/L bit inverted).
	cardLL  = ipv6.Addr{0: 0xfe, 1: 0x80, 11: 0xff, 12: 0xfe, 15: 1}
	hostLL  = ipv6.Addr{0: 0xfe, 1: 0x80, 15: 2}
	groupNS = ipv6.SolicitedNode(cardLL)
)

// frame6 builds an Ethernet frame carrying an IPv6 packet with payload of
// protocol proto (ICMPv6 and UDP get their checksums).
func frame6(dstMAC, srcMAC eth.MAC, src, dst ipv6.Addr, proto, hop uint8, payload []byte) []byte {
	f := make([]byte, eth.HeaderLen+ipv6.HeaderLen+len(payload))
	eth.PutHeader(f, dstMAC, srcMAC, eth.TypeIPv6)
	m := f[eth.HeaderLen+ipv6.HeaderLen:]
	copy(m, payload)
	ipv6.PutHeader(f[eth.HeaderLen:], &ipv6.Fields{PayloadLen: len(m), NextHeader: proto, HopLimit: hop, Src: src, Dst: dst})
	if proto == ipv6.ProtoICMP {
		m[2], m[3] = 0, 0
		binary.BigEndian.PutUint16(m[2:], ipv4.Checksum(m, ipv6.PseudoHeaderSum(src, dst, proto, len(m))))
	}
	return f
}

func echo6(id uint16) []byte {
	m := make([]byte, 8+56)
	m[0] = ipv6.TypeEchoRequest
	binary.BigEndian.PutUint16(m[4:], id)
	return m
}

// na is a Neighbor Advertisement for target with its link-layer address
// (RFC 4861 §4.4); solicited sets S.
func na(target ipv6.Addr, mac eth.MAC, solicited bool) []byte {
	m := make([]byte, 32)
	m[0] = ipv6.TypeNeighborAdv
	m[4] = 0x20
	if solicited {
		m[4] |= 0x40
	}
	copy(m[8:24], target[:])
	m[24], m[25] = 2, 1
	copy(m[26:32], mac[:])
	return m
}

// ipv6Out returns the IPv6 packets among frames, with their frames'
// destination MACs.
func ipv6Out(fs [][]byte) (pkts []ipv6.Header, macs []eth.MAC) {
	for _, f := range fs {
		fr, _ := eth.Parse(f)
		if fr.Type() != eth.TypeIPv6 {
			continue
		}
		if h, err := ipv6.Parse(fr.Payload()); err == nil {
			pkts, macs = append(pkts, h), append(macs, fr.Dst())
		}
	}
	return pkts, macs
}

func newEthCard6(t *testing.T, ec card.EthConfig) *ethCard {
	return newEthCardProfile(t, ec, card.CardProfile.WithIPv6())
}

// TestEthernetIPv6DAD: the card's link-local address is the modified
// EUI-64 of its MAC; it is tentative until one DAD probe (from ::, to the
// solicited-node group, at 33:33:ff:00:00:01, RFC 4862 §5.4.2, RFC 2464
// §7) went unanswered for a second. Negative: when another node
// advertises the address during DAD, the card does not use it (§5.4.5).
func TestEthernetIPv6DAD(t *testing.T) {
	for _, dup := range []bool{false, true} {
		e := newEthCard6(t, card.EthConfig{NoMDNS: true})
		pkts, macs := ipv6Out(e.out())
		probe := -1
		for i, h := range pkts {
			p := h.Payload()
			if h.Src() == (ipv6.Addr{}) && h.Dst() == groupNS && p[0] == ipv6.TypeNeighborSol && ipv6.Addr(p[8:24]) == cardLL {
				probe = i
			}
		}
		if probe < 0 || macs[probe] != (eth.MAC{0x33, 0x33, 0xff, 0, 0, 1}) || pkts[probe].HopLimit() != 255 {
			t.Fatalf("no DAD probe for %v among %d packets", cardLL, len(pkts))
		}
		if e.c.IP6().LinkLocal() != (ipv6.Addr{}) {
			t.Fatal("link-local address used during DAD")
		}
		if dup {
			e.in(frame6(eth.MAC{0x33, 0x33, 0, 0, 0, 1}, hostMAC, hostLL, ipv6.AllNodes, ipv6.ProtoICMP, 255, na(cardLL, hostMAC, false)))
		}
		e.advance(2 * time.Second)
		ll := e.c.IP6().LinkLocal()
		switch {
		case dup && (ll != (ipv6.Addr{}) || e.c.IP6().Duplicates() != 1):
			t.Fatalf("duplicate: link-local %v, duplicates %d", ll, e.c.IP6().Duplicates())
		case !dup && ll != cardLL:
			t.Fatalf("link-local %v, want %v", ll, cardLL)
		}
	}
}

// TestEthernetIPv6NeighborResolution: an echo request from a neighbour the
// card does not know makes it solicit the neighbour (RFC 4861 §7.2.2) and
// hold the reply — one packet: a second reply meanwhile is dropped and
// counted; the solicited advertisement releases the held reply to the
// neighbour's MAC. A frame to a group the card has not joined is not
// taken.
func TestEthernetIPv6NeighborResolution(t *testing.T) {
	e := newEthCard6(t, card.EthConfig{NoMDNS: true})
	e.advance(10 * time.Second)
	if e.c.IP6().LinkLocal() != cardLL {
		t.Fatal("no link-local address")
	}
	e.in(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 64, echo6(1)))
	pkts, macs := ipv6Out(e.out())
	if len(pkts) != 1 || pkts[0].Payload()[0] != ipv6.TypeNeighborSol || pkts[0].Dst() != ipv6.SolicitedNode(hostLL) ||
		macs[0] != (eth.MAC{0x33, 0x33, 0xff, 0, 0, 2}) {
		t.Fatalf("want one solicitation for %v, got %d packets", hostLL, len(pkts))
	}
	e.in(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 64, echo6(2)))
	if pkts, _ := ipv6Out(e.out()); len(pkts) != 0 {
		t.Fatalf("%d packets sent while resolving", len(pkts))
	}
	if s := e.c.Ethernet().Stats(); s.ND6HoldDrops != 1 {
		t.Fatalf("hold drops %d, want 1", s.ND6HoldDrops)
	}
	e.in(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 255, na(hostLL, hostMAC, true)))
	pkts, macs = ipv6Out(e.out())
	if len(pkts) != 1 || pkts[0].Payload()[0] != ipv6.TypeEchoReply || macs[0] != hostMAC ||
		binary.BigEndian.Uint16(pkts[0].Payload()[4:]) != 1 {
		t.Fatalf("held reply not released: %d packets", len(pkts))
	}
	before := e.c.Ethernet().Stats().InNotForUs
	e.in(frame6(eth.MAC{0x33, 0x33, 0xff, 9, 9, 9}, hostMAC, hostLL, ipv6.Addr{0: 0xff, 1: 2, 11: 1, 12: 0xff, 13: 9, 14: 9, 15: 9}, ipv6.ProtoICMP, 64, echo6(3)))
	if e.c.Ethernet().Stats().InNotForUs != before+1 {
		t.Fatal("frame to a group not joined was taken")
	}
}

// TestEthernetIPv6EchoAllocatesNothing: an ICMPv6 echo over Ethernet, the
// neighbour resolved, allocates nothing per frame.
func TestEthernetIPv6EchoAllocatesNothing(t *testing.T) {
	e := newEthCard6(t, card.EthConfig{NoMDNS: true})
	e.advance(10 * time.Second)
	e.in(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 64, echo6(1)))
	e.out()
	e.in(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 255, na(hostLL, hostMAC, true)))
	e.out()
	f := frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 64, echo6(9))
	var pfx [2]byte
	binary.BigEndian.PutUint16(pfx[:], uint16(len(f)))
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		e.now = e.now.Add(20 * time.Millisecond) // within the ICMPv6 rate limit (RFC 4443 §2.4 f)
		e.c.Input(pfx[:], e.now)
		e.c.Input(f, e.now)
		if e.c.Output(buf, e.now) == 0 {
			t.Fatal("no reply")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per echo", allocs)
	}
}

// TestEthernetMDNSOverIPv6: an mDNS query for netcard.local AAAA sent to
// ff02::fb from a link-local address is answered to ff02::fb (hop limit
// 255, RFC 6762 §11) with the card's link-local address; the same query
// from a global address off the link is dropped (§11).
func TestEthernetMDNSOverIPv6(t *testing.T) {
	e := newEthCard6(t, card.EthConfig{})
	e.advance(10 * time.Second)
	var name dns.Name
	name.Set("netcard.local")
	q := dns.AppendQuery(nil, 0, &name, dns.TypeAAAA)
	group := ipv6.Addr{0: 0xff, 1: 2, 15: 0xfb}
	query := func(src ipv6.Addr) []byte {
		seg := make([]byte, udp.HeaderLen+len(q))
		copy(seg[udp.HeaderLen:], q)
		udp.PutHeader6(seg, src, group, 5353, 5353)
		return frame6(eth.MAC{0x33, 0x33, 0, 0, 0, 0xfb}, hostMAC, src, group, ipv6.ProtoUDP, 255, seg)
	}
	e.in(query(ipv6.Addr{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 15: 2}))
	if pkts, _ := ipv6Out(e.out()); len(pkts) != 0 {
		t.Fatalf("answered an off-link query: %d packets", len(pkts))
	}
	e.in(query(hostLL))
	pkts, macs := ipv6Out(e.out())
	if len(pkts) != 1 || pkts[0].Dst() != group || pkts[0].HopLimit() != 255 || pkts[0].Src() != cardLL ||
		macs[0] != (eth.MAC{0x33, 0x33, 0, 0, 0, 0xfb}) {
		t.Fatalf("want one answer to ff02::fb, got %d", len(pkts))
	}
	u, err := udp.Parse(pkts[0].Payload())
	if err != nil || !u.VerifyChecksum6(pkts[0].Src(), pkts[0].Dst()) {
		t.Fatalf("answer datagram: %v", err)
	}
	var p dns.Parser
	h, err := p.Start(u.Payload())
	if err != nil || h.ANCount != 1 {
		t.Fatalf("answer: %v %+v", err, h)
	}
	var r dns.Resource
	if _, err := p.Resource(&r); err != nil || r.Type != dns.TypeAAAA || ipv6.Addr(r.Data) != cardLL {
		t.Fatalf("answer record %+v: %v", r, err)
	}
}

// TestEthernetIPv6RAM reports the RAM of the Card profile with IPv6 on
// Ethernet and checks that the link's buffers (with the IPv6 hold) and the
// neighbour cache are what the profile's EthBudget says.
func TestEthernetIPv6RAM(t *testing.T) {
	e := newEthCard6(t, card.EthConfig{})
	p := card.CardProfile.WithIPv6()
	if got := e.c.Ethernet().Footprint() + e.c.Neighbors().Footprint(); got != p.EthBudget() {
		t.Fatalf("link %d + neighbours %d, profile says %d", e.c.Ethernet().Footprint(), e.c.Neighbors().Footprint(), p.EthBudget())
	}
	ppp := 2 * (p.LinkMRU() + 8)
	if st := e.c.Status(e.now); st.RAMBudget != p.Budget()-ppp+p.EthBudget() {
		t.Fatalf("status budget %d", st.RAMBudget)
	}
	v4 := card.CardProfile
	t.Logf("Card profile on Ethernet: IPv4 only: Budget %d B (Ethernet %d); with IPv6: Budget %d B (Ethernet %d: + IPv6 hold %d, neighbour cache %d×%d; IPv6 layer %d)",
		v4.Budget()-2*(v4.MRU+8)+v4.EthBudget(), v4.EthBudget(), p.Budget()-ppp+p.EthBudget(), p.EthBudget(),
		p.LinkMRU(), p.ARPEntries, ipv6.NeighborBytes, p.IPv6Bytes())
}

// mldReports returns the MLDv2 reports among frames (their ICMPv6 message,
// after the Hop-by-Hop header), checking the fixed parts of RFC 3810 §5.2:
// 33:33:00:00:00:16, ff02::16, hop limit 1, Router Alert, checksum.
func mldReports(t *testing.T, fs [][]byte) [][]byte {
	t.Helper()
	var ms [][]byte
	routers := ipv6.Addr{0: 0xff, 1: 2, 15: 0x16}
	for _, f := range fs {
		fr, _ := eth.Parse(f)
		h, err := ipv6.Parse(fr.Payload())
		if fr.Type() != eth.TypeIPv6 || err != nil || h.NextHeader() != 0 {
			continue
		}
		p := h.Payload()
		if fr.Dst() != (eth.MAC{0x33, 0x33, 0, 0, 0, 0x16}) || h.Dst() != routers || h.HopLimit() != 1 ||
			len(p) < 16 || p[0] != ipv6.ProtoICMP || p[2] != 5 || p[3] != 2 {
			t.Fatalf("malformed MLD report % x", fr.Payload())
		}
		m := p[8:]
		if m[0] != 143 || ipv4.Checksum(m, ipv6.PseudoHeaderSum(h.Src(), h.Dst(), ipv6.ProtoICMP, len(m))) != 0 {
			t.Fatalf("bad MLD report % x", m)
		}
		ms = append(ms, m)
	}
	return ms
}

// TestEthernetMLD: joining its groups the card sends two unsolicited
// MLDv2 reports a second apart (RFC 3810 §6.1), each with a
// CHANGE_TO_EXCLUDE record for the solicited-node group and ff02::fb (not
// all-nodes, §6); a general query from a link-local router with hop limit
// 1 is answered after half its Maximum Response Delay. Negative (§5.1.14,
// §6.2): a query with hop limit 64, or from a global address, is dropped.
func TestEthernetMLD(t *testing.T) {
	e := newEthCard6(t, card.EthConfig{})
	ms := mldReports(t, e.out())
	if len(ms) != 1 || binary.BigEndian.Uint16(ms[0][6:8]) != 2 || ms[0][8] != 4 ||
		ipv6.Addr(ms[0][12:28]) != groupNS || ipv6.Addr(ms[0][32:48]) != (ipv6.Addr{0: 0xff, 1: 2, 15: 0xfb}) {
		t.Fatalf("first report: %d reports % x", len(ms), ms)
	}
	e.now = e.now.Add(time.Second)
	if ms = mldReports(t, e.out()); len(ms) != 1 {
		t.Fatalf("%d reports a second later, want the repeat", len(ms))
	}
	e.advance(10 * time.Second)
	query := func(src ipv6.Addr, hop uint8) []byte {
		p := make([]byte, 8+28)
		p[0], p[2], p[3], p[6] = ipv6.ProtoICMP, 5, 2, 1
		m := p[8:]
		m[0] = 130
		binary.BigEndian.PutUint16(m[4:6], 1000) // 1 s
		f := frame6(eth.MAC{0x33, 0x33, 0, 0, 0, 1}, hostMAC, src, ipv6.AllNodes, 0, hop, p)
		binary.BigEndian.PutUint16(m[2:4], 0)
		binary.BigEndian.PutUint16(f[eth.HeaderLen+ipv6.HeaderLen+8+2:], ipv4.Checksum(m, ipv6.PseudoHeaderSum(src, ipv6.AllNodes, ipv6.ProtoICMP, len(m))))
		return f
	}
	global := ipv6.Addr{0: 0x20, 1: 1, 2: 0xd, 3: 0xb8, 15: 2}
	e.in(query(hostLL, 64))
	e.in(query(global, 1))
	e.now = e.now.Add(time.Second)
	if ms = mldReports(t, e.out()); len(ms) != 0 {
		t.Fatalf("answered a bad query: %d reports", len(ms))
	}
	e.in(query(hostLL, 1))
	if ms = mldReports(t, e.out()); len(ms) != 0 {
		t.Fatal("answered before the delay")
	}
	e.now = e.now.Add(500 * time.Millisecond)
	if ms = mldReports(t, e.out()); len(ms) != 1 {
		t.Fatalf("%d reports after half the delay", len(ms))
	}
}
