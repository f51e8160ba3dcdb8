// Package eth is the card's Ethernet link: Ethernet II framing (RFC 894),
// ARP (RFC 826) with a bounded neighbour cache, and the length-prefixed
// frame stream that carries frames over any byte-stream port (a socket, a
// USB gadget endpoint, a TAP adapter). With an ND resolver it also carries
// IPv6 (RFC 2464): EtherType 0x86DD, 33:33 multicast groups, one packet
// held per unresolved next hop.
//
// Like the other protocol packages it is event-driven: Link has Input
// (stream bytes in), Output (stream bytes out) and Poll (timers), owns no
// goroutines, takes no locks, and allocates all its buffers in New.
package eth

import (
	"encoding/binary"
	"errors"
)

// HeaderLen is the length of an Ethernet II header: destination, source,
// EtherType (RFC 894).
const HeaderLen = 14

// EtherTypes the card knows.
const (
	TypeIPv4 = 0x0800
	TypeARP  = 0x0806
	TypeIPv6 = 0x86dd
)

// minEtherType: a type/length field below 0x0600 is an IEEE 802.3 length,
// not an EtherType (IEEE 802.3 §3.2.6); such frames are not for us.
const minEtherType = 0x0600

// Field offsets of the Ethernet II header.
const (
	offDst  = 0
	offSrc  = 6
	offType = 12
)

// MAC is a 48-bit IEEE 802 address.
type MAC [6]byte

// Broadcast is the all-ones address.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports whether the group bit (the least significant bit of
// the first octet) is set; broadcast is a multicast address.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// String formats m as aa:bb:cc:dd:ee:ff.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, c := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i], b[3*i+1] = hex[c>>4], hex[c&15]
	}
	return string(b[:])
}

// IPv4Multicast maps an IPv4 multicast group to its MAC address: 01:00:5e
// followed by the low 23 bits of the group (RFC 1112 §6.4).
func IPv4Multicast(group [4]byte) MAC {
	return MAC{0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]}
}

// Parse errors.
var (
	ErrShort      = errors.New("eth: frame shorter than 14 bytes")
	ErrNotEtherII = errors.New("eth: IEEE 802.3 length field, not an EtherType")
)

// Frame is a validated view of an Ethernet II frame (without FCS). It
// aliases the parsed bytes.
type Frame struct{ b []byte }

// Parse checks that b holds an Ethernet II header: at least 14 bytes and an
// EtherType ≥ 0x0600. Any input gives a Frame or an error.
func Parse(b []byte) (Frame, error) {
	if len(b) < HeaderLen {
		return Frame{}, ErrShort
	}
	if binary.BigEndian.Uint16(b[offType:]) < minEtherType {
		return Frame{}, ErrNotEtherII
	}
	return Frame{b: b}, nil
}

// Dst is the destination address.
func (f Frame) Dst() MAC { return MAC(f.b[offDst : offDst+6]) }

// Src is the source address.
func (f Frame) Src() MAC { return MAC(f.b[offSrc : offSrc+6]) }

// Type is the EtherType.
func (f Frame) Type() uint16 { return binary.BigEndian.Uint16(f.b[offType:]) }

// Payload is everything after the header, padding included (RFC 894: a
// frame carries at least 46 payload bytes; the IP layer trims).
func (f Frame) Payload() []byte { return f.b[HeaderLen:] }

// Bytes is the whole frame.
func (f Frame) Bytes() []byte { return f.b }

// PutHeader writes an Ethernet II header into b[:14].
func PutHeader(b []byte, dst, src MAC, typ uint16) {
	_ = b[HeaderLen-1]
	copy(b[offDst:], dst[:])
	copy(b[offSrc:], src[:])
	binary.BigEndian.PutUint16(b[offType:], typ)
}

// AppendHeader appends an Ethernet II header to dst.
func AppendHeader(dst []byte, d, s MAC, typ uint16) []byte {
	dst = append(dst, d[:]...)
	dst = append(dst, s[:]...)
	return binary.BigEndian.AppendUint16(dst, typ)
}
