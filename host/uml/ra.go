package uml

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"netcard/ipv6"
)

// raEnv makes any binary that links this package send one IPv6 Router
// Advertisement inside the guest: "NETCARD_UML_RA=1 <this binary> IFNAME
// PREFIX" announces PREFIX (a /64) on IFNAME to all nodes, from the
// interface's link-local address, router lifetime 0 — what radvd would do,
// so a card on the guest's ppp0 configures a global address by SLAAC
// (RFC 4862). Debian's UML guest has no radvd.
const raEnv = "NETCARD_UML_RA"

// HelperAvailable reports whether the guest can run this binary's helpers
// (module loading, router advertisements): not in race-enabled builds.
func HelperAvailable() bool { return !raceEnabled }

func init() {
	if os.Getenv(raEnv) != "1" {
		return
	}
	if err := sendRA(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "router advertisement: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func sendRA(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: IFNAME PREFIX")
	}
	ifi, err := net.InterfaceByName(args[0])
	if err != nil {
		return err
	}
	prefix, err := netip.ParseAddr(args[1])
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// RFC 4861 §6.1.2: hop limit 255. The kernel fills in the ICMPv6
	// checksum of a raw ICMPv6 socket (RFC 3542 §3.1).
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index); err != nil {
		return err
	}
	pkt := ipv6.AppendRouterAdvert(nil, ipv6.Addr{}, ipv6.FromNetip(prefix), 0xffffffff, 0xffffffff, 0)
	msg := pkt[ipv6.HeaderLen:]
	msg[2], msg[3] = 0, 0
	return unix.Sendto(fd, msg, 0, &unix.SockaddrInet6{Addr: ipv6.AllNodes, ZoneId: uint32(ifi.Index)})
}
