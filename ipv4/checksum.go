package ipv4

import (
	"encoding/binary"
	"math/bits"
)

// Sum adds the bytes of b, taken as big-endian 16-bit words, to the running
// Internet checksum accumulator initial (RFC 1071) and returns the new
// accumulator. The accumulator is a partial one's-complement sum: it is not
// folded or complemented, so sums over several pieces can be chained:
//
//	s := PseudoHeaderSum(src, dst, ProtoTCP, len(seg))
//	s = Sum(hdr, s)
//	s = Sum(payload, s)
//	csum := Fold(s) ^ 0xffff // or Checksum(payload, Sum(hdr, s))
//
// Every piece except the last must have an even length (an odd trailing
// byte is padded with a zero byte, as RFC 1071 pads the whole message).
func Sum(b []byte, initial uint32) uint32 {
	acc := uint64(initial)
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), 0)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		// End-around carry (2^64 ≡ 1 mod 0xffff); adding the carry twice
		// can not overflow again.
		acc, c = bits.Add64(acc, 0, c)
		acc += c
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), 0)
		acc += c
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += c
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += c
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += c
	}
	// Fold 64 → 32 bits with end-around carry (2^32 ≡ 1 mod 0xffff).
	s, c32 := bits.Add32(uint32(acc>>32), uint32(acc), 0)
	return s + c32
}

// Fold reduces a Sum accumulator to its 16-bit one's-complement sum (not
// complemented).
func Fold(sum uint32) uint16 {
	sum = (sum >> 16) + (sum & 0xffff)
	sum = (sum >> 16) + (sum & 0xffff)
	return uint16(sum)
}

// Checksum returns the Internet checksum (RFC 1071) of b continued from the
// accumulator initial (0, or a PseudoHeaderSum, or an earlier Sum): the
// complement of the folded sum, ready to be stored big-endian in a header.
// Over a received header or segment that includes its own checksum field,
// Checksum returns 0 when the checksum is correct.
func Checksum(b []byte, initial uint32) uint16 {
	return ^Fold(Sum(b, initial))
}

// PseudoHeaderSum returns the Sum accumulator of the TCP/UDP pseudo-header
// (RFC 9293 §3.1, RFC 768): source and destination addresses, the protocol
// number and the transport length (header plus payload). Continue it with
// Sum or Checksum over the transport header and payload.
func PseudoHeaderSum(src, dst Addr, proto uint8, length int) uint32 {
	s := uint32(src[0])<<8 | uint32(src[1])
	s += uint32(src[2])<<8 | uint32(src[3])
	s += uint32(dst[0])<<8 | uint32(dst[1])
	s += uint32(dst[2])<<8 | uint32(dst[3])
	s += uint32(proto)
	s += uint32(length) & 0xffff
	s += uint32(length) >> 16 & 0xffff
	return s
}
