package tcp

import (
	"encoding/binary"
	"errors"

	"netcard/ipv4"
	"netcard/ipv6"
)

// TCP header flags (RFC 9293 §3.1).
const (
	FlagFIN = 1 << 0
	FlagSYN = 1 << 1
	FlagRST = 1 << 2
	FlagPSH = 1 << 3
	FlagACK = 1 << 4
	FlagURG = 1 << 5
	FlagECE = 1 << 6
	FlagCWR = 1 << 7
)

// HeaderLen is the length of a TCP header without options.
const HeaderLen = 20

// Header is a parsed TCP header. The options this stack uses (MSS) are
// decoded; the others are skipped.
type Header struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOff          int // header length in bytes, options included (20..60)
	Flags            uint8
	Window           uint16
	Checksum         uint16
	Urgent           uint16
	MSS              uint16 // value of the MSS option; 0 when absent
}

// Errors returned by ParseHeader.
var (
	ErrShort     = errors.New("tcp: segment shorter than its header")
	ErrBadOffset = errors.New("tcp: bad data offset")
	ErrBadOption = errors.New("tcp: malformed option")
)

// ParseHeader decodes the TCP header at the start of seg (it does not verify
// the checksum). It is total: any input gives a Header or an error.
func ParseHeader(seg []byte) (Header, error) {
	var h Header
	if len(seg) < HeaderLen {
		return h, ErrShort
	}
	h.SrcPort = binary.BigEndian.Uint16(seg[0:])
	h.DstPort = binary.BigEndian.Uint16(seg[2:])
	h.Seq = binary.BigEndian.Uint32(seg[4:])
	h.Ack = binary.BigEndian.Uint32(seg[8:])
	h.DataOff = int(seg[12]>>4) * 4
	h.Flags = seg[13]
	h.Window = binary.BigEndian.Uint16(seg[14:])
	h.Checksum = binary.BigEndian.Uint16(seg[16:])
	h.Urgent = binary.BigEndian.Uint16(seg[18:])
	if h.DataOff < HeaderLen {
		return h, ErrBadOffset
	}
	if h.DataOff > len(seg) {
		return h, ErrShort
	}
	opt := seg[HeaderLen:h.DataOff]
	for len(opt) > 0 {
		kind := opt[0]
		if kind == 0 { // end of option list
			break
		}
		if kind == 1 { // no-operation
			opt = opt[1:]
			continue
		}
		if len(opt) < 2 || int(opt[1]) < 2 || int(opt[1]) > len(opt) {
			return h, ErrBadOption
		}
		l := int(opt[1])
		if kind == 2 {
			if l != 4 {
				return h, ErrBadOption
			}
			h.MSS = binary.BigEndian.Uint16(opt[2:])
		}
		opt = opt[l:]
	}
	return h, nil
}

// putHeader writes a TCP header (checksum zero) into b and returns its
// length. An MSS option is added when mss > 0. b must hold 24 bytes.
func putHeader(b []byte, sport, dport uint16, seq, ack uint32, flags uint8, wnd uint16, mss int) int {
	hl := HeaderLen
	if mss > 0 {
		hl += 4
	}
	_ = b[hl-1]
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = byte(hl/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], wnd)
	b[16], b[17], b[18], b[19] = 0, 0, 0, 0
	if mss > 0 {
		if mss > 0xffff {
			mss = 0xffff
		}
		b[20], b[21] = 2, 4
		binary.BigEndian.PutUint16(b[22:], uint16(mss))
	}
	return hl
}

// Checksum returns the TCP checksum of seg with the IPv4 pseudo-header
// (RFC 9293 §3.1). Over a segment whose checksum field is filled in, a
// valid segment gives 0.
func Checksum(src, dst ipv4.Addr, seg []byte) uint16 {
	return ipv4.Checksum(seg, ipv4.PseudoHeaderSum(src, dst, 6, len(seg)))
}

// Checksum6 is Checksum for either family: the IPv6 pseudo-header (RFC 8200
// §8.1) for IPv6 addresses, the IPv4 one for IPv4-mapped addresses.
func Checksum6(src, dst ipv6.Addr, seg []byte) uint16 {
	return ipv4.Checksum(seg, ipv6.PseudoHeaderSum(src, dst, 6, len(seg)))
}

// setChecksum fills in the checksum field of the segment seg.
func setChecksum(src, dst ipv6.Addr, seg []byte) {
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:], Checksum6(src, dst, seg))
}

// Sequence-number comparisons modulo 2^32.
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }
func seqGE(a, b uint32) bool { return int32(a-b) >= 0 }
