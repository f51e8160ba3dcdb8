package host

import (
	"io"
	"net/netip"
	"sync"

	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// Netstack bridges our PPP host role to gVisor's userspace TCP/IP stack
// (through wireguard-go's netstack package): Go programs reach the card with
// Net().DialContextTCPAddrPort, DialPingAddr, etc., with no root and no
// kernel PPP. The netstack's address is the PPP local address.
type Netstack struct {
	*Bridge
	dev  tun.Device
	net  *netstack.Net
	wg   sync.WaitGroup
	once sync.Once
	v6   bool
}

// NewNetstack starts the host side on port, bridged to a fresh netstack.
func NewNetstack(port io.ReadWriteCloser, cfg Config) (*Netstack, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	addrs := []netip.Addr{netip.AddrFrom4(cfg.PPP.LocalIP)}
	if cfg.IPv6 && !cfg.Card {
		addrs = append(addrs, cfg.HostIP6())
	}
	dev, tnet, err := netstack.CreateNetTUN(addrs, nil, cfg.MTU)
	if err != nil {
		return nil, err
	}
	n := &Netstack{dev: dev, net: tnet, v6: cfg.IPv6}
	bufs := [][]byte{nil}
	n.Bridge = newBridge(port, &cfg, func(pkt []byte) {
		// netstack copies the packet (buffer.MakeWithData) before we return.
		bufs[0] = pkt
		_, _ = dev.Write(bufs, 0)
	})
	n.wg.Add(1)
	go n.readLoop(cfg.MTU)
	n.start()
	return n, nil
}

// readLoop moves packets the netstack sends into the queue toward the line.
func (n *Netstack) readLoop(mtu int) {
	defer n.wg.Done()
	bufs := [][]byte{make([]byte, mtu+64)}
	sizes := []int{0}
	for {
		k, err := n.dev.Read(bufs, sizes, 0)
		if err != nil {
			return // os.ErrClosed after Close
		}
		// IPv4, and IPv6 when IPV6CP runs (the link drops IPv6 until
		// it is open).
		if k == 1 && sizes[0] > 0 && (bufs[0][0]>>4 == 4 || n.v6 && bufs[0][0]>>4 == 6) {
			n.send(bufs[0][:sizes[0]])
		}
	}
}

// Net is the userspace network stack connected to the card.
func (n *Netstack) Net() *netstack.Net { return n.net }

// Close terminates the link, stops the driver (closing the port) and
// closes the netstack.
func (n *Netstack) Close() error {
	var err error
	n.once.Do(func() {
		err = n.close()
		n.dev.Close()
		n.wg.Wait()
	})
	return err
}
