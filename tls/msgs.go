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
	extSupportedGroups     = 10
	extECPointFormats      = 11
	extSignatureAlgorithms = 13
	extALPN                = 16
	extEMS                 = 23
	extRecordSizeLimit     = 28
	extPreSharedKey        = 41
	extEarlyData           = 42
	extSupportedVersions   = 43
	extCookie              = 44
	extPSKModes            = 45
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
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return AlertDecodeError
		}
		if bit := extBit(typ); bit != 0 {
			if ch.seen&bit != 0 {
				return AlertIllegalParameter
			}
			ch.seen |= bit
		}
		if ch.has(extPreSharedKey) && typ != extPreSharedKey {
			return AlertIllegalParameter // pre_shared_key must be last
		}
		d := reader{b: data}
		switch typ {
		case extServerName:
			list := d.vec16()
			if !d.done() || len(list) == 0 {
				return AlertDecodeError
			}
			l := reader{b: list}
			for len(l.b) > 0 {
				nt := l.u8()
				name := l.vec16()
				if l.bad || len(name) == 0 {
					return AlertDecodeError
				}
				if nt == 0 && ch.serverName == nil {
					if len(name) > 255 {
						return AlertDecodeError
					}
					ch.serverName = name
				}
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
			l := reader{b: ch.keyShares}
			for len(l.b) > 0 {
				g := l.u16()
				ke := l.vec16()
				if l.bad || len(ke) == 0 {
					return AlertDecodeError
				}
				if findShare(l.b, CurveID(g)) != nil {
					return AlertIllegalParameter // two shares for one group
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

// parseServerHello parses a ServerHello body. It returns 0 or an alert.
func parseServerHello(body []byte, sh *serverHello) uint8 {
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
	var seen uint32
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return AlertDecodeError
		}
		bit := extBit(typ)
		if seen&bit != 0 {
			return AlertIllegalParameter
		}
		seen |= bit
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
				return AlertUnsupportedExtension
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
			if f := d.vec8(); len(f) == 0 {
				return AlertDecodeError
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

// parseEncryptedExtensions parses an EncryptedExtensions body given what the client offered.
func parseEncryptedExtensions(body []byte, ee *encryptedExtensions, offeredALPN, offeredRSL, offeredSNI, offeredMFL bool) uint8 {
	*ee = encryptedExtensions{}
	r := reader{b: body}
	exts := r.vec16()
	if !r.done() {
		return AlertDecodeError
	}
	var seen uint32
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return AlertDecodeError
		}
		bit := extBit(typ)
		if seen&bit != 0 {
			return AlertIllegalParameter
		}
		seen |= bit
		d := reader{b: data}
		switch typ {
		case extServerName:
			if !offeredSNI {
				return AlertUnsupportedExtension
			}
			ee.sni = true
		case extALPN:
			if !offeredALPN {
				return AlertUnsupportedExtension
			}
			l := reader{b: d.vec16()}
			ee.alpn = l.vec8()
			if !l.done() || len(ee.alpn) == 0 {
				return AlertDecodeError
			}
		case extRecordSizeLimit:
			if !offeredRSL {
				return AlertUnsupportedExtension
			}
			ee.recordSizeLimit = d.u16()
			if !d.bad && ee.recordSizeLimit < 64 {
				return AlertIllegalParameter
			}
		case extSupportedGroups:
			d.b = nil // informational
		case extMaxFragmentLength:
			if !offeredMFL {
				return AlertUnsupportedExtension
			}
			ee.mfl = d.u8()
		case extEarlyData:
			return AlertUnsupportedExtension // never offered
		case extKeyShare, extSupportedVersions, extPreSharedKey, extSignatureAlgorithms, extCookie, extPSKModes, extSigAlgsCert:
			return AlertIllegalParameter // not allowed in EncryptedExtensions
		default:
			return AlertUnsupportedExtension
		}
		if !d.done() {
			return AlertDecodeError
		}
	}
	return 0
}

// parseCertificateRequest returns the context and the signature_algorithms list.
func parseCertificateRequest(body []byte) (ctx, sigAlgs []byte, alert uint8) {
	r := reader{b: body}
	ctx = r.vec8()
	exts := r.vec16()
	if !r.done() {
		return nil, nil, AlertDecodeError
	}
	x := reader{b: exts}
	for len(x.b) > 0 {
		typ := x.u16()
		data := x.vec16()
		if x.bad {
			return nil, nil, AlertDecodeError
		}
		if typ == extSignatureAlgorithms {
			if sigAlgs != nil {
				return nil, nil, AlertIllegalParameter
			}
			d := reader{b: data}
			sigAlgs = d.vec16()
			if !d.done() || len(sigAlgs) < 2 || len(sigAlgs)%2 != 0 {
				return nil, nil, AlertDecodeError
			}
		}
	}
	if sigAlgs == nil {
		return nil, nil, AlertMissingExtension
	}
	return ctx, sigAlgs, 0
}

// parseCertificate returns the request context and the certificate_list of a Certificate message
// after validating its structure; iterate the list with nextCert.
func parseCertificate(body []byte) (ctx, list []byte, alert uint8) {
	r := reader{b: body}
	ctx = r.vec8()
	list = r.vec24()
	if !r.done() {
		return nil, nil, AlertDecodeError
	}
	l := reader{b: list}
	for len(l.b) > 0 {
		cert := l.vec24()
		l.vec16() // per-certificate extensions (ignored)
		if l.bad || len(cert) == 0 {
			return nil, nil, AlertDecodeError
		}
	}
	return ctx, list, 0
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
