// Package dns is the card's DNS stub resolver (RFC 1035): a total,
// allocation-free message parser (compression pointers followed with loop
// and bounds protection), a query builder for A records, and an
// event-driven Resolver over the udp Stack.
package dns

import (
	"encoding/binary"
	"errors"
	"strings"
)

// Record types and classes used by the resolver.
const (
	TypeA     uint16 = 1
	TypeNS    uint16 = 2
	TypeCNAME uint16 = 5
	TypeSOA   uint16 = 6
	TypeAAAA  uint16 = 28
	ClassINET uint16 = 1
)

// Response codes (RFC 1035 §4.1.1).
const (
	RCodeSuccess        uint8 = 0
	RCodeFormatError    uint8 = 1
	RCodeServerFailure  uint8 = 2
	RCodeNameError      uint8 = 3
	RCodeNotImplemented uint8 = 4
	RCodeRefused        uint8 = 5
)

// HeaderLen is the length of the DNS message header.
const HeaderLen = 12

// MaxNameLen is the longest name in wire form, final zero included.
const MaxNameLen = 255

// maxPointers bounds the compression pointers followed in one name (they
// must also point strictly backwards, so loops are impossible anyway).
const maxPointers = 32

// Parse errors.
var (
	ErrShort       = errors.New("dns: message truncated")
	ErrLabelType   = errors.New("dns: reserved label type")
	ErrPointer     = errors.New("dns: bad compression pointer")
	ErrNameTooLong = errors.New("dns: name longer than 255 bytes")
	ErrBadName     = errors.New("dns: bad name")
	ErrSectionDone = errors.New("dns: no more records in this section")
)

// Header is the fixed 12-byte message header.
type Header struct {
	ID                                 uint16
	Flags                              uint16
	QDCount, ANCount, NSCount, ARCount uint16
}

// Response reports the QR bit.
func (h Header) Response() bool { return h.Flags&0x8000 != 0 }

// Opcode returns the opcode (0: standard query).
func (h Header) Opcode() uint8 { return uint8(h.Flags>>11) & 0xf }

// Authoritative reports the AA bit.
func (h Header) Authoritative() bool { return h.Flags&0x0400 != 0 }

// Truncated reports the TC bit.
func (h Header) Truncated() bool { return h.Flags&0x0200 != 0 }

// RecursionDesired reports the RD bit.
func (h Header) RecursionDesired() bool { return h.Flags&0x0100 != 0 }

// RecursionAvailable reports the RA bit.
func (h Header) RecursionAvailable() bool { return h.Flags&0x0080 != 0 }

// RCode returns the response code.
func (h Header) RCode() uint8 { return uint8(h.Flags & 0xf) }

// Name is a domain name in uncompressed wire form (length-prefixed labels
// and the final zero), held in a fixed array: no allocation.
type Name struct {
	buf [MaxNameLen]byte
	n   uint8 // bytes used, ≤ MaxNameLen: the Name is exactly 256 bytes
}

// Wire returns the name in uncompressed wire form.
func (n *Name) Wire() []byte { return n.buf[:n.n] }

// Set encodes a dotted name ("example.com" or "example.com."; "." is the
// root). Labels are 1–63 bytes; the name at most 255 bytes in wire form.
func (n *Name) Set(s string) error {
	n.n = 0
	if s == "." {
		n.buf[0] = 0
		n.n = 1
		return nil
	}
	if s == "" {
		return ErrBadName
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if len(s)+2 > MaxNameLen {
		return ErrNameTooLong
	}
	w := 0
	for len(s) > 0 {
		i := strings.IndexByte(s, '.')
		label := s
		if i >= 0 {
			label, s = s[:i], s[i+1:]
			if s == "" { // "a..": trailing empty label after the dot we kept
				return ErrBadName
			}
		} else {
			s = ""
		}
		if len(label) == 0 || len(label) > 63 {
			return ErrBadName
		}
		n.buf[w] = byte(len(label))
		copy(n.buf[w+1:], label)
		w += 1 + len(label)
	}
	n.buf[w] = 0
	n.n = uint8(w + 1)
	return nil
}

// String returns the dotted form with a final dot; bytes other than
// letters, digits, '-' and '_' are escaped as \DDD.
func (n *Name) String() string {
	if n.n <= 1 {
		return "."
	}
	var b strings.Builder
	for i := 0; i < int(n.n) && n.buf[i] != 0; {
		l := int(n.buf[i])
		for _, c := range n.buf[i+1 : i+1+l] {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
				b.WriteByte(c)
			default:
				b.WriteByte('\\')
				b.WriteByte('0' + c/100)
				b.WriteByte('0' + c/10%10)
				b.WriteByte('0' + c%10)
			}
		}
		b.WriteByte('.')
		i += 1 + l
	}
	return b.String()
}

// Equal compares two names ignoring ASCII case (RFC 4343).
func (n *Name) Equal(o *Name) bool {
	if n.n != o.n {
		return false
	}
	for i := 0; i < int(n.n); i++ {
		a, b := n.buf[i], o.buf[i]
		if a != b && lower(a) != lower(b) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// readName decodes the possibly compressed name at msg[off:] into n and
// returns the offset after it in the original position. Pointers must
// point strictly before the label sequence that contains them.
func readName(msg []byte, off int, n *Name) (int, error) {
	w, next, pos, lowest, hops := 0, -1, off, off, 0
	for {
		if pos >= len(msg) {
			return 0, ErrShort
		}
		c := msg[pos]
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				n.buf[w] = 0
				n.n = uint8(w + 1)
				if next < 0 {
					next = pos + 1
				}
				return next, nil
			}
			l := int(c)
			if pos+1+l > len(msg) {
				return 0, ErrShort
			}
			if w+1+l+1 > MaxNameLen {
				return 0, ErrNameTooLong
			}
			n.buf[w] = c
			copy(n.buf[w+1:], msg[pos+1:pos+1+l])
			w += 1 + l
			pos += 1 + l
		case 0xc0:
			if pos+2 > len(msg) {
				return 0, ErrShort
			}
			ptr := int(binary.BigEndian.Uint16(msg[pos:]) & 0x3fff)
			if next < 0 {
				next = pos + 2
			}
			hops++
			if ptr >= lowest || hops > maxPointers {
				return 0, ErrPointer
			}
			lowest, pos = ptr, ptr
		default:
			return 0, ErrLabelType
		}
	}
}

// Question is an entry of the question section.
type Question struct {
	Name  Name
	Type  uint16
	Class uint16
}

// Resource is a resource record. Data aliases the message; names inside it
// (CNAME, NS) may be compressed: decode them with Parser.NameAt(DataOff).
type Resource struct {
	Name    Name
	Type    uint16
	Class   uint16
	TTL     uint32
	Data    []byte
	DataOff int // offset of Data in the message
}

// Parser reads a message section by section without allocating. The
// number of records it returns is bounded by the counts in the header and
// by the message length (every record consumes bytes).
type Parser struct {
	msg     []byte
	off     int
	h       Header
	section int // 0 question, 1 answer, 2 authority, 3 additional, 4 done
	left    int
}

// Sections, as returned by Parser.Resource.
const (
	SectionAnswer     = 1
	SectionAuthority  = 2
	SectionAdditional = 3
)

// Start parses the header of msg and positions the parser at the first
// question. msg must stay unchanged while the parser is used.
func (p *Parser) Start(msg []byte) (Header, error) {
	*p = Parser{msg: msg}
	if len(msg) < HeaderLen {
		p.section = 4
		return Header{}, ErrShort
	}
	h := Header{
		ID:      binary.BigEndian.Uint16(msg[0:]),
		Flags:   binary.BigEndian.Uint16(msg[2:]),
		QDCount: binary.BigEndian.Uint16(msg[4:]),
		ANCount: binary.BigEndian.Uint16(msg[6:]),
		NSCount: binary.BigEndian.Uint16(msg[8:]),
		ARCount: binary.BigEndian.Uint16(msg[10:]),
	}
	p.h, p.off, p.left = h, HeaderLen, int(h.QDCount)
	return h, nil
}

// advance moves to the next non-empty section.
func (p *Parser) advance() {
	for p.left == 0 && p.section < 4 {
		p.section++
		switch p.section {
		case 1:
			p.left = int(p.h.ANCount)
		case 2:
			p.left = int(p.h.NSCount)
		case 3:
			p.left = int(p.h.ARCount)
		}
	}
}

// Question reads the next question into q; ErrSectionDone after the last.
func (p *Parser) Question(q *Question) error {
	if p.section != 0 || p.left == 0 {
		return ErrSectionDone
	}
	off, err := readName(p.msg, p.off, &q.Name)
	if err != nil {
		p.section = 4
		return err
	}
	if off+4 > len(p.msg) {
		p.section = 4
		return ErrShort
	}
	q.Type = binary.BigEndian.Uint16(p.msg[off:])
	q.Class = binary.BigEndian.Uint16(p.msg[off+2:])
	p.off = off + 4
	p.left--
	return nil
}

// Resource reads the next resource record of the answer, authority or
// additional section (skipping questions not read) and returns its
// section; ErrSectionDone after the last record.
func (p *Parser) Resource(r *Resource) (int, error) {
	var q Question
	for p.section == 0 && p.left > 0 {
		if err := p.Question(&q); err != nil {
			return 0, err
		}
	}
	p.advance()
	if p.section >= 4 {
		return 0, ErrSectionDone
	}
	off, err := readName(p.msg, p.off, &r.Name)
	if err != nil {
		p.section = 4
		return 0, err
	}
	if off+10 > len(p.msg) {
		p.section = 4
		return 0, ErrShort
	}
	r.Type = binary.BigEndian.Uint16(p.msg[off:])
	r.Class = binary.BigEndian.Uint16(p.msg[off+2:])
	r.TTL = binary.BigEndian.Uint32(p.msg[off+4:])
	dl := int(binary.BigEndian.Uint16(p.msg[off+8:]))
	off += 10
	if off+dl > len(p.msg) {
		p.section = 4
		return 0, ErrShort
	}
	r.Data, r.DataOff = p.msg[off:off+dl:off+dl], off
	p.off = off + dl
	p.left--
	s := p.section
	p.advance()
	return s, nil
}

// NameAt decodes the (possibly compressed) name at offset off of the
// message, e.g. a CNAME target at Resource.DataOff.
func (p *Parser) NameAt(off int, n *Name) error {
	_, err := readName(p.msg, off, n)
	return err
}

// Validate walks the whole message: header, every question and record.
// It returns the header and the first error.
func Validate(msg []byte) (Header, error) {
	var p Parser
	h, err := p.Start(msg)
	if err != nil {
		return h, err
	}
	var q Question
	for {
		if err := p.Question(&q); err == ErrSectionDone {
			break
		} else if err != nil {
			return h, err
		}
	}
	var r Resource
	for {
		if _, err := p.Resource(&r); err == ErrSectionDone {
			return h, nil
		} else if err != nil {
			return h, err
		}
	}
}

// AppendQuery appends a standard query (RD set) for name, type qtype,
// class IN, with the given ID, to dst.
func AppendQuery(dst []byte, id uint16, name *Name, qtype uint16) []byte {
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = binary.BigEndian.AppendUint16(dst, 0x0100) // RD
	dst = binary.BigEndian.AppendUint16(dst, 1)
	dst = append(dst, 0, 0, 0, 0, 0, 0)
	dst = append(dst, name.Wire()...)
	dst = binary.BigEndian.AppendUint16(dst, qtype)
	return binary.BigEndian.AppendUint16(dst, ClassINET)
}
