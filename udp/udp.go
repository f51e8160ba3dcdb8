// Package udp is the card's UDP (RFC 768): a header view and appender with
// the pseudo-header checksum, and a Stack of a fixed number of sockets
// implementing ipv4.Transport, with bounded receive and send queues that
// exist only while sockets are bound (see Config).
package udp

import (
	"encoding/binary"
	"errors"

	"netcard/ipv4"
	"netcard/ipv6"
)

// HeaderLen is the length of the UDP header.
const HeaderLen = 8

// Parse errors.
var (
	ErrShort    = errors.New("udp: datagram shorter than a header")
	ErrLength   = errors.New("udp: bad length field")
	ErrChecksum = errors.New("udp: bad checksum")
)

// Header is a validated view of a UDP datagram (header and payload, trimmed
// to the length field). It aliases the parsed bytes.
type Header struct{ b []byte }

// Parse validates the header: at least 8 bytes and 8 ≤ length ≤ len(b).
// Bytes beyond the length field are ignored. The checksum is checked
// separately by VerifyChecksum, which needs the addresses.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, ErrShort
	}
	l := int(binary.BigEndian.Uint16(b[4:6]))
	if l < HeaderLen || l > len(b) {
		return Header{}, ErrLength
	}
	return Header{b: b[:l]}, nil
}

// SrcPort returns the source port.
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h.b[0:2]) }

// DstPort returns the destination port.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h.b[2:4]) }

// Length returns the length field (header plus payload).
func (h Header) Length() int { return len(h.b) }

// Checksum returns the checksum field (0: none was computed).
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h.b[6:8]) }

// Payload returns the payload.
func (h Header) Payload() []byte { return h.b[HeaderLen:] }

// Bytes returns header and payload.
func (h Header) Bytes() []byte { return h.b }

// VerifyChecksum checks the checksum over the pseudo-header (src, dst), the
// header and the payload. A zero checksum field means the sender computed
// none (RFC 768) and is accepted.
func (h Header) VerifyChecksum(src, dst ipv4.Addr) bool {
	if h.Checksum() == 0 {
		return true
	}
	return ipv4.Checksum(h.b, ipv4.PseudoHeaderSum(src, dst, ipv4.ProtoUDP, len(h.b))) == 0
}

// VerifyChecksum6 is VerifyChecksum for either family. Over IPv6 a zero
// checksum is not allowed (RFC 8200 §8.1: a receiver MUST discard it).
func (h Header) VerifyChecksum6(src, dst ipv6.Addr) bool {
	if src.Is4() && dst.Is4() {
		return h.VerifyChecksum(src.As4(), dst.As4())
	}
	return h.Checksum() != 0 && ipv4.Checksum(h.b, ipv6.PseudoHeaderSum(src, dst, ipv4.ProtoUDP, len(h.b))) == 0
}

// PutHeader6 is PutHeader for either family.
func PutHeader6(seg []byte, src, dst ipv6.Addr, srcPort, dstPort uint16) {
	_ = seg[HeaderLen-1]
	binary.BigEndian.PutUint16(seg[0:2], srcPort)
	binary.BigEndian.PutUint16(seg[2:4], dstPort)
	binary.BigEndian.PutUint16(seg[4:6], uint16(len(seg)))
	seg[6], seg[7] = 0, 0
	c := ipv4.Checksum(seg, ipv6.PseudoHeaderSum(src, dst, ipv4.ProtoUDP, len(seg)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[6:8], c)
}

// PutHeader writes the UDP header with its checksum into seg[:8], where seg
// is the whole datagram (header space followed by the payload already in
// place). The checksum is always computed; a computed 0 is sent as 0xffff.
func PutHeader(seg []byte, src, dst ipv4.Addr, srcPort, dstPort uint16) {
	_ = seg[HeaderLen-1]
	binary.BigEndian.PutUint16(seg[0:2], srcPort)
	binary.BigEndian.PutUint16(seg[2:4], dstPort)
	binary.BigEndian.PutUint16(seg[4:6], uint16(len(seg)))
	seg[6], seg[7] = 0, 0
	c := ipv4.Checksum(seg, ipv4.PseudoHeaderSum(src, dst, ipv4.ProtoUDP, len(seg)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[6:8], c)
}

// Append appends a whole datagram (header with checksum, then payload) to
// dst.
func Append(dst []byte, src, dstAddr ipv4.Addr, srcPort, dstPort uint16, payload []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	dst = append(dst, payload...)
	PutHeader(dst[n:], src, dstAddr, srcPort, dstPort)
	return dst
}
