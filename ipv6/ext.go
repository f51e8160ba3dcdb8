package ipv6

import (
	"encoding/binary"
	"errors"
)

// Extension-header errors (RFC 8200 §4). A Problem says which ICMPv6
// Parameter Problem (RFC 4443 §3.4) answers it, if any.
var (
	ErrExtShort    = errors.New("ipv6: extension header beyond the packet")
	ErrHopByHop    = errors.New("ipv6: hop-by-hop options header not first")
	ErrNextHeader  = errors.New("ipv6: unrecognized next header")
	ErrOption      = errors.New("ipv6: unrecognized option")
	ErrRouting     = errors.New("ipv6: routing header with segments left")
	ErrTooManyExt  = errors.New("ipv6: too many extension headers")
	ErrFragment    = errors.New("ipv6: bad fragment header")
	ErrHeaderChain = errors.New("ipv6: first fragment without the whole header chain")
)

// Parameter Problem codes (RFC 4443 §3.4, RFC 7112 §5).
const (
	CodeErroneousField   uint8 = 0
	CodeUnrecognizedNext uint8 = 1
	CodeUnrecognizedOpt  uint8 = 2
	CodeIncompleteChain  uint8 = 3
)

// maxExt bounds the extension headers walked in one packet: no legitimate
// packet carries more (RFC 8200 §4.1 recommends each at most once, the
// destination options header at most twice).
const maxExt = 6

// Problem describes why a walk failed: the error, and the Parameter Problem
// the node sends (Send) with Code and Pointer — the offset, from the start
// of the packet, of the offending octet.
type Problem struct {
	Err     error
	Send    bool
	Code    uint8
	Pointer uint32
}

// Chain is the result of a walk over the extension headers.
type Chain struct {
	Proto uint8 // the upper-layer protocol (ProtoNone: nothing follows)
	Off   int   // offset of the upper-layer header, from the start of the packet

	// A non-atomic fragment stops the walk at its fragment header (RFC 8200
	// §4.5): Proto and Off are then those of the fragmentable part.
	Frag    bool
	FragOff int    // offset of this fragment's data in the original payload, bytes
	MF      bool   // more fragments follow
	FragID  uint32 // identification
}

// Walk follows the extension-header chain of a parsed packet (RFC 8200 §4):
// hop-by-hop options only first, destination options and routing headers
// processed, a fragment header stopping the walk. dstMulticast selects the
// option action "11" of RFC 8200 §4.2 (no ICMP to multicast).
func Walk(h Header) (Chain, Problem) {
	return walk(h.b, h.NextHeader(), HeaderLen, 6, h.Dst().IsMulticast())
}

// WalkFrom continues a walk at next header nh at offset off of pkt — the
// reassembled datagram's fragmentable part. Pointers are offsets into pkt.
func WalkFrom(pkt []byte, nh uint8, off int, dstMulticast bool) (Chain, Problem) {
	return walk(pkt, nh, off, -1, dstMulticast)
}

// walk runs the chain from nh at pkt[off:]; nhAt is the offset of the field
// that holds nh (for the Parameter Problem pointer; -1 when unknown).
func walk(pkt []byte, nh uint8, off, nhAt int, mc bool) (Chain, Problem) {
	for i := 0; ; i++ {
		switch nh {
		case ProtoTCP, ProtoUDP, ProtoICMP, ProtoNone:
			return Chain{Proto: nh, Off: off}, Problem{}
		case ProtoHopByHop, ProtoDstOpts, ProtoRouting, ProtoFragment:
		default:
			// RFC 8200 §4: unrecognized Next Header, code 1, pointing at it.
			return Chain{}, problem(ErrNextHeader, nhAt >= 0, CodeUnrecognizedNext, nhAt)
		}
		if i >= maxExt {
			return Chain{}, Problem{Err: ErrTooManyExt}
		}
		if nh == ProtoHopByHop && off != HeaderLen {
			// RFC 8200 §4.3: only immediately after the IPv6 header.
			return Chain{}, problem(ErrHopByHop, nhAt >= 0, CodeUnrecognizedNext, nhAt)
		}
		if len(pkt)-off < 8 {
			return Chain{}, Problem{Err: ErrExtShort}
		}
		e := pkt[off:]
		n := 8
		if nh != ProtoFragment {
			n = (int(e[1]) + 1) * 8
		}
		if n > len(e) {
			return Chain{}, Problem{Err: ErrExtShort}
		}
		e = e[:n]
		switch nh {
		case ProtoHopByHop, ProtoDstOpts:
			if p := options(e[2:], off+2, mc); p.Err != nil {
				return Chain{}, p
			}
		case ProtoRouting:
			// RFC 8200 §4.4: with Segments Left 0 the header is ignored;
			// otherwise we recognise no routing type (type 0 is
			// deprecated, RFC 5095) and do not forward: code 0 at the
			// routing type.
			if e[3] != 0 {
				return Chain{}, problem(ErrRouting, true, CodeErroneousField, off+2)
			}
		case ProtoFragment:
			fo := binary.BigEndian.Uint16(e[2:4])
			c := Chain{Proto: e[0], Off: off + 8, FragOff: int(fo &^ 7), MF: fo&1 != 0, FragID: binary.BigEndian.Uint32(e[4:8])}
			if c.FragOff == 0 && !c.MF {
				// An atomic fragment (RFC 6946 §4): processed in
				// isolation, as if unfragmented.
				nh, nhAt, off = e[0], off, off+8
				continue
			}
			c.Frag = true
			return c, Problem{}
		}
		nh, nhAt, off = e[0], off, off+n
	}
}

// upperLayer follows the chain of pkt (a packet with a valid fixed header)
// by the headers' lengths alone, options unexamined, to find the upper
// layer: sendError must know whether it answers an ICMPv6 error even when
// an option of the packet is the problem. ProtoNone when it cannot tell.
func upperLayer(pkt []byte) (uint8, int) {
	nh, off := pkt[6], HeaderLen
	for i := 0; i <= maxExt; i++ {
		switch nh {
		case ProtoHopByHop, ProtoDstOpts, ProtoRouting, ProtoFragment:
		default:
			return nh, off
		}
		if len(pkt)-off < 8 {
			break
		}
		if nh == ProtoFragment {
			if binary.BigEndian.Uint16(pkt[off+2:])&^7 != 0 {
				break // not the first fragment: no upper-layer header here
			}
			nh, off = pkt[off], off+8
			continue
		}
		nh, off = pkt[off], off+(int(pkt[off+1])+1)*8
	}
	return ProtoNone, len(pkt)
}

func problem(err error, send bool, code uint8, ptr int) Problem {
	return Problem{Err: err, Send: send, Code: code, Pointer: uint32(ptr)}
}

// options processes the TLVs of a hop-by-hop or destination options header
// (RFC 8200 §4.2); base is the offset of opts in the packet.
func options(opts []byte, base int, mc bool) Problem {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if len(opts)-i < 2 || 2+int(opts[i+1]) > len(opts)-i {
			return Problem{Err: ErrExtShort}
		}
		switch {
		case t == 1: // PadN
		case t == 5: // Router Alert (RFC 2711): nothing to do for a host
		default:
			switch t >> 6 {
			case 0: // skip over this option
			case 1: // discard the packet
				return Problem{Err: ErrOption}
			case 2: // discard, Parameter Problem code 2 even to multicast
				return problem(ErrOption, true, CodeUnrecognizedOpt, base+i)
			case 3: // discard, Parameter Problem code 2 unless multicast
				return problem(ErrOption, !mc, CodeUnrecognizedOpt, base+i)
			}
		}
		i += 2 + int(opts[i+1])
	}
	return Problem{}
}
