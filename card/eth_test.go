package card_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"netcard/card"
	"netcard/dhcp"
	"netcard/dns"
	"netcard/eth"
	"netcard/ipv4"
	"netcard/mdns"
	"netcard/sim"
	"netcard/udp"
)

type chacha struct{ r *rand.ChaCha8 }

func (c chacha) Read(p []byte) (int, error) { return c.r.Read(p) }

var (
	ethT0    = time.Unix(1_800_000_000, 0)
	cardMAC  = eth.MAC{2, 0, 0, 0, 0, 1}
	hostMAC  = eth.MAC{2, 0, 0, 0, 0, 2}
	cardAddr = ipv4.Addr{10, 0, 3, 1}
	hostAddr = ipv4.Addr{10, 0, 3, 2}
)

// ethCard is a card on Ethernet driven by hand: frames in, frames out, on
// an injected clock.
type ethCard struct {
	t   testing.TB
	c   *card.Card
	now time.Time
	buf []byte
}

func newEthCard(t testing.TB, ec card.EthConfig) *ethCard {
	t.Helper()
	return newEthCardProfile(t, ec, card.CardProfile)
}

func newEthCardProfile(t testing.TB, ec card.EthConfig, p card.Profile) *ethCard {
	t.Helper()
	st, err := sim.NewStore(3, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ec.MAC = cardMAC
	c, err := card.New(card.Config{Profile: p, Store: st, Rand: chacha{rand.NewChaCha8([32]byte{7})},
		Clock: func() time.Time { return ethT0 }, Ethernet: &ec})
	if err != nil {
		t.Fatal(err)
	}
	e := &ethCard{t: t, c: c, now: ethT0, buf: make([]byte, 4096)}
	c.Start(e.now)
	return e
}

// in gives the card one frame.
func (e *ethCard) in(frame []byte) {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], uint16(len(frame)))
	e.c.Input(p[:], e.now)
	e.c.Input(frame, e.now)
}

// out returns every frame the card sends now (after Poll).
func (e *ethCard) out() [][]byte {
	e.c.Poll(e.now)
	var fs [][]byte
	for {
		n := e.c.Output(e.buf, e.now)
		if n == 0 {
			return fs
		}
		fs = append(fs, bytes.Clone(e.buf[2:n]))
	}
}

// advance moves the clock to each timer due before d has passed,
// discarding output.
func (e *ethCard) advance(d time.Duration) {
	end := e.now.Add(d)
	for i := 0; i < 1000; i++ {
		e.out()
		next := e.c.Poll(e.now)
		if next.IsZero() || next.After(end) {
			break
		}
		e.now = next
	}
	e.now = end
	e.out()
}

// udpFrame builds an Ethernet frame carrying a UDP datagram.
func udpFrame(dstMAC, srcMAC eth.MAC, src, dst ipv4.Addr, sport, dport uint16, payload []byte, ttl uint8) []byte {
	f := make([]byte, eth.HeaderLen+ipv4.HeaderLen+udp.HeaderLen+len(payload))
	eth.PutHeader(f, dstMAC, srcMAC, eth.TypeIPv4)
	seg := f[eth.HeaderLen+ipv4.HeaderLen:]
	copy(seg[udp.HeaderLen:], payload)
	udp.PutHeader(seg, src, dst, sport, dport)
	ipv4.PutHeader(f[eth.HeaderLen:], &ipv4.Fields{TotalLen: ipv4.HeaderLen + len(seg), TTL: ttl, Protocol: ipv4.ProtoUDP, Src: src, Dst: dst})
	return f
}

func discover(xid uint32) []byte {
	b := make([]byte, dhcp.MaxMessage)
	n := dhcp.Begin(b, &dhcp.Fixed{Op: dhcp.BootRequest, XID: xid, CHAddr: hostMAC}, dhcp.Discover)
	return b[:dhcp.End(b, n)]
}

// TestEthernetDHCPServer: a DISCOVER broadcast from 0.0.0.0 is answered
// with an OFFER sent to the client's MAC and offered address without ARP
// (RFC 2131 §4.1); one with a bad UDP checksum is dropped and counted.
func TestEthernetDHCPServer(t *testing.T) {
	e := newEthCard(t, card.EthConfig{})
	e.advance(3 * time.Second) // announcements, mDNS probing
	bad := udpFrame(eth.Broadcast, hostMAC, ipv4.Addr{}, ipv4.Addr{255, 255, 255, 255}, 68, 67, discover(1), 64)
	bad[len(bad)-1] ^= 0xff
	e.in(bad)
	if fs := e.out(); len(fs) != 0 {
		t.Fatalf("answered a bad checksum: %d frames", len(fs))
	}
	e.in(udpFrame(eth.Broadcast, hostMAC, ipv4.Addr{}, ipv4.Addr{255, 255, 255, 255}, 68, 67, discover(2), 64))
	fs := e.out()
	if len(fs) != 1 {
		t.Fatalf("%d frames", len(fs))
	}
	f, _ := eth.Parse(fs[0])
	h, err := ipv4.Parse(f.Payload())
	if err != nil || f.Dst() != hostMAC || h.Dst() != hostAddr || h.Src() != cardAddr {
		t.Fatalf("offer frame to %v / %v: %v", f.Dst(), h.Dst(), err)
	}
	u, _ := udp.Parse(h.Payload())
	m, err := dhcp.Parse(u.Payload())
	if err != nil || m.Type() != dhcp.Offer || m.XID() != 2 || !u.VerifyChecksum(h.Src(), h.Dst()) {
		t.Fatalf("offer: %v", err)
	}
	if s := e.c.DHCPServer().Stats(); s.Discovers != 1 || s.Offers != 1 {
		t.Fatalf("%+v", s)
	}
}

// TestEthernetMDNSOnLinkOnly: an mDNS query from the link is answered by
// multicast with TTL 255; the same query from an address off the link is
// dropped (RFC 6762 §11).
func TestEthernetMDNSOnLinkOnly(t *testing.T) {
	e := newEthCard(t, card.EthConfig{})
	e.advance(5 * time.Second)
	if !e.c.MDNS().Running() {
		t.Fatal("mDNS not running")
	}
	var name dns.Name
	name.Set("netcard.local")
	q := dns.AppendQuery(nil, 0, &name, dns.TypeA)
	group := ipv4.Addr{224, 0, 0, 251}
	e.in(udpFrame(eth.IPv4Multicast(group), hostMAC, ipv4.Addr{192, 168, 9, 9}, group, 5353, 5353, q, 255))
	if fs := e.out(); len(fs) != 0 {
		t.Fatalf("answered an off-link query")
	}
	e.in(udpFrame(eth.IPv4Multicast(group), hostMAC, hostAddr, group, 5353, 5353, q, 255))
	fs := e.out()
	if len(fs) != 1 {
		t.Fatalf("%d frames", len(fs))
	}
	f, _ := eth.Parse(fs[0])
	h, _ := ipv4.Parse(f.Payload())
	if f.Dst() != eth.IPv4Multicast(group) || h.Dst() != group || h.TTL() != 255 {
		t.Fatalf("answer to %v %v ttl %d", f.Dst(), h.Dst(), h.TTL())
	}
}

func echoFrame(seq uint16) []byte {
	icmp := make([]byte, 64)
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[6:], seq)
	binary.BigEndian.PutUint16(icmp[2:], ipv4.Checksum(icmp, 0))
	f := make([]byte, eth.HeaderLen+ipv4.HeaderLen+len(icmp))
	eth.PutHeader(f, cardMAC, hostMAC, eth.TypeIPv4)
	copy(f[eth.HeaderLen+ipv4.HeaderLen:], icmp)
	ipv4.PutHeader(f[eth.HeaderLen:], &ipv4.Fields{TotalLen: ipv4.HeaderLen + len(icmp), TTL: 64, Protocol: ipv4.ProtoICMP, Src: hostAddr, Dst: cardAddr})
	return f
}

// TestEthernetPingResolvesAndAllocatesNothing: the card ARPs for the
// sender of an echo request (one reply held), then answers echo requests
// with no allocation per frame.
func TestEthernetPingResolvesAndAllocatesNothing(t *testing.T) {
	e := newEthCard(t, card.EthConfig{NoMDNS: true})
	e.advance(3 * time.Second)
	e.in(echoFrame(1))
	fs := e.out()
	if len(fs) != 1 {
		t.Fatalf("%d frames", len(fs))
	}
	f, _ := eth.Parse(fs[0])
	a, err := eth.ParseARP(f.Payload())
	if err != nil || a.Op() != eth.ARPRequest || a.TargetIP() != hostAddr {
		t.Fatalf("want an ARP request for the host: %v", err)
	}
	reply := make([]byte, eth.HeaderLen+eth.ARPLen)
	eth.PutHeader(reply, cardMAC, hostMAC, eth.TypeARP)
	eth.PutARP(reply[eth.HeaderLen:], eth.ARPReply, hostMAC, hostAddr, cardMAC, cardAddr)
	e.in(reply)
	fs = e.out()
	if len(fs) != 1 {
		t.Fatalf("held echo reply: %d frames", len(fs))
	}
	f, _ = eth.Parse(fs[0])
	if f.Dst() != hostMAC || f.Type() != eth.TypeIPv4 || f.Payload()[20] != 0 {
		t.Fatalf("echo reply %x", fs[0])
	}
	req := echoFrame(2)
	var pfx [2]byte
	binary.BigEndian.PutUint16(pfx[:], uint16(len(req)))
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		e.now = e.now.Add(20 * time.Millisecond) // within ICMP's rate limit
		e.c.Input(pfx[:], e.now)
		e.c.Input(req, e.now)
		if e.c.Output(buf, e.now) == 0 {
			t.Fatal("no echo reply")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per echo", allocs)
	}
}

// TestEthernetRAM reports the RAM of the Ethernet tables of the Card
// profile (the numbers BENCHMARKS.md quotes) and checks the link's
// footprint matches the profile's EthBudget.
func TestEthernetRAM(t *testing.T) {
	e := newEthCard(t, card.EthConfig{})
	p := card.CardProfile
	if got := e.c.Ethernet().Footprint(); got != p.EthBudget() {
		t.Fatalf("link footprint %d, profile says %d", got, p.EthBudget())
	}
	ppp := 2 * (p.MRU + 8)
	if st := e.c.Status(e.now); st.RAMBudget != p.Budget()-ppp+p.EthBudget() {
		t.Fatalf("status budget %d", st.RAMBudget)
	}
	t.Logf("Card profile on Ethernet: link %d B (receive frame %d, ARP hold %d, ARP cache %d×40) instead of PPP's %d B; Budget %d → %d",
		p.EthBudget(), 14+p.MRU, p.MRU, p.ARPEntries, ppp, p.Budget(), p.Budget()-ppp+p.EthBudget())
}

// TestEthernetNeedsDHCPSizedMTU: a profile whose MRU cannot carry a
// 576-byte DHCP datagram is refused on Ethernet.
func TestEthernetNeedsDHCPSizedMTU(t *testing.T) {
	st, err := sim.NewStore(3, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = card.New(card.Config{Profile: card.TinyProfile, Store: st, Rand: chacha{rand.NewChaCha8([32]byte{7})}, Ethernet: &card.EthConfig{}})
	if err == nil {
		t.Fatal("Tiny profile (MRU 296) accepted on Ethernet")
	}
}

// TestEthernetTableSizes guards the control blocks of the Ethernet side
// (their buffers are counted by EthBudget): the link with its ARP cache
// header, the DHCP server's one lease, the DHCP client, the mDNS responder
// (names, a parse scratch of one question and one record).
func TestEthernetTableSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"eth.Link", unsafe.Sizeof(eth.Link{}), 680}, // 544 before IPv6: + 4 groups, the IPv6 hold, Deliver6/ND
		{"dhcp.Server", unsafe.Sizeof(dhcp.Server{}), 232},
		{"dhcp.Client", unsafe.Sizeof(dhcp.Client{}), 440},
		{"mdns.Responder", unsafe.Sizeof(mdns.Responder{}), 1488}, // 1408 before IPv6: two AAAA addresses, the IPv6 repeat, a legacy querier's IPv6 address
	} {
		t.Logf("%s: %d bytes", c.name, c.size)
		if c.size > c.max {
			t.Errorf("%s is %d bytes, over %d", c.name, c.size, c.max)
		}
	}
}

// TestEthernetLinkScopedAllocatesNothing: answering an mDNS query and a
// DHCP renewal allocates nothing per frame.
func TestEthernetLinkScopedAllocatesNothing(t *testing.T) {
	e := newEthCard(t, card.EthConfig{})
	e.advance(5 * time.Second)
	var name dns.Name
	name.Set("netcard.local")
	q := udpFrame(cardMAC, hostMAC, hostAddr, cardAddr, 40000, 5353, dns.AppendQuery(nil, 9, &name, dns.TypeA), 64)
	b := make([]byte, dhcp.MaxMessage)
	n := dhcp.Begin(b, &dhcp.Fixed{Op: dhcp.BootRequest, XID: 5, CIAddr: hostAddr, CHAddr: hostMAC}, dhcp.Request)
	renew := udpFrame(cardMAC, hostMAC, hostAddr, cardAddr, 68, 67, b[:dhcp.End(b, n)], 64)
	e.c.Ethernet().Learn(hostAddr, hostMAC, e.now)
	buf := make([]byte, 4096)
	for _, f := range [][]byte{q, renew} {
		var pfx [2]byte
		binary.BigEndian.PutUint16(pfx[:], uint16(len(f)))
		allocs := testing.AllocsPerRun(100, func() {
			e.c.Input(pfx[:], e.now)
			e.c.Input(f, e.now)
			if e.c.Output(buf, e.now) == 0 {
				t.Fatal("no answer")
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per answer", allocs)
		}
	}
}

// dhcpReply builds a server's OFFER or ACK for the card.
func dhcpReply(typ uint8, xid uint32, yiaddr, server ipv4.Addr) []byte {
	b := make([]byte, dhcp.MaxMessage)
	n := dhcp.Begin(b, &dhcp.Fixed{Op: dhcp.BootReply, XID: xid, YIAddr: yiaddr, CHAddr: cardMAC}, typ)
	n = dhcp.PutAddr(b, n, dhcp.OptServerID, server)
	n = dhcp.PutSeconds(b, n, dhcp.OptLeaseTime, 3600)
	n = dhcp.PutAddr(b, n, dhcp.OptSubnetMask, [4]byte{255, 255, 255, 0})
	return b[:dhcp.End(b, n)]
}

// dhcpOut finds the card's DHCP message among frames.
func dhcpOut(fs [][]byte) (dhcp.Message, bool) {
	for _, f := range fs {
		fr, _ := eth.Parse(f)
		if h, err := ipv4.Parse(fr.Payload()); err == nil && h.Protocol() == ipv4.ProtoUDP {
			if u, err := udp.Parse(h.Payload()); err == nil && u.DstPort() == 67 {
				if m, err := dhcp.Parse(u.Payload()); err == nil {
					return m, true
				}
			}
		}
	}
	return dhcp.Message{}, false
}

// TestEthernetDHCPClientChecksAddress: before using a leased address the
// card probes it by ARP (RFC 2131 §4.4.1, RFC 5227); if another host
// answers for it the card declines the lease and keeps no address,
// otherwise it takes the address after a second.
func TestEthernetDHCPClientChecksAddress(t *testing.T) {
	server, leased := ipv4.Addr{10, 0, 3, 254}, ipv4.Addr{10, 0, 3, 77}
	serverMAC := eth.MAC{2, 0, 0, 0, 0, 0xfe}
	for _, inUse := range []bool{true, false} {
		e := newEthCard(t, card.EthConfig{DHCP: card.DHCPClient, NoMDNS: true})
		var m dhcp.Message
		ok := false
		for i := 0; i < 10 && !ok; i++ {
			e.now = e.c.Poll(e.now)
			m, ok = dhcpOut(e.out())
		}
		if !ok || m.Type() != dhcp.Discover {
			t.Fatal("no DISCOVER")
		}
		bcast := ipv4.Addr{255, 255, 255, 255}
		e.in(udpFrame(eth.Broadcast, serverMAC, server, bcast, 67, 68, dhcpReply(dhcp.Offer, m.XID(), leased, server), 64))
		if m, ok = dhcpOut(e.out()); !ok || m.Type() != dhcp.Request {
			t.Fatal("no REQUEST")
		}
		e.in(udpFrame(eth.Broadcast, serverMAC, server, bcast, 67, 68, dhcpReply(dhcp.Ack, m.XID(), leased, server), 64))
		fs := e.out()
		if len(fs) != 1 {
			t.Fatalf("%d frames after the ACK", len(fs))
		}
		fr, _ := eth.Parse(fs[0])
		a, err := eth.ParseARP(fr.Payload())
		if err != nil || a.SenderIP() != ([4]byte{}) || a.TargetIP() != leased {
			t.Fatalf("want an ARP probe of %v: %v", leased, err)
		}
		if e.c.IP().Local() != (ipv4.Addr{}) {
			t.Fatal("address used before the check")
		}
		if inUse {
			claim := make([]byte, eth.HeaderLen+eth.ARPLen)
			other := eth.MAC{2, 0, 0, 0, 0, 0x77}
			eth.PutHeader(claim, cardMAC, other, eth.TypeARP)
			eth.PutARP(claim[eth.HeaderLen:], eth.ARPReply, other, leased, cardMAC, [4]byte{})
			e.in(claim)
		}
		e.now = e.now.Add(time.Second)
		m, ok = dhcpOut(e.out())
		if inUse {
			if !ok || m.Type() != dhcp.Decline || e.c.IP().Local() != (ipv4.Addr{}) {
				t.Fatalf("in use: sent %v, local %v", m.Type(), e.c.IP().Local())
			}
			if a, _ := m.Addr(dhcp.OptRequestedIP); a != leased {
				t.Fatal("declined", a)
			}
		} else if ok || e.c.IP().Local() != leased {
			t.Fatalf("free: local %v", e.c.IP().Local())
		}
	}
}
