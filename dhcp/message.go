// Package dhcp is DHCP for IPv4 (RFC 2131, options RFC 2132) as the card
// needs it: a server for the point-to-point link to the host the card is
// plugged into (the host's own DHCP client configures itself, as with a
// USB network gadget), and a client for a LAN. Both are event-driven
// machines with an injected clock and random source, allocate nothing per
// message, and speak UDP payloads: the card's link layer carries them (they
// use broadcast and a source of 0.0.0.0, which the IPv4 host layer rightly
// refuses).
package dhcp

import (
	"encoding/binary"
	"errors"
)

// UDP ports (RFC 2131 §4.1).
const (
	ServerPort = 67
	ClientPort = 68
)

// Message types (option 53, RFC 2132 §9.6).
const (
	Discover = 1
	Offer    = 2
	Request  = 3
	Decline  = 4
	Ack      = 5
	Nak      = 6
	Release  = 7
	Inform   = 8
)

// Options the card reads or writes (RFC 2132).
const (
	OptPad         = 0
	OptSubnetMask  = 1
	OptRouter      = 3
	OptDNS         = 6
	OptHostName    = 12
	OptRequestedIP = 50
	OptLeaseTime   = 51
	OptMessageType = 53
	OptServerID    = 54
	OptParamList   = 55
	OptMessage     = 56
	OptRenewalT1   = 58
	OptRebindingT2 = 59
	OptClientID    = 61
	OptEnd         = 255
)

// Field offsets of the fixed part (RFC 2131 §2, figure 1).
const (
	offOp     = 0
	offHType  = 1
	offHLen   = 2
	offXID    = 4
	offSecs   = 8
	offFlags  = 10
	offCIAddr = 12
	offYIAddr = 16
	offSIAddr = 20
	offGIAddr = 24
	offCHAddr = 28  // 16 bytes
	offSName  = 44  // 64 bytes
	offFile   = 108 // 128 bytes
	offCookie = 236
	// HeaderLen is the fixed part and the magic cookie: options follow.
	HeaderLen = 240
)

// BootRequest and BootReply are the op codes.
const (
	BootRequest = 1
	BootReply   = 2
)

// FlagBroadcast is the B bit of flags (RFC 2131 §2, figure 2).
const FlagBroadcast = 0x8000

// magic is the options cookie 99.130.83.99 (RFC 2131 §3).
var magic = [4]byte{99, 130, 83, 99}

// MaxMessage is the largest message the card builds: the fixed part and
// the options it writes. RFC 2131 §2: a client must accept 576-byte
// datagrams, so replies fit in 548 bytes of UDP payload.
const MaxMessage = 548

// Parse errors.
var (
	ErrShort    = errors.New("dhcp: message shorter than 240 bytes")
	ErrOp       = errors.New("dhcp: op neither BOOTREQUEST nor BOOTREPLY")
	ErrHardware = errors.New("dhcp: hardware type not Ethernet (htype 1, hlen 6)")
	ErrCookie   = errors.New("dhcp: no magic cookie")
	ErrOptions  = errors.New("dhcp: option runs past the message")
	ErrType     = errors.New("dhcp: no valid DHCP message type option")
)

// Message is a validated view of a DHCP message; it aliases the bytes.
type Message struct {
	b    []byte
	typ  uint8
	opts []byte // the options field, up to (not including) the end option
}

// Parse validates b as a DHCP message over Ethernet: the fixed part, the
// cookie, every option's length, and a message type option of one byte
// with a value in 1–8. Any input gives a Message or an error.
func Parse(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return Message{}, ErrShort
	}
	if b[offOp] != BootRequest && b[offOp] != BootReply {
		return Message{}, ErrOp
	}
	if b[offHType] != 1 || b[offHLen] != 6 {
		return Message{}, ErrHardware
	}
	if [4]byte(b[offCookie:HeaderLen]) != magic {
		return Message{}, ErrCookie
	}
	opts := b[HeaderLen:]
	m := Message{b: b}
	i := 0
	for i < len(opts) {
		code := opts[i]
		if code == OptEnd {
			break
		}
		if code == OptPad {
			i++
			continue
		}
		if i+2 > len(opts) || i+2+int(opts[i+1]) > len(opts) {
			return Message{}, ErrOptions
		}
		if code == OptMessageType {
			if opts[i+1] != 1 || opts[i+2] < Discover || opts[i+2] > Inform {
				return Message{}, ErrType
			}
			m.typ = opts[i+2]
		}
		i += 2 + int(opts[i+1])
	}
	if m.typ == 0 {
		return Message{}, ErrType
	}
	m.opts = opts[:i]
	return m, nil
}

// Op is BootRequest or BootReply.
func (m Message) Op() uint8 { return m.b[offOp] }

// Type is the DHCP message type (option 53).
func (m Message) Type() uint8 { return m.typ }

// XID is the transaction ID.
func (m Message) XID() uint32 { return binary.BigEndian.Uint32(m.b[offXID:]) }

// Flags is the flags field.
func (m Message) Flags() uint16 { return binary.BigEndian.Uint16(m.b[offFlags:]) }

// CIAddr is the client's address (when it has one).
func (m Message) CIAddr() [4]byte { return [4]byte(m.b[offCIAddr:]) }

// YIAddr is "your" address, the one the server gives.
func (m Message) YIAddr() [4]byte { return [4]byte(m.b[offYIAddr:]) }

// GIAddr is the relay agent's address.
func (m Message) GIAddr() [4]byte { return [4]byte(m.b[offGIAddr:]) }

// CHAddr is the client's hardware address.
func (m Message) CHAddr() [6]byte { return [6]byte(m.b[offCHAddr:]) }

// Option returns the value of the first option code (not pad or end).
func (m Message) Option(code uint8) ([]byte, bool) {
	o := m.opts
	for i := 0; i < len(o); {
		if o[i] == OptPad {
			i++
			continue
		}
		n := int(o[i+1])
		if o[i] == code {
			return o[i+2 : i+2+n], true
		}
		i += 2 + n
	}
	return nil, false
}

// Addr returns a 4-byte option as an address.
func (m Message) Addr(code uint8) ([4]byte, bool) {
	v, ok := m.Option(code)
	if !ok || len(v) != 4 {
		return [4]byte{}, false
	}
	return [4]byte(v), true
}

// Seconds returns a 4-byte option as a number (lease, T1, T2).
func (m Message) Seconds(code uint8) (uint32, bool) {
	v, ok := m.Option(code)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// Fixed is the fixed part of a message to build.
type Fixed struct {
	Op                             uint8
	XID                            uint32
	Secs, Flags                    uint16
	CIAddr, YIAddr, SIAddr, GIAddr [4]byte
	CHAddr                         [6]byte
}

// Begin writes the fixed part, the cookie and the message type option
// into b (at least HeaderLen+3 bytes) and returns the length written.
func Begin(b []byte, f *Fixed, typ uint8) int {
	clear(b[:HeaderLen])
	b[offOp], b[offHType], b[offHLen] = f.Op, 1, 6
	binary.BigEndian.PutUint32(b[offXID:], f.XID)
	binary.BigEndian.PutUint16(b[offSecs:], f.Secs)
	binary.BigEndian.PutUint16(b[offFlags:], f.Flags)
	copy(b[offCIAddr:], f.CIAddr[:])
	copy(b[offYIAddr:], f.YIAddr[:])
	copy(b[offSIAddr:], f.SIAddr[:])
	copy(b[offGIAddr:], f.GIAddr[:])
	copy(b[offCHAddr:], f.CHAddr[:])
	copy(b[offCookie:], magic[:])
	b[HeaderLen], b[HeaderLen+1], b[HeaderLen+2] = OptMessageType, 1, typ
	return HeaderLen + 3
}

// PutOption writes option code with value v at b[n:] and returns the new
// length; the caller sized b (MaxMessage holds everything the card sends).
func PutOption(b []byte, n int, code uint8, v []byte) int {
	b[n], b[n+1] = code, byte(len(v))
	return n + 2 + copy(b[n+2:], v)
}

// PutAddr writes a 4-byte address option.
func PutAddr(b []byte, n int, code uint8, a [4]byte) int { return PutOption(b, n, code, a[:]) }

// PutSeconds writes a 4-byte number option.
func PutSeconds(b []byte, n int, code uint8, s uint32) int {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], s)
	return PutOption(b, n, code, v[:])
}

// End writes the end option and returns the final length.
func End(b []byte, n int) int {
	b[n] = OptEnd
	return n + 1
}
