package tls

// Handshake message types.
const (
	typeHelloRequest        = 0
	typeClientHello         = 1
	typeServerHello         = 2
	typeNewSessionTicket    = 4
	typeEndOfEarlyData      = 5
	typeEncryptedExtensions = 8
	typeCertificate         = 11
	typeCertificateRequest  = 13
	typeCertificateVerify   = 15
	typeServerKeyExchange   = 12
	typeServerHelloDone     = 14
	typeClientKeyExchange   = 16
	typeFinished            = 20
	typeKeyUpdate           = 24
	typeMessageHash         = 254
)

// Extension types.
const (
	extServerName          = 0
	extMaxFragmentLength   = 1
	extStatusRequest       = 5
	extSupportedGroups     = 10
	extECPointFormats      = 11
	extSignatureAlgorithms = 13
	extALPN                = 16
	extSCT                 = 18
	extPadding             = 21
	extEMS                 = 23
	extRecordSizeLimit     = 28
	extPreSharedKey        = 41
	extEarlyData           = 42
	extSupportedVersions   = 43
	extCookie              = 44
	extPSKModes            = 45
	extCertAuthorities     = 47
	extOIDFilters          = 48
	extPostHandshakeAuth   = 49
	extSigAlgsCert         = 50
	extKeyShare            = 51
	extRenegotiationInfo   = 0xff01
)

// hrrRandom is the special ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
var hrrRandom = [32]byte{0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C}

// reader is a bounds-checked cursor; after any short read bad is set and all reads return zero.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u8() int {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := int(r.b[0])
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() int {
	if len(r.b) < 2 {
		r.bad, r.b = true, nil
		return 0
	}
	v := int(r.b[0])<<8 | int(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) u24() int {
	if len(r.b) < 3 {
		r.bad, r.b = true, nil
		return 0
	}
	v := int(r.b[0])<<16 | int(r.b[1])<<8 | int(r.b[2])
	r.b = r.b[3:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) vec8() []byte  { return r.bytes(r.u8()) }
func (r *reader) vec16() []byte { return r.bytes(r.u16()) }
func (r *reader) vec24() []byte { return r.bytes(r.u24()) }

// done reports whether the reader was consumed exactly, without error.
func (r *reader) done() bool { return !r.bad && len(r.b) == 0 }

// containsU16 reports whether the list of big-endian uint16 contains v.
func containsU16(list []byte, v uint16) bool {
	for i := 0; i+1 < len(list); i += 2 {
		if uint16(list[i])<<8|uint16(list[i+1]) == v {
			return true
		}
	}
	return false
}

// checkExtensions validates the framing of an extension block (each entry's length inside the
// block) and that no extension type appears twice: RFC 8446 §4.2 "There MUST NOT be more than one
// extension of the same type in a given extension block". Bad framing is a decode_error; a
// duplicate (in any block: ClientHello, ServerHello, HelloRetryRequest, EncryptedExtensions,
// CertificateRequest, CertificateEntry, NewSessionTicket; TLS 1.2 hellos too) is answered with
// illegal_parameter, as OpenSSL and BoringSSL do.
//
// The check is exact and allocates nothing: a 4,096-bit set (512 bytes of stack) of the low 12
// bits of the types, filled once per high nibble present in the block. A usual block (one to five
// nibbles) costs a few passes over a few dozen entries; a hostile 16 KiB block (4,096 entries over
// all 16 nibbles) 16 passes (BenchmarkCheckExtensionsWorst).
func checkExtensions(exts []byte) uint8 {
	var nibbles uint16
	for x := exts; len(x) > 0; {
		if len(x) < 4 {
			return AlertDecodeError
		}
		l := int(x[2])<<8 | int(x[3])
		if len(x) < 4+l {
			return AlertDecodeError
		}
		nibbles |= 1 << (x[0] >> 4)
		x = x[4+l:]
	}
	var seen [64]uint64
	for hi := byte(0); hi < 16; hi++ {
		if nibbles&(1<<hi) == 0 {
			continue
		}
		clear(seen[:])
		for x := exts; len(x) > 0; x = x[4+(int(x[2])<<8|int(x[3])):] {
			if x[0]>>4 != hi {
				continue
			}
			lo := int(x[0]&15)<<8 | int(x[1])
			if seen[lo>>6]&(1<<(lo&63)) != 0 {
				return AlertIllegalParameter
			}
			seen[lo>>6] |= 1 << (lo & 63)
		}
	}
	return 0
}

// Messages an extension may appear in (RFC 8446 §4.2 table; RFC 8449 for record_size_limit).
const (
	inCH = 1 << iota
	inSH
	inHRR
	inEE
	inCT
	inCR
	inNST
)

// extAllowedIn returns the TLS 1.3 messages extension t may appear in, and whether the engine
// recognizes t at all (§4.2: a recognized extension in a message not listed for it is
// illegal_parameter). TLS 1.2-only extensions are recognized in the ClientHello only (the TLS 1.2
// ServerHello is checked apart).
func extAllowedIn(t int) (msgs int, known bool) {
	switch t {
	case extServerName, extMaxFragmentLength, extSupportedGroups, extALPN, extRecordSizeLimit:
		return inCH | inEE, true
	case extStatusRequest, extSCT:
		return inCH | inCR | inCT, true
	case extSignatureAlgorithms, extCertAuthorities, extSigAlgsCert:
		return inCH | inCR, true
	case extKeyShare, extSupportedVersions:
		return inCH | inSH | inHRR, true
	case extPreSharedKey:
		return inCH | inSH, true
	case extPSKModes, extPostHandshakeAuth, extPadding, extEMS, extRenegotiationInfo, extECPointFormats:
		return inCH, true
	case extEarlyData:
		return inCH | inEE | inNST, true
	case extCookie:
		return inCH | inHRR, true
	case extOIDFilters:
		return inCR, true
	}
	return 0, false
}

// responseExtension applies RFC 8446 §4.2 to extension t in a response (ServerHello,
// HelloRetryRequest, EncryptedExtensions, a server's CertificateEntry) of kind msg, given the
// extensions our ClientHello sent (sent, a mask of extBit): a response to an extension we never
// sent is unsupported_extension (the cookie of a HelloRetryRequest excepted), and one we sent but
// that is not specified for this message is illegal_parameter.
func responseExtension(t int, msg int, sent uint32) uint8 {
	allowed, _ := extAllowedIn(t)
	if t == extCookie && msg == inHRR {
		return 0
	}
	if bit := extBit(t); bit == 0 || sent&bit == 0 {
		return AlertUnsupportedExtension
	}
	if allowed&msg == 0 {
		return AlertIllegalParameter
	}
	return 0
}

// checkDNList validates a certificate_authorities body (RFC 8446 §4.2.4):
// DistinguishedName authorities<3..2^16-1>, each opaque DistinguishedName<1..2^16-1>. The names
// are not used.
func checkDNList(data []byte) uint8 {
	d := reader{b: data}
	list := d.vec16()
	if !d.done() || len(list) < 3 {
		return AlertDecodeError
	}
	return checkDNs(list)
}

// checkDNs validates a list of DistinguishedName<1..2^16-1> entries.
func checkDNs(list []byte) uint8 {
	l := reader{b: list}
	for len(l.b) > 0 {
		if dn := l.vec16(); l.bad || len(dn) == 0 {
			return AlertDecodeError
		}
	}
	return 0
}

// checkU16List validates a body holding one vector of uint16 values <2..2^16-2>
// (signature_algorithms, signature_algorithms_cert, supported_groups).
func checkU16List(data []byte) ([]byte, uint8) {
	d := reader{b: data}
	list := d.vec16()
	if !d.done() || len(list) < 2 || len(list)%2 != 0 {
		return nil, AlertDecodeError
	}
	return list, 0
}

// clientHello is a parsed ClientHello; byte slices alias the message.
type clientHello struct {
	legacyVersion                          int
	renegInfo, pointFormats                []byte
	random, sessionID, suites, compression []byte
	serverName                             []byte
	versions                               []byte
	groups, keyShares, sigAlgs, alpn       []byte
	cookie                                 []byte
	pskModes, pskIdentity, pskBinder       []byte
	bindersLen                             int // length of the binders vector (with its length), at the end of the message
	recordSizeLimit                        int
	mfl                                    int
	seen                                   uint32 // bitmask of extensions present (see extBit)
}

// extBit maps known extension types to a bit of the seen mask (0 for unknown types).
func extBit(t int) uint32 {
	switch t {
	case extServerName:
		return 1 << 0
	case extMaxFragmentLength:
		return 1 << 1
	case extSupportedGroups:
		return 1 << 2
	case extSignatureAlgorithms:
		return 1 << 3
	case extALPN:
		return 1 << 4
	case extRecordSizeLimit:
		return 1 << 5
	case extPreSharedKey:
		return 1 << 6
	case extEarlyData:
		return 1 << 7
	case extSupportedVersions:
		return 1 << 8
	case extCookie:
		return 1 << 9
	case extPSKModes:
		return 1 << 10
	case extSigAlgsCert:
		return 1 << 11
	case extKeyShare:
		return 1 << 12
	case extEMS:
		return 1 << 13
	case extRenegotiationInfo:
		return 1 << 14
	case extECPointFormats:
		return 1 << 15
	}
	return 0
}

func (ch *clientHello) has(t int) bool { return ch.seen&extBit(t) != 0 }

// parseClientHello parses a ClientHello body (without the 4-byte header). It returns 0 or an alert.
func parseClientHello(body []byte, ch *clientHello) uint8 {
	*ch = clientHello{}
	r := reader{b: body}
	ch.legacyVersion = r.u16()
	ch.random = r.bytes(32)
	ch.sessionID = r.vec8()
	ch.suites = r.vec16()
	ch.compression = r.vec8()
	if r.bad || len(ch.sessionID) > 32 || len(ch.suites) < 2 || len(ch.suites)%2 != 0 || len(ch.compression) < 1 {
		return AlertDecodeError
	}
	if len(r.b) == 0 {
		return 0 // no extensions at all: a pre-TLS 1.3 client
	}
	exts := r.vec16()
	if !r.done() {
		return AlertDecodeError
	}
	if a := checkExtensions(exts); a != 0 {
		return a
	}
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return AlertDecodeError
		}
		ch.seen |= extBit(typ)
		if ch.has(extPreSharedKey) && typ != extPreSharedKey {
			return AlertIllegalParameter // §4.2.11: pre_shared_key must be last
		}
		if allowed, known := extAllowedIn(typ); known && allowed&inCH == 0 {
			return AlertIllegalParameter // §4.2: recognized, but not a ClientHello extension
		}
		d := reader{b: data}
		switch typ {
		case extServerName:
			// RFC 6066 §3: ServerNameList server_name_list<1..2^16-1>, HostName<1..2^16-1>; "The
			// ServerNameList MUST NOT contain more than one name of the same name_type".
			list := d.vec16()
			if !d.done() || len(list) == 0 {
				return AlertDecodeError
			}
			l := reader{b: list}
			var types [4]uint64
			for len(l.b) > 0 {
				nt := l.u8()
				name := l.vec16()
				if l.bad || len(name) == 0 {
					return AlertDecodeError
				}
				if types[nt>>6]&(1<<(nt&63)) != 0 {
					return AlertIllegalParameter
				}
				types[nt>>6] |= 1 << (nt & 63)
				if nt == 0 {
					if len(name) > 255 {
						return AlertDecodeError
					}
					ch.serverName = name
				}
			}
		case extCertAuthorities:
			if a := checkDNList(data); a != 0 {
				return a
			}
			d.b = nil
		case extSigAlgsCert:
			if _, a := checkU16List(data); a != 0 {
				return a
			}
			d.b = nil
		case extPostHandshakeAuth, extEarlyData:
			if len(data) != 0 {
				return AlertDecodeError // both are empty in a ClientHello (§4.2.6, §4.2.10)
			}
		case extMaxFragmentLength:
			v := d.u8()
			if !d.done() {
				return AlertDecodeError
			}
			if v < 1 || v > 4 {
				return AlertIllegalParameter
			}
			ch.mfl = v
		case extSupportedGroups:
			ch.groups = d.vec16()
			if !d.done() || len(ch.groups) < 2 || len(ch.groups)%2 != 0 {
				return AlertDecodeError
			}
		case extSignatureAlgorithms:
			ch.sigAlgs = d.vec16()
			if !d.done() || len(ch.sigAlgs) < 2 || len(ch.sigAlgs)%2 != 0 {
				return AlertDecodeError
			}
		case extALPN:
			ch.alpn = d.vec16()
			if !d.done() || len(ch.alpn) < 2 {
				return AlertDecodeError
			}
			l := reader{b: ch.alpn}
			for len(l.b) > 0 {
				if p := l.vec8(); l.bad || len(p) == 0 {
					return AlertDecodeError
				}
			}
		case extRecordSizeLimit:
			v := d.u16()
			if !d.done() {
				return AlertDecodeError
			}
			if v < 64 {
				return AlertIllegalParameter
			}
			ch.recordSizeLimit = v
		case extSupportedVersions:
			ch.versions = d.vec8()
			if !d.done() || len(ch.versions) < 2 || len(ch.versions)%2 != 0 {
				return AlertDecodeError
			}
		case extCookie:
			ch.cookie = d.vec16()
			if !d.done() || len(ch.cookie) == 0 {
				return AlertDecodeError
			}
		case extEMS:
			if len(data) != 0 {
				return AlertDecodeError
			}
		case extRenegotiationInfo:
			ch.renegInfo = d.vec8()
			if !d.done() {
				return AlertDecodeError
			}
		case extECPointFormats:
			ch.pointFormats = d.vec8()
			if !d.done() || len(ch.pointFormats) == 0 {
				return AlertDecodeError
			}
		case extKeyShare:
			ch.keyShares = d.vec16()
			if !d.done() {
				return AlertDecodeError
			}
			// KeyShareEntry has the framing of an extension (group, key_exchange<1..2^16-1>), so
			// checkExtensions finds two shares for one group (§4.2.8: illegal_parameter) in
			// linear time; a pairwise search cost 150 ms for a 2,000-share hello
			// (TestHostileHelloCost).
			if a := checkExtensions(ch.keyShares); a != 0 {
				return a
			}
			for l := (reader{b: ch.keyShares}); len(l.b) > 0; {
				l.u16()
				if ke := l.vec16(); l.bad || len(ke) == 0 {
					return AlertDecodeError
				}
			}
		case extPSKModes:
			ch.pskModes = d.vec8()
			if !d.done() || len(ch.pskModes) == 0 {
				return AlertDecodeError
			}
		case extPreSharedKey:
			ids := d.vec16()
			binders := d.vec16()
			if !d.done() || len(ids) == 0 || len(binders) == 0 {
				return AlertDecodeError
			}
			ch.bindersLen = 2 + len(binders)
			nID, nB := 0, 0
			l := reader{b: ids}
			for len(l.b) > 0 {
				id := l.vec16()
				l.bytes(4)
				if l.bad || len(id) == 0 {
					return AlertDecodeError
				}
				if nID == 0 {
					ch.pskIdentity = id
				}
				nID++
			}
			l = reader{b: binders}
			for len(l.b) > 0 {
				b := l.vec8()
				if l.bad || len(b) < 32 {
					return AlertDecodeError
				}
				if nB == 0 {
					ch.pskBinder = b
				}
				nB++
			}
			if nID != nB {
				return AlertIllegalParameter
			}
		}
	}
	return 0
}

// clientHelloSum is an FNV-1a hash of what a ClientHello sent after a HelloRetryRequest must
// repeat unchanged (RFC 8446 §4.1.2): the fixed fields and the extensions the engine implements
// except key_share, cookie, early_data and pre_shared_key, which the client may replace, add or
// drop. Like Go's crypto/tls, extensions the engine does not know are left out (padding may
// change; a GREASE or ECH extension is the client's business). The body has been validated by
// parseClientHello. It detects a client that changes its hello, not an attacker (the transcript
// covers ClientHello1 through message_hash anyway).
func clientHelloSum(body []byte) uint64 {
	h := uint64(14695981039346656037)
	add := func(b []byte) {
		for _, c := range b {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	r := reader{b: body}
	r.u16()
	r.bytes(32)
	r.vec8()
	r.vec16()
	r.vec8()
	add(body[:len(body)-len(r.b)])
	exts := r.vec16()
	for x := (reader{b: exts}); len(x.b) > 0; {
		start := x.b
		typ := x.u16()
		x.vec16()
		switch typ {
		case extKeyShare, extCookie, extEarlyData, extPreSharedKey:
		default:
			if extBit(typ) != 0 {
				add(start[:len(start)-len(x.b)])
			}
		}
	}
	return h
}

// sharesListed reports whether the group of every entry of a key share list (framing already
// checked) is in groups, a list of u16: RFC 8446 §4.2.8. Exact and without allocation, in
// linear time: as in checkExtensions, one 4,096-bit set per high nibble present in the shares.
func sharesListed(shares, groups []byte) bool {
	var nibbles uint16
	for x := shares; len(x) >= 4; x = x[4+(int(x[2])<<8|int(x[3])):] {
		nibbles |= 1 << (x[0] >> 4)
	}
	var seen [64]uint64
	for hi := byte(0); hi < 16; hi++ {
		if nibbles&(1<<hi) == 0 {
			continue
		}
		clear(seen[:])
		for i := 0; i+1 < len(groups); i += 2 {
			if groups[i]>>4 == hi {
				lo := int(groups[i]&15)<<8 | int(groups[i+1])
				seen[lo>>6] |= 1 << (lo & 63)
			}
		}
		for x := shares; len(x) >= 4; x = x[4+(int(x[2])<<8|int(x[3])):] {
			if x[0]>>4 == hi {
				lo := int(x[0]&15)<<8 | int(x[1])
				if seen[lo>>6]&(1<<(lo&63)) == 0 {
					return false
				}
			}
		}
	}
	return true
}

// findShare returns the key_exchange of group g in a client_shares list, or nil.
func findShare(list []byte, g CurveID) []byte {
	l := reader{b: list}
	for len(l.b) > 0 {
		gg := l.u16()
		ke := l.vec16()
		if l.bad {
			return nil
		}
		if CurveID(gg) == g {
			return ke
		}
	}
	return nil
}

// serverHello is a parsed ServerHello or HelloRetryRequest.
type serverHello struct {
	legacyVersion     int
	ext12             bool // a TLS 1.2-only extension is present
	ems               bool
	renegInfo         []byte // nil if absent
	alpn              []byte
	recordSizeLimit   int
	mfl               int
	sni               bool
	random, sessionID []byte
	suite             uint16
	compression       int
	version           int // from supported_versions, 0 if absent
	group             CurveID
	share             []byte // nil in a HelloRetryRequest
	hasKeyShare       bool
	cookie            []byte
	hrr               bool
	hasPSK            bool
	pskIdentity       int
}

// parseServerHello parses a ServerHello body; sent is the mask (extBit) of the extensions our
// ClientHello carried: an extension answering one we never sent is unsupported_extension (§4.2).
// Which extensions the negotiated version allows is checked by the caller. It returns 0 or an alert.
func parseServerHello(body []byte, sh *serverHello, sent uint32) uint8 {
	*sh = serverHello{}
	r := reader{b: body}
	sh.legacyVersion = r.u16()
	sh.random = r.bytes(32)
	sh.sessionID = r.vec8()
	sh.suite = uint16(r.u16())
	sh.compression = r.u8()
	if r.bad || len(sh.sessionID) > 32 {
		return AlertDecodeError
	}
	sh.hrr = string(sh.random) == string(hrrRandom[:])
	if len(r.b) == 0 {
		return 0
	}
	exts := r.vec16()
	if !r.done() {
		return AlertDecodeError
	}
	if a := checkExtensions(exts); a != 0 {
		return a
	}
	msgKind := inSH
	if sh.hrr {
		msgKind = inHRR
	}
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return AlertDecodeError
		}
		if a := responseExtension(typ, msgKind, sent); a == AlertUnsupportedExtension {
			return a
		}
		d := reader{b: data}
		switch typ {
		case extSupportedVersions:
			sh.version = d.u16()
		case extKeyShare:
			sh.hasKeyShare = true
			sh.group = CurveID(d.u16())
			if !sh.hrr {
				sh.share = d.vec16()
				if len(sh.share) == 0 {
					return AlertDecodeError
				}
			}
		case extCookie:
			if !sh.hrr {
				return AlertIllegalParameter // §4.2: a cookie answers only in a HelloRetryRequest
			}
			sh.cookie = d.vec16()
			if len(sh.cookie) == 0 {
				return AlertDecodeError
			}
		case extPreSharedKey:
			if sh.hrr {
				return AlertIllegalParameter
			}
			sh.hasPSK = true
			sh.pskIdentity = d.u16()
		case extEMS:
			sh.ext12, sh.ems = true, true
		case extRenegotiationInfo:
			sh.ext12 = true
			sh.renegInfo = d.vec8()
			if sh.renegInfo == nil {
				sh.renegInfo = []byte{}
			}
		case extECPointFormats:
			sh.ext12 = true
			f := d.vec8()
			if len(f) == 0 {
				return AlertDecodeError
			}
			if !containsByte(f, 0) {
				return AlertIllegalParameter // RFC 8422 §5.2: uncompressed MUST be supported
			}
		case extALPN:
			sh.ext12 = true
			l := reader{b: d.vec16()}
			sh.alpn = l.vec8()
			if !l.done() || len(sh.alpn) == 0 {
				return AlertDecodeError
			}
		case extServerName:
			sh.ext12, sh.sni = true, true
		case extRecordSizeLimit:
			sh.ext12 = true
			sh.recordSizeLimit = d.u16()
			if !d.bad && sh.recordSizeLimit < 64 {
				return AlertIllegalParameter
			}
		case extMaxFragmentLength:
			sh.ext12 = true
			sh.mfl = d.u8()
		default:
			return AlertUnsupportedExtension
		}
		if !d.done() {
			return AlertDecodeError
		}
	}
	return 0
}

// encryptedExtensions is what a client learns from EncryptedExtensions.
type encryptedExtensions struct {
	alpn            []byte
	recordSizeLimit int
	mfl             int
	sni             bool
}

// parseEncryptedExtensions parses an EncryptedExtensions body; sent is the mask (extBit) of the
// extensions our ClientHello carried (§4.2: an answer to one we never sent is
// unsupported_extension, one we sent that EncryptedExtensions may not carry is illegal_parameter).
func parseEncryptedExtensions(body []byte, ee *encryptedExtensions, sent uint32) uint8 {
	*ee = encryptedExtensions{}
	r := reader{b: body}
	exts := r.vec16()
	if !r.done() {
		return AlertDecodeError
	}
	if a := checkExtensions(exts); a != 0 {
		return a
	}
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return AlertDecodeError
		}
		if a := responseExtension(typ, inEE, sent); a != 0 {
			return a
		}
		d := reader{b: data}
		switch typ {
		case extServerName:
			ee.sni = true // RFC 6066 §3: the acknowledgement is empty (checked below)
		case extALPN:
			l := reader{b: d.vec16()}
			ee.alpn = l.vec8()
			if !l.done() || len(ee.alpn) == 0 {
				return AlertDecodeError // RFC 7301 §3.1: exactly one protocol
			}
		case extRecordSizeLimit:
			ee.recordSizeLimit = d.u16()
			if !d.bad && ee.recordSizeLimit < 64 {
				return AlertIllegalParameter
			}
		case extSupportedGroups:
			if _, a := checkU16List(data); a != 0 {
				return a
			}
			d.b = nil // informational (§4.2.7)
		case extMaxFragmentLength:
			ee.mfl = d.u8()
		default:
			return AlertUnsupportedExtension // sent by us, allowed here, but not implemented
		}
		if !d.done() {
			return AlertDecodeError
		}
	}
	// RFC 8449 §5: "A client MUST treat receipt of both max_fragment_length and
	// record_size_limit as a fatal error, and it SHOULD generate an illegal_parameter alert."
	if ee.mfl != 0 && ee.recordSizeLimit != 0 {
		return AlertIllegalParameter
	}
	return 0
}

// parseCertificateRequest returns the context and the signature_algorithms list (RFC 8446 §4.3.2).
// Unknown extensions are ignored ("Clients MUST ignore unrecognized extensions"); a recognized one
// not specified for CertificateRequest is illegal_parameter (§4.2); the bodies of
// certificate_authorities, signature_algorithms_cert and oid_filters are validated.
func parseCertificateRequest(body []byte) (ctx, sigAlgs []byte, alert uint8) {
	r := reader{b: body}
	ctx = r.vec8()
	exts := r.vec16()
	if !r.done() {
		return nil, nil, AlertDecodeError
	}
	if a := checkExtensions(exts); a != 0 {
		return nil, nil, a
	}
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return nil, nil, AlertDecodeError
		}
		if allowed, known := extAllowedIn(typ); known && allowed&inCR == 0 {
			return nil, nil, AlertIllegalParameter
		}
		var a uint8
		switch typ {
		case extSignatureAlgorithms:
			sigAlgs, a = checkU16List(data)
		case extSigAlgsCert:
			_, a = checkU16List(data)
		case extCertAuthorities:
			a = checkDNList(data)
		case extOIDFilters:
			a = checkOIDFilters(data)
		}
		if a != 0 {
			return nil, nil, a
		}
	}
	if sigAlgs == nil {
		return nil, nil, AlertMissingExtension
	}
	return ctx, sigAlgs, 0
}

// checkOIDFilters validates an oid_filters body (RFC 8446 §4.2.5): OIDFilter
// filters<0..2^16-1>, each { opaque certificate_extension_oid<1..2^8-1>; opaque
// certificate_extension_values<0..2^16-1> }.
func checkOIDFilters(data []byte) uint8 {
	d := reader{b: data}
	l := reader{b: d.vec16()}
	if !d.done() {
		return AlertDecodeError
	}
	for len(l.b) > 0 {
		oid := l.vec8()
		l.vec16()
		if l.bad || len(oid) == 0 {
			return AlertDecodeError
		}
	}
	return 0
}

// parseCertificate returns the request context and the certificate_list of a Certificate message
// after validating its structure; iterate the list with nextCert. Each CertificateEntry's
// extensions must answer extensions of our request (§4.4.2: "Valid extensions for server
// certificates at present include the OCSP Status extension and the SignedCertificateTimestamp
// extension"; for a client's, those of the CertificateRequest): sent is the mask (extBit) of what
// our ClientHello carried (0 for a server reading a client's Certificate: our CertificateRequest
// only carries signature_algorithms, which CertificateEntry cannot answer). The engine never asks
// for OCSP or SCT, so in practice any entry extension is unsupported_extension (§4.2), or
// illegal_parameter for one we sent that a CertificateEntry may not carry; a duplicate is
// illegal_parameter.
func parseCertificate(body []byte, sent uint32) (ctx, list []byte, alert uint8) {
	r := reader{b: body}
	ctx = r.vec8()
	list = r.vec24()
	if !r.done() {
		return nil, nil, AlertDecodeError
	}
	l := reader{b: list}
	for len(l.b) > 0 {
		cert := l.vec24()
		exts := l.vec16()
		if l.bad || len(cert) == 0 {
			return nil, nil, AlertDecodeError
		}
		if a := checkExtensions(exts); a != 0 {
			return nil, nil, a
		}
		for x := (reader{b: exts}); len(x.b) > 0; {
			typ := x.u16()
			x.vec16()
			if a := responseExtension(typ, inCT, sent); a != 0 {
				return nil, nil, a
			}
		}
	}
	return ctx, list, 0
}

// parseNewSessionTicket parses a NewSessionTicket body (RFC 8446 §4.6.1): ticket_lifetime,
// ticket_age_add, ticket_nonce<0..255>, ticket<1..2^16-1>, extensions<0..2^16-2>. Unknown
// extensions are ignored ("Clients MUST ignore unrecognized extensions"); early_data carries a
// 4-byte max_early_data_size (§4.2.10); a duplicate is illegal_parameter, a recognized extension not
// specified for NewSessionTicket too (§4.2).
func parseNewSessionTicket(body []byte) (life int, ageAdd uint32, nonce, ticket []byte, alert uint8) {
	r := reader{b: body}
	life = r.u16()<<16 | r.u16()
	ageAdd = uint32(r.u16())<<16 | uint32(r.u16())
	nonce = r.vec8()
	ticket = r.vec16()
	exts := r.vec16()
	if !r.done() || len(ticket) == 0 {
		return 0, 0, nil, nil, AlertDecodeError
	}
	if a := checkExtensions(exts); a != 0 {
		return 0, 0, nil, nil, a
	}
	for x := (reader{b: exts}); len(x.b) > 0; {
		typ := x.u16()
		data := x.vec16()
		if allowed, known := extAllowedIn(typ); known && allowed&inNST == 0 {
			return 0, 0, nil, nil, AlertIllegalParameter
		}
		if typ == extEarlyData && len(data) != 4 {
			return 0, 0, nil, nil, AlertDecodeError
		}
	}
	return life, ageAdd, nonce, ticket, 0
}

// nextCert returns the first certificate of a validated certificate_list and the rest.
func nextCert(list []byte) (cert, rest []byte) {
	l := reader{b: list}
	cert = l.vec24()
	l.vec16()
	return cert, l.b
}

// parseCertificateVerify returns the scheme and the signature.
func parseCertificateVerify(body []byte) (SignatureScheme, []byte, uint8) {
	r := reader{b: body}
	s := r.u16()
	sig := r.vec16()
	if !r.done() || len(sig) == 0 {
		return 0, nil, AlertDecodeError
	}
	return SignatureScheme(s), sig, 0
}
