package ipv6

import (
	"encoding/binary"
	"errors"
)

// Next-header values (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoHopByHop uint8 = 0
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoICMP     uint8 = 58
	ProtoNone     uint8 = 59
	ProtoDstOpts  uint8 = 60
)

// HeaderLen is the length of the fixed IPv6 header (RFC 8200 §3).
const HeaderLen = 40

// MinMTU is the minimum link MTU of IPv6 (RFC 8200 §5).
const MinMTU = 1280

// Parse errors.
var (
	ErrShort   = errors.New("ipv6: packet shorter than a header")
	ErrVersion = errors.New("ipv6: version is not 6")
	ErrLength  = errors.New("ipv6: payload length beyond the packet")
)

// Header is a validated view of an IPv6 packet: the fixed header and the
// bytes after it up to the payload length. It aliases the parsed bytes.
type Header struct{ b []byte }

// Parse validates the fixed header once: at least 40 bytes, version 6,
// payload length ≤ the bytes received (link padding after it is ignored).
// A payload length of zero with a Jumbo Payload option (RFC 2675) is not
// supported: such a packet has no payload here and its hop-by-hop header
// fails the extension-header walk.
func Parse(pkt []byte) (Header, error) {
	if len(pkt) < HeaderLen {
		return Header{}, ErrShort
	}
	if pkt[0]>>4 != 6 {
		return Header{}, ErrVersion
	}
	pl := int(binary.BigEndian.Uint16(pkt[4:6]))
	if HeaderLen+pl > len(pkt) {
		return Header{}, ErrLength
	}
	return Header{b: pkt[:HeaderLen+pl]}, nil
}

// Bytes returns the packet up to the end of its payload.
func (h Header) Bytes() []byte { return h.b }

// TrafficClass returns the traffic class (DSCP/ECN).
func (h Header) TrafficClass() uint8 { return h.b[0]<<4 | h.b[1]>>4 }

// FlowLabel returns the 20-bit flow label.
func (h Header) FlowLabel() uint32 { return binary.BigEndian.Uint32(h.b[0:4]) & 0xfffff }

// PayloadLen returns the payload length field.
func (h Header) PayloadLen() int { return len(h.b) - HeaderLen }

// NextHeader returns the type of the header after the fixed one.
func (h Header) NextHeader() uint8 { return h.b[6] }

// HopLimit returns the hop limit.
func (h Header) HopLimit() uint8 { return h.b[7] }

// Src returns the source address.
func (h Header) Src() Addr { return Addr(h.b[8:24]) }

// Dst returns the destination address.
func (h Header) Dst() Addr { return Addr(h.b[24:40]) }

// Payload returns the bytes after the fixed header (extension headers
// included).
func (h Header) Payload() []byte { return h.b[HeaderLen:] }

// Fields are the values PutHeader writes.
type Fields struct {
	TrafficClass uint8
	FlowLabel    uint32
	PayloadLen   int
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     Addr
}

// PutHeader writes a 40-byte IPv6 header into b[:40]. It panics if
// len(b) < 40, like a slice index would.
func PutHeader(b []byte, f *Fields) {
	_ = b[HeaderLen-1]
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:6], uint16(f.PayloadLen))
	b[6] = f.NextHeader
	b[7] = f.HopLimit
	copy(b[8:24], f.Src[:])
	copy(b[24:40], f.Dst[:])
}
