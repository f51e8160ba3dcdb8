package card

import (
	"crypto/x509"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"netcard/dhcp"
	"netcard/eth"
	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/mdns"
	"netcard/udp"
)

// DHCPMode is how a card on Ethernet gets its address.
type DHCPMode uint8

const (
	// DHCPServer: the card is the DHCP server of a point-to-point link (a
	// USB network gadget): it takes Addr and leases PeerIP to the host.
	DHCPServer DHCPMode = iota
	// DHCPClient: the card asks the LAN's DHCP server (RFC 2131).
	DHCPClient
	// DHCPOff: static Addr, Mask, Router; no DHCP.
	DHCPOff
)

// EthConfig puts the card on an Ethernet link instead of PPP: Input and
// Output then carry the length-prefixed frame stream of package eth (a
// socket, a USB gadget endpoint, or link.TAP).
type EthConfig struct {
	MAC  eth.MAC // zero: a random locally administered address
	DHCP DHCPMode
	// Addr is the card's address and PeerIP the host's (DHCP server mode);
	// defaults 10.0.3.1 and 10.0.3.2 on a /24. Mask and Router apply to
	// DHCPOff (and Mask to the server's offer).
	Addr, PeerIP, Mask, Router [4]byte
	// Lease is the DHCP server's lease time (default 1 h). DHCPRouter makes
	// it offer the card as the host's router (option 3): off by default,
	// so that plugging the card in does not take the host's default route.
	Lease      time.Duration
	DHCPRouter bool
	// Tap sees every frame (pcap, LINKTYPE_ETHERNET).
	Tap func(sent bool, frame []byte)
	// MDNSName is the host label the mDNS responder answers for
	// ("netcard" → netcard.local); empty: the first DNS name ending in
	// ".local" in the card's certificate, else "netcard". NoMDNS turns the
	// responder off.
	MDNSName string
	NoMDNS   bool
}

// ethFront is the card's Ethernet side: the link (framing, ARP) and the
// link-scoped services that run beside the IPv4 host layer rather than on
// it, because they use addresses it refuses (broadcast, a source of
// 0.0.0.0): the DHCP server or client.
type ethFront struct {
	c    *Card
	cfg  EthConfig
	link *eth.Link
	srv  *dhcp.Server
	cli  *dhcp.Client
	mdns *mdns.Responder

	checkUntil time.Time  // end of the ARP check of a new DHCP lease (zero: none)
	dns        [2][4]byte // the lease's DNS servers (option 6), for the resolver a lookup lends

	mask        [4]byte
	udpIn       uint64 // link-scoped datagrams taken (DHCP, mDNS)
	udpBadCk    uint64 // ... dropped for a bad UDP checksum
	mdnsOffLink uint64 // mDNS messages from off the link, dropped (RFC 6762 §11)

	nb       *ipv6.Neighbors // IPv6 neighbour cache (nil without Profile.IPv6)
	v6Logged ipv6.Addr       // the link-local address last logged
	v6Global ipv6.Addr       // the global address last logged

	mldDue                     time.Time // next MLD report (mldLeft > 0)
	mldLeft                    uint8     // reports still to send
	mldOut, mldQueries, mldBad uint64    // reports sent, queries answered, queries dropped (RFC 3810 §6.2)
}

// minEthMTU is the smallest MTU the Ethernet side accepts: a DHCP client
// must accept 576-byte datagrams (RFC 2131 §2), and mDNS messages are up
// to 512 bytes plus headers.
const minEthMTU = 576

var (
	defaultEthAddr = [4]byte{10, 0, 3, 1}
	defaultEthPeer = [4]byte{10, 0, 3, 2}
	defaultEthMask = [4]byte{255, 255, 255, 0}
)

func newEthFront(c *Card, cfg EthConfig, p Profile, rnd io.Reader) (*ethFront, error) {
	if cfg.MAC.IsZero() {
		if _, err := io.ReadFull(rnd, cfg.MAC[:]); err != nil {
			return nil, fmt.Errorf("card: random source: %w", err)
		}
		cfg.MAC[0] = cfg.MAC[0]&^1 | 2 // unicast, locally administered (IEEE 802 U/L bit)
	}
	if p.LinkMRU() < minEthMTU {
		return nil, fmt.Errorf("card: profile %s: Ethernet needs an MRU of at least %d (RFC 2131 §2: DHCP messages of 576 bytes), not %d", p.Name, minEthMTU, p.MRU)
	}
	if cfg.MAC.IsMulticast() {
		return nil, fmt.Errorf("card: MAC %v is a group address", cfg.MAC)
	}
	if cfg.Addr == ([4]byte{}) && cfg.DHCP != DHCPClient {
		cfg.Addr = defaultEthAddr
		if cfg.PeerIP == ([4]byte{}) {
			cfg.PeerIP = defaultEthPeer
		}
	}
	if cfg.Mask == ([4]byte{}) {
		cfg.Mask = defaultEthMask
	}
	f := &ethFront{c: c, cfg: cfg}
	lc := eth.Config{
		MAC: cfg.MAC, MTU: p.LinkMRU(),
		ARPEntries: int(p.ARPEntries), ARPHold: int(p.ARPHold),
		Deliver: f.deliver, Pull: f.pull, Tap: cfg.Tap,
	}
	if c.auto != nil {
		// IPv6 next hops are resolved by Neighbor Discovery (RFC 4861
		// §7.2) in a table of ARPEntries neighbours; SLAAC sees every ND
		// message after it.
		f.nb = ipv6.NewNeighbors(c.auto.Host(), p.arpEntries())
		f.nb.Next = c.auto
		lc.Deliver6, lc.ND = f.deliver6, f.nb
	}
	f.link = eth.New(lc)
	if cfg.DHCP == DHCPServer {
		if cfg.PeerIP == ([4]byte{}) {
			return nil, fmt.Errorf("card: DHCP server needs the host's address (PeerIP)")
		}
		f.srv = dhcp.NewServer(dhcp.ServerConfig{ServerIP: cfg.Addr, ClientIP: cfg.PeerIP, Mask: cfg.Mask, Lease: cfg.Lease,
			Router: cfg.DHCPRouter})
	}
	if !cfg.NoMDNS {
		name := cfg.MDNSName
		if name == "" {
			name = localName(c.cfg.Store.Certificate())
		}
		r, err := mdns.New(mdns.Config{Name: name, Port: c.cfg.HTTPSPort, Rand: rnd})
		if err != nil {
			return nil, fmt.Errorf("card: %w", err)
		}
		f.mdns = r
	}
	host := "netcard"
	if f.mdns != nil {
		host = strings.TrimSuffix(f.mdns.Name(), ".local")
	}
	if cfg.DHCP == DHCPClient {
		f.cli = dhcp.NewClient(dhcp.ClientConfig{MAC: cfg.MAC, Rand: rnd, Hostname: host})
	}
	return f, nil
}

// start brings the link up: a static or server address is configured at
// once (and announced by gratuitous ARP).
func (f *ethFront) start(now time.Time) {
	f.start6(now)
	if f.cli != nil {
		f.cli.Start(now)
		return
	}
	if f.cfg.DHCP != DHCPClient {
		router := [4]byte{}
		if f.cfg.DHCP == DHCPOff {
			router = f.cfg.Router
		}
		f.setAddr(f.cfg.Addr, f.cfg.Mask, router, now)
	}
}

// stop gives a DHCP lease back (the RELEASE goes out with the next
// Output; the address stays until then).
func (f *ethFront) stop(now time.Time) {
	if f.cli != nil {
		f.cli.Release(now)
	}
}

func (f *ethFront) setAddr(a, mask, router [4]byte, now time.Time) {
	c := f.c
	f.link.SetAddr(a, mask, router, now)
	f.mask = mask
	c.ip.SetLocal(a)
	c.ip.SetMTU(f.link.MTU())
	c.ipUp = a != ([4]byte{})
	if f.mdns != nil {
		f.mdns.SetAddr(a, now)
	}
	c.cfg.Log.Info("ethernet up", "mac", f.link.MAC().String(), "local", netip.AddrFrom4(a), "mask", netip.AddrFrom4(mask))
}

// deliver takes an IPv4 packet from the link: link-scoped UDP goes to the
// DHCP machine, everything else to the IPv4 host layer.
func (f *ethFront) deliver(pkt []byte, now time.Time) {
	if f.linkScoped(pkt, now) {
		return
	}
	f.c.ip.Input(pkt, now)
}

func (f *ethFront) linkScoped(pkt []byte, now time.Time) bool {
	if len(pkt) < ipv4.HeaderLen || pkt[9] != ipv4.ProtoUDP {
		return false
	}
	h, err := ipv4.Parse(pkt)
	if err != nil || h.IsFragment() {
		return false // the IP layer counts it
	}
	u, err := udp.Parse(h.Payload())
	if err != nil {
		return false
	}
	switch {
	case u.DstPort() == dhcp.ServerPort && u.SrcPort() == dhcp.ClientPort && f.srv != nil:
	case u.DstPort() == dhcp.ClientPort && u.SrcPort() == dhcp.ServerPort && f.cli != nil:
	case u.DstPort() == mdns.Port && f.mdns != nil && (h.Dst() == mdns.Group || h.Dst() == f.link.Local()):
	default:
		return false
	}
	f.udpIn++
	if !u.VerifyChecksum(h.Src(), h.Dst()) {
		f.udpBadCk++
		return true
	}
	if u.DstPort() == mdns.Port {
		// RFC 6762 §11: only queries from the local link are answered.
		if f.onLink(h.Src()) {
			f.mdns.Input(h.Src(), u.SrcPort(), u.Payload(), now)
		} else {
			f.mdnsOffLink++
		}
		return true
	}
	if f.srv != nil {
		f.srv.Input(u.Payload(), now)
	} else {
		f.cli.Input(u.Payload(), now)
		f.clientEvent(now)
	}
	return true
}

// probeWait is how long the card listens for an answer to its ARP probe
// of a leased address before taking it: RFC 5227's PROBE_WAIT is up to
// 1 s before the first of three probes; one probe and a 1-second wait is
// the short check RFC 2131 §4.4.1 asks for.
const probeWait = time.Second

// clientEvent applies a lease the DHCP client got or lost. A new address
// is checked first (RFC 2131 §4.4.1): an ARP probe, then after probeWait
// checkLease takes it or declines it.
func (f *ethFront) clientEvent(now time.Time) {
	switch f.cli.TakeEvent() {
	case dhcp.EventBound:
		l := f.cli.Lease()
		if l.Addr == f.link.Local() {
			f.setAddr(l.Addr, l.Mask, l.Router, now) // same address: mask, router or DNS changed
			f.setDNS(l.DNS)
			return
		}
		f.link.Probe(l.Addr, now)
		f.checkUntil = now.Add(probeWait)
	case dhcp.EventLost:
		f.checkUntil = time.Time{}
		f.setAddr([4]byte{}, [4]byte{}, [4]byte{}, now)
	}
}

// checkLease ends the address check of a new lease.
func (f *ethFront) checkLease(now time.Time) {
	if f.checkUntil.IsZero() || now.Before(f.checkUntil) {
		return
	}
	f.checkUntil = time.Time{}
	if f.link.ProbeConflict() {
		f.c.cfg.Log.Warn("DHCP: leased address in use; declined", "addr", netip.AddrFrom4(f.cli.Lease().Addr))
		f.cli.Decline(now)
		return
	}
	if f.cli.State() == dhcp.Bound {
		l := f.cli.Lease()
		f.setAddr(l.Addr, l.Mask, l.Router, now)
		f.setDNS(l.DNS)
	}
}

// setDNS keeps the lease's DNS servers (option 6) for the stub resolver,
// and gives them to the one a lookup in progress holds.
func (f *ethFront) setDNS(servers [2][4]byte) {
	f.dns = servers
	if f.c.dns != nil {
		var buf [2]ipv4.Addr
		f.c.dns.SetServers(f.c.dnsServers(buf[:0]))
	}
}

// pull writes the next IPv4 packet for the link: a DHCP reply first, then
// the IPv4 host layer's.
func (f *ethFront) pull(dst []byte, now time.Time) int {
	if f.srv != nil && f.srv.Pending() && len(dst) >= ipv4.HeaderLen+udp.HeaderLen+dhcp.MaxMessage {
		seg := dst[ipv4.HeaderLen:]
		r := f.srv.Output(seg[udp.HeaderLen:], now)
		if r.N > 0 {
			if r.Learn {
				f.link.Learn(r.Dst, r.MAC, now)
			}
			return f.putUDP(dst, f.cfg.Addr, r.Dst, dhcp.ServerPort, dhcp.ClientPort, r.N, 64)
		}
	}
	if f.cli != nil && f.cli.Pending() && len(dst) >= ipv4.HeaderLen+udp.HeaderLen+dhcp.MaxMessage {
		r, src := f.cli.Output(dst[ipv4.HeaderLen+udp.HeaderLen:], now)
		if r.N > 0 {
			return f.putUDP(dst, src, r.Dst, dhcp.ClientPort, dhcp.ServerPort, r.N, 64)
		}
	}
	if f.c.auto != nil {
		if n := f.pullMLD(dst, now); n > 0 {
			return n
		}
	}
	if !f.c.ipUp {
		if f.c.auto != nil {
			return f.c.auto.Host().Output(dst, now) // ND and DAD run without IPv4
		}
		return 0
	}
	if n := f.pullMDNS(dst, now); n > 0 {
		return n
	}
	if f.c.auto != nil {
		return f.c.pullDual(dst)
	}
	return f.c.ip.Output(dst, now)
}

// onLink reports whether a is in the link's subnet.
func (f *ethFront) onLink(a [4]byte) bool {
	l, m := f.link.Local(), f.mask
	for i := range a {
		if (a[i]^l[i])&m[i] != 0 {
			return false
		}
	}
	return true
}

// localName is the first label of the certificate's first DNS name under
// .local, or "netcard".
func localName(chain [][]byte) string {
	if len(chain) > 0 {
		if cert, err := x509.ParseCertificate(chain[0]); err == nil {
			for _, n := range cert.DNSNames {
				if l, ok := strings.CutSuffix(strings.ToLower(n), ".local"); ok && l != "" && !strings.Contains(l, ".") {
					return l
				}
			}
		}
	}
	return "netcard"
}

// putUDP writes the IPv4 and UDP headers in front of a payload of n bytes
// already at dst[28:].
func (f *ethFront) putUDP(dst []byte, src, to [4]byte, sport, dport uint16, n int, ttl uint8) int {
	seg := dst[ipv4.HeaderLen : ipv4.HeaderLen+udp.HeaderLen+n]
	udp.PutHeader(seg, src, to, sport, dport)
	total := ipv4.HeaderLen + len(seg)
	ipv4.PutHeader(dst, &ipv4.Fields{TotalLen: total, TTL: ttl, Protocol: ipv4.ProtoUDP, Src: src, Dst: to})
	return total
}

// poll returns the link's next timer.
func (f *ethFront) poll(now time.Time) time.Time {
	next := f.link.Poll(now)
	if f.nb != nil {
		next = earliest(next, f.nb.Poll(now))
		f.addrs6(now)
		if f.mldLeft > 0 {
			next = earliest(next, f.mldDue)
		}
	}
	if f.mdns != nil {
		next = earliest(next, f.mdns.Poll(now))
	}
	if f.cli != nil {
		next = earliest(next, f.cli.Poll(now))
		f.clientEvent(now)
		f.checkLease(now)
		next = earliest(next, f.checkUntil)
	}
	return next
}

// status adds the Ethernet counters.
func (f *ethFront) status(add func(layer, name string, v uint64)) {
	s := f.link.Stats()
	add("Ethernet", "frames in", s.InFrames)
	add("Ethernet", "frames out", s.OutFrames)
	add("Ethernet", "frames not for us", s.InNotForUs)
	add("ARP", "requests answered", s.ARPRepliesOut)
	add("ARP", "requests sent", s.ARPRequestsOut)
	add("ARP", "malformed", s.ARPMalformed)
	add("ARP", "packets dropped unresolved", s.ARPHoldDrops+s.ARPFailed)
	if f.cli != nil {
		d := f.cli.Stats()
		add("DHCP", "client messages sent", d.Sent)
		add("DHCP", "acks", d.Acks)
		add("DHCP", "naks", d.Naks)
		add("DHCP", "leases expired", d.Expired)
	}
	if f.nb != nil {
		add("MLD", "reports sent", f.mldOut)
		add("MLD", "queries answered", f.mldQueries)
		add("MLD", "queries dropped", f.mldBad)
	}
	if f.mdns != nil {
		m := f.mdns.Stats()
		add("mDNS", "queries answered", m.Answered)
		add("mDNS", "conflicts (renamed)", m.Conflicts)
		add("mDNS", "malformed", m.Malformed)
	}
	if f.srv != nil {
		d := f.srv.Stats()
		add("DHCP", "offers", d.Offers)
		add("DHCP", "acks", d.Acks)
		add("DHCP", "naks", d.Naks)
		add("DHCP", "malformed", d.Malformed)
	}
}

// Ethernet returns the card's Ethernet link (nil on PPP).
func (c *Card) Ethernet() *eth.Link {
	if c.eth == nil {
		return nil
	}
	return c.eth.link
}

// DHCPServer returns the card's DHCP server (nil unless it is one).
func (c *Card) DHCPServer() *dhcp.Server {
	if c.eth == nil {
		return nil
	}
	return c.eth.srv
}

// DHCPClient returns the card's DHCP client (nil unless it is one).
func (c *Card) DHCPClient() *dhcp.Client {
	if c.eth == nil {
		return nil
	}
	return c.eth.cli
}

// MDNS returns the card's mDNS responder (nil if off or on PPP).
func (c *Card) MDNS() *mdns.Responder {
	if c.eth == nil {
		return nil
	}
	return c.eth.mdns
}

// ramBudget is the profile's Budget on the card's link: on Ethernet the
// link's buffers and tables (EthBudget) replace PPP's two frame buffers.
func (c *Card) ramBudget() int { return int(c.cfg.budget) }

// budgetOf is the RAM budget of a card of profile p, on Ethernet or not.
func budgetOf(p Profile, eth bool) int {
	if !eth {
		return p.Budget()
	}
	return p.Budget() - 2*(p.LinkMRU()+8) + p.EthBudget()
}
