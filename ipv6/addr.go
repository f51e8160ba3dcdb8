package ipv6

import (
	"net/netip"

	"netcard/ipv4"
)

// Addr is a 16-byte IP address in network byte order. It is the one address
// type of the dual-stack transports (tcp, udp): an IPv4 address is held in
// its IPv4-mapped form ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), so one table,
// one comparison and one connection lookup serve both families, and the
// family is read from the address itself (Is4).
type Addr [16]byte

// v4Prefix is the first 12 bytes of an IPv4-mapped address.
var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// From4 returns the IPv4-mapped form of a.
func From4(a ipv4.Addr) Addr {
	var r Addr
	copy(r[:12], v4Prefix[:])
	copy(r[12:], a[:])
	return r
}

// Is4 reports whether a is an IPv4-mapped address (an IPv4 peer).
func (a Addr) Is4() bool { return [12]byte(a[:12]) == v4Prefix }

// As4 returns the IPv4 address of a mapped address (meaningless otherwise).
func (a Addr) As4() ipv4.Addr { return ipv4.Addr(a[12:16]) }

// IsUnspecified reports whether a is :: or the mapped 0.0.0.0.
func (a Addr) IsUnspecified() bool { return a == Addr{} || a == From4(ipv4.Addr{}) }

// IsMulticast reports whether a is in ff00::/8 (RFC 4291 §2.7).
func (a Addr) IsMulticast() bool { return a[0] == 0xff }

// IsLinkLocal reports whether a is a link-local unicast address, fe80::/10
// (RFC 4291 §2.5.6).
func (a Addr) IsLinkLocal() bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

// IsLoopback reports whether a is ::1.
func (a Addr) IsLoopback() bool { return a == Addr{15: 1} }

// IsUnicast reports whether a can be the address of a single host: for a
// mapped address the IPv4 rule (ipv4.Addr.IsUnicast); otherwise not the
// unspecified address, loopback or multicast.
func (a Addr) IsUnicast() bool {
	if a.Is4() {
		return a.As4().IsUnicast()
	}
	return a != Addr{} && !a.IsLoopback() && !a.IsMulticast()
}

// Owner returns the unit a per-peer limit should count: an IPv4 address
// itself, an IPv6 address's /64 — one link's prefix (RFC 4291 §2.5.1),
// whose 2^64 addresses an attacker on it can all use.
func (a Addr) Owner() Addr {
	if a.Is4() {
		return a
	}
	clear(a[8:])
	return a
}

// Netip returns a as a netip.Addr, unmapped for an IPv4 address.
func (a Addr) Netip() netip.Addr { return netip.AddrFrom16(a).Unmap() }

// FromNetip returns the 16-byte form of a (mapped for IPv4; zero when a is
// not valid).
func FromNetip(a netip.Addr) Addr {
	if !a.IsValid() {
		return Addr{}
	}
	return Addr(a.As16())
}

// String formats a like netip.Addr.
func (a Addr) String() string { return a.Netip().String() }

// LinkLocal returns fe80::/64 with the interface identifier iid (RFC 4862
// §5.3).
func LinkLocal(iid [8]byte) Addr {
	a := Addr{0: 0xfe, 1: 0x80}
	copy(a[8:], iid[:])
	return a
}

// WithPrefix returns the /64 prefix of p with the interface identifier iid
// (RFC 4862 §5.5.3 d).
func WithPrefix(p Addr, iid [8]byte) Addr {
	copy(p[8:], iid[:])
	return p
}

// SolicitedNode returns the solicited-node multicast address of a,
// ff02::1:ffXX:XXXX (RFC 4291 §2.7.1).
func SolicitedNode(a Addr) Addr {
	return Addr{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// Well-known multicast addresses (RFC 4291 §2.7.1).
var (
	AllNodes   = Addr{0: 0xff, 1: 0x02, 15: 1}
	AllRouters = Addr{0: 0xff, 1: 0x02, 15: 2}
)

// PseudoHeaderSum returns the checksum accumulator of the upper-layer
// pseudo-header for src and dst: RFC 8200 §8.1 (addresses, 32-bit
// upper-layer length, next header) for IPv6 addresses, the IPv4 one
// (ipv4.PseudoHeaderSum) when both are IPv4-mapped. The family decides;
// TCP and UDP call this for either.
func PseudoHeaderSum(src, dst Addr, proto uint8, length int) uint32 {
	if src.Is4() && dst.Is4() {
		return ipv4.PseudoHeaderSum(src.As4(), dst.As4(), proto, length)
	}
	s := ipv4.Sum(src[:], 0)
	s = ipv4.Sum(dst[:], s)
	s += uint32(length) & 0xffff
	s += uint32(length) >> 16
	s += uint32(proto)
	return s
}
