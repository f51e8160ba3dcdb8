package eth

import (
	"encoding/binary"
	"errors"
)

// ARPLen is the length of an ARP packet for IPv4 over Ethernet (RFC 826):
// hardware type, protocol type, two lengths, opcode, then sender and target
// hardware and protocol addresses.
const ARPLen = 28

// ARP opcodes (RFC 826).
const (
	ARPRequest = 1
	ARPReply   = 2
)

// Field offsets of an ARP packet (Ethernet hardware, IPv4 protocol).
const (
	arpHType = 0  // ar$hrd: 1 = Ethernet
	arpPType = 2  // ar$pro: 0x0800
	arpHLen  = 4  // ar$hln: 6
	arpPLen  = 5  // ar$pln: 4
	arpOp    = 6  // ar$op
	arpSHA   = 8  // ar$sha
	arpSPA   = 14 // ar$spa
	arpTHA   = 18 // ar$tha
	arpTPA   = 24 // ar$tpa
)

// ARP parse errors.
var (
	ErrARPShort  = errors.New("eth: ARP packet shorter than 28 bytes")
	ErrARPFormat = errors.New("eth: ARP not Ethernet/IPv4 (hrd 1, pro 0x0800, hln 6, pln 4)")
	ErrARPOp     = errors.New("eth: ARP opcode neither request nor reply")
)

// ARP is a validated view of an Ethernet/IPv4 ARP packet.
type ARP struct{ b []byte }

// ParseARP validates b as an Ethernet/IPv4 ARP request or reply; bytes after
// the 28 (frame padding) are ignored. Any input gives an ARP or an error.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return ARP{}, ErrARPShort
	}
	// RFC 826: "?Do I have the hardware type in ar$hrd? ... ?Do I speak the
	// protocol in ar$pro?" — otherwise the packet is discarded.
	if binary.BigEndian.Uint16(b[arpHType:]) != 1 || binary.BigEndian.Uint16(b[arpPType:]) != TypeIPv4 ||
		b[arpHLen] != 6 || b[arpPLen] != 4 {
		return ARP{}, ErrARPFormat
	}
	if op := binary.BigEndian.Uint16(b[arpOp:]); op != ARPRequest && op != ARPReply {
		return ARP{}, ErrARPOp
	}
	return ARP{b: b[:ARPLen]}, nil
}

// Op is the opcode (ARPRequest or ARPReply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a.b[arpOp:]) }

// SenderMAC is ar$sha.
func (a ARP) SenderMAC() MAC { return MAC(a.b[arpSHA : arpSHA+6]) }

// SenderIP is ar$spa.
func (a ARP) SenderIP() [4]byte { return [4]byte(a.b[arpSPA : arpSPA+4]) }

// TargetMAC is ar$tha.
func (a ARP) TargetMAC() MAC { return MAC(a.b[arpTHA : arpTHA+6]) }

// TargetIP is ar$tpa.
func (a ARP) TargetIP() [4]byte { return [4]byte(a.b[arpTPA : arpTPA+4]) }

// PutARP writes an ARP packet into b[:28].
func PutARP(b []byte, op uint16, sha MAC, spa [4]byte, tha MAC, tpa [4]byte) {
	_ = b[ARPLen-1]
	binary.BigEndian.PutUint16(b[arpHType:], 1)
	binary.BigEndian.PutUint16(b[arpPType:], TypeIPv4)
	b[arpHLen], b[arpPLen] = 6, 4
	binary.BigEndian.PutUint16(b[arpOp:], op)
	copy(b[arpSHA:], sha[:])
	copy(b[arpSPA:], spa[:])
	copy(b[arpTHA:], tha[:])
	copy(b[arpTPA:], tpa[:])
}
