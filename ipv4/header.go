package ipv4

import (
	"encoding/binary"
	"errors"
)

// Protocol numbers carried in the IPv4 header.
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// HeaderLen is the length of an IPv4 header without options, the only kind
// this package emits.
const HeaderLen = 20

// Parse errors. Each has its own drop counter in Stats.
var (
	ErrShort     = errors.New("ipv4: packet shorter than a header")
	ErrVersion   = errors.New("ipv4: version is not 4")
	ErrHeaderLen = errors.New("ipv4: bad header length")
	ErrLength    = errors.New("ipv4: bad total length")
	ErrChecksum  = errors.New("ipv4: bad header checksum")
)

// Header is a validated view of an IPv4 packet: the header, its options and
// the payload up to the total length. Obtain it from Parse; the accessors
// then read fields without further checks. It aliases the parsed bytes.
type Header struct {
	b  []byte // the packet, trimmed to the total length
	hl int    // header length in bytes (IHL*4)
}

// Parse validates an IPv4 header once: at least 20 bytes, version 4, IHL ≥ 5,
// header length ≤ total length ≤ len(pkt), correct header checksum. Bytes
// after the total length (link padding) are ignored; options are skipped
// without being interpreted.
func Parse(pkt []byte) (Header, error) {
	if len(pkt) < HeaderLen {
		return Header{}, ErrShort
	}
	if pkt[0]>>4 != 4 {
		return Header{}, ErrVersion
	}
	hl := int(pkt[0]&0x0f) * 4
	if hl < HeaderLen || hl > len(pkt) {
		return Header{}, ErrHeaderLen
	}
	tl := int(binary.BigEndian.Uint16(pkt[2:4]))
	if tl < hl || tl > len(pkt) {
		return Header{}, ErrLength
	}
	if Checksum(pkt[:hl], 0) != 0 {
		return Header{}, ErrChecksum
	}
	return Header{b: pkt[:tl], hl: hl}, nil
}

// Bytes returns the whole packet (header and payload) up to the total length.
func (h Header) Bytes() []byte { return h.b }

// HeaderLen returns the header length in bytes, options included.
func (h Header) HeaderLen() int { return h.hl }

// Options returns the raw option bytes (empty without options).
func (h Header) Options() []byte { return h.b[HeaderLen:h.hl] }

// TOS returns the type-of-service (DSCP/ECN) byte.
func (h Header) TOS() uint8 { return h.b[1] }

// TotalLen returns the total length field.
func (h Header) TotalLen() int { return len(h.b) }

// ID returns the identification field.
func (h Header) ID() uint16 { return binary.BigEndian.Uint16(h.b[4:6]) }

// DF reports the don't-fragment flag.
func (h Header) DF() bool { return h.b[6]&0x40 != 0 }

// MF reports the more-fragments flag.
func (h Header) MF() bool { return h.b[6]&0x20 != 0 }

// FragOffset returns the fragment offset in bytes.
func (h Header) FragOffset() int { return int(binary.BigEndian.Uint16(h.b[6:8])&0x1fff) * 8 }

// IsFragment reports whether the packet is a fragment (MF set or a non-zero
// offset).
func (h Header) IsFragment() bool { return binary.BigEndian.Uint16(h.b[6:8])&0x3fff != 0 }

// TTL returns the time-to-live.
func (h Header) TTL() uint8 { return h.b[8] }

// Protocol returns the protocol number of the payload.
func (h Header) Protocol() uint8 { return h.b[9] }

// Checksum returns the header checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h.b[10:12]) }

// Src returns the source address.
func (h Header) Src() Addr { return Addr(h.b[12:16]) }

// Dst returns the destination address.
func (h Header) Dst() Addr { return Addr(h.b[16:20]) }

// Payload returns the bytes after the header up to the total length.
func (h Header) Payload() []byte { return h.b[h.hl:] }

// Fields are the values PutHeader writes into a 20-byte IPv4 header.
type Fields struct {
	TOS      uint8
	TotalLen int // header (20) plus payload
	ID       uint16
	DF, MF   bool
	FragOff  int // in bytes, a multiple of 8
	TTL      uint8
	Protocol uint8
	Src, Dst Addr
}

// PutHeader writes a 20-byte IPv4 header (no options) with its checksum into
// b[:20]. It panics if len(b) < 20, like a slice index would.
func PutHeader(b []byte, f *Fields) {
	_ = b[HeaderLen-1]
	b[0] = 0x45
	b[1] = f.TOS
	binary.BigEndian.PutUint16(b[2:4], uint16(f.TotalLen))
	binary.BigEndian.PutUint16(b[4:6], f.ID)
	fo := uint16(f.FragOff/8) & 0x1fff
	if f.DF {
		fo |= 0x4000
	}
	if f.MF {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:8], fo)
	b[8] = f.TTL
	b[9] = f.Protocol
	b[10], b[11] = 0, 0
	copy(b[12:16], f.Src[:])
	copy(b[16:20], f.Dst[:])
	binary.BigEndian.PutUint16(b[10:12], Checksum(b[:HeaderLen], 0))
}

// AppendHeader appends a 20-byte IPv4 header (see PutHeader) to dst.
func AppendHeader(dst []byte, f *Fields) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	PutHeader(dst[n:], f)
	return dst
}

// IsUnicast reports whether a can be the address of a single host: not
// 0.0.0.0/8, loopback, multicast, class E or the limited broadcast.
func (a Addr) IsUnicast() bool {
	return a[0] != 0 && a[0] != 127 && a[0] < 224
}
