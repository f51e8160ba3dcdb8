package main

import (
	"fmt"
	"os"
	"strings"

	"netcard/card"
	"netcard/link"
)

// ethOpts are serve's Ethernet flags.
type ethOpts struct {
	framing  *string
	dhcp     *string
	addr     *string
	peer     *string
	mdnsName *string
	noMDNS   *bool
	router   *bool
}

func addEthFlags(fs interface {
	String(name, value, usage string) *string
	Bool(name string, value bool, usage string) *bool
}) ethOpts {
	return ethOpts{
		framing:  fs.String("framing", "ppp", "what the link carries: ppp, or eth (Ethernet frames, 2-byte big-endian length prefix; implied by --link tap:NAME)"),
		dhcp:     fs.String("dhcp", "", "on Ethernet: server (the host's DHCP client configures itself; default), client (ask the LAN's DHCP server) or off"),
		addr:     fs.String("eth-addr", "", "on Ethernet: the card's address (default 10.0.3.1/24; with --dhcp off: ADDR/PREFIX)"),
		peer:     fs.String("eth-peer", "", "on Ethernet, DHCP server: the address leased to the host (default 10.0.3.2)"),
		mdnsName: fs.String("mdns-name", "", "on Ethernet: the mDNS host label (default: the certificate's first NAME.local, else netcard)"),
		noMDNS:   fs.Bool("no-mdns", false, "on Ethernet: no mDNS responder"),
		router:   fs.Bool("dhcp-router", false, "on Ethernet, DHCP server: offer the card as the host's default router"),
	}
}

// config builds the Ethernet configuration, nil when the card runs PPP.
func (o ethOpts) config(spec string) (*card.EthConfig, error) {
	if !strings.HasPrefix(spec, "tap:") && *o.framing != "eth" {
		if *o.framing != "ppp" {
			return nil, usageError{fmt.Errorf("bad --framing %q: want ppp or eth", *o.framing)}
		}
		if *o.dhcp != "" || *o.addr != "" || *o.peer != "" {
			return nil, usageError{fmt.Errorf("--dhcp, --eth-addr and --eth-peer need Ethernet (--framing eth or --link tap:NAME)")}
		}
		return nil, nil
	}
	ec := &card.EthConfig{MDNSName: *o.mdnsName, NoMDNS: *o.noMDNS, DHCPRouter: *o.router}
	switch *o.dhcp {
	case "", "server":
		ec.DHCP = card.DHCPServer
	case "client":
		ec.DHCP = card.DHCPClient
	case "off":
		ec.DHCP = card.DHCPOff
	default:
		return nil, usageError{fmt.Errorf("bad --dhcp %q: want server, client or off", *o.dhcp)}
	}
	if a := *o.addr; a != "" {
		ip, prefix, hasPrefix := strings.Cut(a, "/")
		var err error
		if ec.Addr, err = parseIP4(ip, "--eth-addr"); err != nil {
			return nil, err
		}
		if hasPrefix {
			var n int
			if _, err := fmt.Sscanf(prefix, "%d", &n); err != nil || n < 1 || n > 30 {
				return nil, usageError{fmt.Errorf("bad prefix in --eth-addr %q", a)}
			}
			m := ^uint32(0) << (32 - n)
			ec.Mask = [4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
		}
	}
	var err error
	if ec.PeerIP, err = parseIP4(*o.peer, "--eth-peer"); err != nil {
		return nil, err
	}
	if ec.DHCP == card.DHCPServer && ec.Addr != ([4]byte{}) && ec.PeerIP == ([4]byte{}) {
		return nil, usageError{fmt.Errorf("--eth-addr with the DHCP server needs --eth-peer")}
	}
	return ec, nil
}

// openTAP opens --link tap:NAME in our network namespace and brings it up.
func openTAP(spec string) (link.Port, string, error) {
	name := strings.TrimPrefix(spec, "tap:")
	t, err := link.OpenTAP(name, "")
	if err != nil {
		return nil, "", err
	}
	if err := t.SetUp(); err != nil {
		t.Close()
		return nil, "", err
	}
	return t, "tap " + name, nil
}

// openEthPcap opens a LINKTYPE_ETHERNET capture.
func openEthPcap(path string) (func(bool, []byte), func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	w, err := link.NewEthPcap(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return w.Tap(), func() { f.Close() }, nil
}
