package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// EthPeerConfig configures an in-process Ethernet peer.
type EthPeerConfig struct {
	MAC    [6]byte      // default 02:00:00:00:00:02
	Addr   netip.Prefix // default 10.0.3.2/24 (what the card's DHCP server leases)
	MTU    int          // default 1500
	Queued int          // frames queued toward the line (default 256)
}

// EthPeer is gVisor's TCP/IP stack (its own ARP, IPv4, ICMP, TCP, UDP) on
// an Ethernet NIC (gVisor's ethernet link endpoint over a channel
// endpoint), attached to a port carrying the frame stream of package eth
// (2-byte big-endian length, frame): the in-process host for a card on
// Ethernet — the demo, tests without root, and goodput measurements. The
// address is configured statically (gVisor has no DHCP client).
type EthPeer struct {
	st   *stack.Stack
	ch   *channel.Endpoint
	port io.ReadWriteCloser
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
	once sync.Once
	addr netip.Prefix
}

const ethPeerNIC = 1

// NewEthPeer starts a gVisor Ethernet host on port (closed by Close).
func NewEthPeer(port io.ReadWriteCloser, cfg EthPeerConfig) (*EthPeer, error) {
	if cfg.MAC == ([6]byte{}) {
		cfg.MAC = [6]byte{2, 0, 0, 0, 0, 2}
	}
	if !cfg.Addr.IsValid() {
		cfg.Addr = netip.MustParsePrefix("10.0.3.2/24")
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Queued == 0 {
		cfg.Queued = 256
	}
	st := stack.New(stack.Options{
		// IPv6 beside IPv4: gVisor's own link-local address from its MAC
		// (with its DAD) and its Neighbor Discovery.
		NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol,
			ipv6.NewProtocolWithOptions(ipv6.Options{AutoGenLinkLocal: true})},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	ch := channel.New(cfg.Queued, uint32(cfg.MTU), tcpip.LinkAddress(cfg.MAC[:]))
	if err := st.CreateNIC(ethPeerNIC, ethernet.New(ch)); err != nil {
		st.Close()
		return nil, fmt.Errorf("host: CreateNIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{
		Address: tcpip.AddrFrom4(cfg.Addr.Addr().As4()), PrefixLen: cfg.Addr.Bits()}}
	if err := st.AddProtocolAddress(ethPeerNIC, pa, stack.AddressProperties{}); err != nil {
		st.Close()
		return nil, fmt.Errorf("host: AddProtocolAddress: %v", err)
	}
	st.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: ethPeerNIC},
		{Destination: header.IPv6EmptySubnet, NIC: ethPeerNIC}})
	ctx, stop := context.WithCancel(context.Background())
	p := &EthPeer{st: st, ch: ch, port: port, ctx: ctx, stop: stop, addr: cfg.Addr}
	p.wg.Add(2)
	go p.readLoop(cfg.MTU)
	go p.writeLoop()
	return p, nil
}

// readLoop cuts the frame stream into frames and gives them to gVisor.
func (p *EthPeer) readLoop(mtu int) {
	defer p.wg.Done()
	var hdr [2]byte
	frame := make([]byte, 65535)
	for {
		if _, err := io.ReadFull(p.port, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(p.port, frame[:n]); err != nil {
			return
		}
		if n < header.EthernetMinimumSize {
			continue
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame[:n])})
		p.ch.InjectInbound(0, pkt) // the ethernet endpoint reads the type from the header
		pkt.DecRef()
	}
}

// writeLoop sends each frame gVisor emits, with its length prefix.
func (p *EthPeer) writeLoop() {
	defer p.wg.Done()
	buf := make([]byte, 0, 65537)
	for {
		pkt := p.ch.ReadContext(p.ctx)
		if pkt == nil {
			return
		}
		buf = buf[:2]
		for _, s := range pkt.AsSlices() {
			buf = append(buf, s...)
		}
		pkt.DecRef()
		binary.BigEndian.PutUint16(buf, uint16(len(buf)-2))
		if _, err := p.port.Write(buf); err != nil {
			return
		}
	}
}

// Addr is the peer's address.
func (p *EthPeer) Addr() netip.Addr { return p.addr.Addr() }

// DialTCP connects to addr (IPv4 or IPv6) over the Ethernet link.
func (p *EthPeer) DialTCP(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if a := addr.Addr(); a.Is6() && !a.Is4In6() {
		fa := tcpip.FullAddress{NIC: ethPeerNIC, Addr: tcpip.AddrFrom16(a.As16()), Port: addr.Port()}
		return gonet.DialContextTCP(ctx, p.st, fa, ipv6.ProtocolNumber)
	}
	fa := tcpip.FullAddress{NIC: ethPeerNIC, Addr: tcpip.AddrFrom4(addr.Addr().Unmap().As4()), Port: addr.Port()}
	return gonet.DialContextTCP(ctx, p.st, fa, ipv4.ProtocolNumber)
}

// ListenTCP listens on the peer's address.
func (p *EthPeer) ListenTCP(port uint16) (net.Listener, error) {
	fa := tcpip.FullAddress{NIC: ethPeerNIC, Addr: tcpip.AddrFrom4(p.addr.Addr().As4()), Port: port}
	return gonet.ListenTCP(p.st, fa, ipv4.ProtocolNumber)
}

// Neighbor returns the MAC gVisor's ARP resolved for addr, if any.
func (p *EthPeer) Neighbor(addr netip.Addr) (tcpip.LinkAddress, bool) {
	ns, err := p.st.Neighbors(ethPeerNIC, ipv4.ProtocolNumber)
	if err != nil {
		return "", false
	}
	for _, n := range ns {
		if n.Addr == tcpip.AddrFrom4(addr.As4()) && n.State == stack.Reachable {
			return n.LinkAddr, true
		}
	}
	return "", false
}

// Stack is the gVisor stack.
func (p *EthPeer) Stack() *stack.Stack { return p.st }

// Close stops the peer and closes its port.
func (p *EthPeer) Close() error {
	var err error
	p.once.Do(func() {
		p.stop()
		err = p.port.Close()
		p.st.Close()
		p.wg.Wait()
		p.st.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}
