package ipv4

import "errors"

// IP option types (RFC 791 §3.1; Router Alert RFC 2113).
const (
	OptEOL         = 0   // end of option list
	OptNOP         = 1   // no operation
	OptRR          = 7   // record route
	OptTS          = 68  // internet timestamp
	OptSecurity    = 130 // RFC 1108 basic security
	OptLSRR        = 131 // loose source and record route
	OptStreamID    = 136 // stream identifier (obsolete)
	OptSSRR        = 137 // strict source and record route
	OptRouterAlert = 148 // RFC 2113
)

// Option errors (CheckOptions also returns the offset of the bad octet).
var (
	ErrOptionLength  = errors.New("ipv4: option length out of range")
	ErrOptionPointer = errors.New("ipv4: option pointer out of range")
	ErrOptionFlag    = errors.New("ipv4: timestamp option flag undefined")
	ErrOptionRepeat  = errors.New("ipv4: option repeated")
)

// Options is what CheckOptions learnt from a header's options.
type Options struct {
	// SourceRoute is the type of the source-route option (OptLSRR,
	// OptSSRR) or 0 without one; RouteDone reports whether its route is
	// complete (the pointer is past the last address: the datagram has
	// reached its final destination, RFC 1122 §3.2.1.8(c)).
	SourceRoute uint8
	RouteDone   bool
}

// CheckOptions walks the option bytes of an IP header (opt = the bytes
// after the 20 fixed ones) and validates each option's shape (RFC 791
// §3.1). It is a total parser: any bytes give a result or an error, in
// one bounded pass, without allocating. On error, at is the octet at
// fault counted from the start of the IP header: the pointer of an ICMP
// Parameter Problem (RFC 792).
//
// Rules (RFC 791 §3.1, with the checks Linux's ip_options_compile makes):
//   - EOL ends the list (what follows is padding); NOP is one octet.
//   - Every other option has a length octet counting the type and length
//     octets: at least 2 and within the header (RFC 1122 §3.2.1.8: an
//     erroneous length must not crash or loop); the fault is the length
//     octet.
//   - Record route and the source routes: length ≥ 3 and pointer ≥ 4;
//     when the pointer is within the option (route not yet full or
//     complete), a whole 4-octet address must fit at it.
//   - Timestamp: length ≥ 4, pointer ≥ 5; flag 0 (timestamps only) or
//     1 and 3 (address and timestamp pairs); while the pointer is within
//     the option a whole entry (4 or 8 octets) must fit at it. The
//     overflow count is not checked (any value is valid).
//   - Stream ID and Router Alert are 4 octets long.
//   - Record route, timestamp and the source routes appear at most once
//     (RFC 1122 §3.2.1.8(c): a header MUST NOT carry more than one source
//     route; two of any of them are ambiguous).
//   - Other option types are skipped by their length (RFC 1122 §3.2.1.8:
//     silently ignore options not understood).
func CheckOptions(opt []byte) (o Options, at int, err error) {
	var seen uint8 // 1: RR, 2: TS, 4: a source route
	for i := 0; i < len(opt); {
		typ := opt[i]
		if typ == OptEOL {
			break
		}
		if typ == OptNOP {
			i++
			continue
		}
		if i+1 >= len(opt) {
			return Options{}, HeaderLen + i, ErrOptionLength // a type octet with no room for a length
		}
		l := int(opt[i+1])
		if l < 2 || i+l > len(opt) {
			return Options{}, HeaderLen + i + 1, ErrOptionLength
		}
		b := opt[i : i+l]
		var bit uint8
		switch typ {
		case OptRR, OptLSRR, OptSSRR:
			if l < 3 {
				return Options{}, HeaderLen + i + 1, ErrOptionLength
			}
			p := int(b[2])
			if p < 4 || p <= l && p+3 > l {
				return Options{}, HeaderLen + i + 2, ErrOptionPointer
			}
			bit = 1
			if typ != OptRR {
				bit = 4
				o.SourceRoute, o.RouteDone = typ, p > l
			}
		case OptTS:
			if l < 4 {
				return Options{}, HeaderLen + i + 1, ErrOptionLength
			}
			p := int(b[2])
			if p < 5 {
				return Options{}, HeaderLen + i + 2, ErrOptionPointer
			}
			entry := 4
			switch b[3] & 0x0f {
			case 0:
			case 1, 3:
				entry = 8
			default:
				return Options{}, HeaderLen + i + 3, ErrOptionFlag
			}
			if p <= l && p+entry-1 > l {
				return Options{}, HeaderLen + i + 2, ErrOptionPointer
			}
			bit = 2
		case OptStreamID, OptRouterAlert:
			if l != 4 {
				return Options{}, HeaderLen + i + 1, ErrOptionLength
			}
		}
		if seen&bit != 0 {
			return Options{}, HeaderLen + i, ErrOptionRepeat
		}
		seen |= bit
		i += l
	}
	return o, 0, nil
}
