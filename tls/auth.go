package tls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"time"
)

const (
	serverSignatureContext = "TLS 1.3, server CertificateVerify"
	clientSignatureContext = "TLS 1.3, client CertificateVerify"
)

// signedContent builds the CertificateVerify input (RFC 8446 §4.4.3) in e.sigContent.
func (e *Engine) signedContent(context string) []byte {
	b := e.sigContent[:0]
	for i := 0; i < 64; i++ {
		b = append(b, 0x20)
	}
	b = append(b, context...)
	b = append(b, 0)
	return append(b, e.ks.hash()...)
}

// appendCertificateVerify appends a CertificateVerify message signed with the configured Signer.
func (e *Engine) appendCertificateVerify(dst []byte, context string) ([]byte, error) {
	sig, err := e.sign(e.ownScheme, e.signedContent(context))
	if err != nil {
		return dst, err
	}
	n := 4 + len(sig)
	dst = append(dst, typeCertificateVerify, 0, byte(n>>8), byte(n), byte(e.ownScheme>>8), byte(e.ownScheme),
		byte(len(sig)>>8), byte(len(sig)))
	return append(dst, sig...), nil
}

// RSASSA-PSS options: the salt is as long as the digest (RFC 8446 §4.2.3; RFC 5756 for TLS 1.2).
var (
	pssSHA256 = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	pssSHA384 = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA384}
	pssSHA512 = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA512}
)

// schemeHash returns the hash a scheme signs with (0 for Ed25519 and unknown schemes).
func schemeHash(s SignatureScheme) crypto.Hash {
	switch s {
	case ECDSAWithP256AndSHA256, PSSWithSHA256, PKCS1WithSHA256, PSSPSSWithSHA256:
		return crypto.SHA256
	case ECDSAWithP384AndSHA384, PSSWithSHA384, PKCS1WithSHA384, PSSPSSWithSHA384:
		return crypto.SHA384
	case ECDSAWithP521AndSHA512, PSSWithSHA512, PKCS1WithSHA512, PSSPSSWithSHA512:
		return crypto.SHA512
	}
	return 0
}

func isPSS(s SignatureScheme) bool {
	return s == PSSWithSHA256 || s == PSSWithSHA384 || s == PSSWithSHA512
}

func isPKCS1(s SignatureScheme) bool {
	return s == PKCS1WithSHA256 || s == PKCS1WithSHA384 || s == PKCS1WithSHA512
}

func isECDSA(s SignatureScheme) bool {
	return s == ECDSAWithP256AndSHA256 || s == ECDSAWithP384AndSHA384 || s == ECDSAWithP521AndSHA512
}

// signerOpts returns the crypto.SignerOpts that make a Signer produce scheme s.
func signerOpts(s SignatureScheme) crypto.SignerOpts {
	switch s {
	case PSSWithSHA256, PSSPSSWithSHA256:
		return pssSHA256
	case PSSWithSHA384, PSSPSSWithSHA384:
		return pssSHA384
	case PSSWithSHA512, PSSPSSWithSHA512:
		return pssSHA512
	}
	return schemeHash(s)
}

// hashInto writes the h digest of content into buf (64 bytes) and returns it.
func hashInto(buf []byte, h crypto.Hash, content []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(content)
		return buf[:copy(buf, d[:])]
	case crypto.SHA384:
		d := sha512.Sum384(content)
		return buf[:copy(buf, d[:])]
	}
	d := sha512.Sum512(content)
	return buf[:copy(buf, d[:])]
}

// sign signs a whole message (hashed here, except for Ed25519) with scheme and the Signer.
func (e *Engine) sign(scheme SignatureScheme, content []byte) ([]byte, error) {
	if scheme == Ed25519 {
		return e.checkSig(e.cfg.Signer.Sign(e.cfg.Rand, content, crypto.Hash(0)))
	}
	return e.signDigest(scheme, hashInto(e.digest[:], schemeHash(scheme), content))
}

// signDigest signs a digest computed with scheme's hash (TLS 1.2 CertificateVerify signs the
// running transcript hash).
func (e *Engine) signDigest(scheme SignatureScheme, digest []byte) ([]byte, error) {
	return e.checkSig(e.cfg.Signer.Sign(e.cfg.Rand, digest, signerOpts(scheme)))
}

func (e *Engine) checkSig(sig []byte, err error) ([]byte, error) {
	if err == nil && len(sig) > int(e.sigMax) {
		err = errors.New("tls: signature too long")
	}
	return sig, err
}

// rsaSchemes13 are the schemes an RSA key signs TLS 1.3 handshakes with, in our preference order;
// rsaSchemes12 adds RSASSA-PKCS1-v1_5 for TLS 1.2 peers that offer no RSA-PSS.
var rsaSchemes13 = []SignatureScheme{PSSWithSHA256, PSSWithSHA384, PSSWithSHA512}
var rsaSchemes12 = []SignatureScheme{PSSWithSHA256, PSSWithSHA384, PSSWithSHA512, PKCS1WithSHA256,
	PKCS1WithSHA384, PKCS1WithSHA512}

// pickOwnScheme chooses the scheme we sign with from the peer's signature_algorithms (a list of
// 2-byte code points) and sets e.ownScheme; false when the peer accepts none we can produce. An
// ECDSA P-256 or Ed25519 key has one scheme; an RSA key takes the first of ours the peer offers.
func (e *Engine) pickOwnScheme(algs []byte, tls12 bool) bool {
	if e.cfg.hooks().ownScheme != 0 {
		e.ownScheme = e.cfg.hooks().ownScheme
		return true
	}
	if !e.ownRSA {
		return containsU16(algs, uint16(e.ownScheme))
	}
	list := rsaSchemes13
	if tls12 {
		list = rsaSchemes12
	}
	for _, s := range list {
		if containsU16(algs, uint16(s)) {
			e.ownScheme = s
			return true
		}
	}
	return false
}

// appendCertificate appends a Certificate message with our chain (or an empty one).
func (e *Engine) appendCertificate(dst []byte, ctx []byte, send bool) []byte {
	list := 0
	if send {
		for _, c := range e.cfg.Certificate {
			list += 3 + len(c) + 2
		}
	}
	n := 1 + len(ctx) + 3 + list
	dst = append(dst, typeCertificate, byte(n>>16), byte(n>>8), byte(n), byte(len(ctx)))
	dst = append(dst, ctx...)
	dst = append(dst, byte(list>>16), byte(list>>8), byte(list))
	if send {
		for _, c := range e.cfg.Certificate {
			dst = append(dst, byte(len(c)>>16), byte(len(c)>>8), byte(len(c)))
			dst = append(dst, c...)
			dst = append(dst, 0, 0)
		}
	}
	return dst
}

// appendFinished appends a Finished message computed with the base traffic secret.
func (e *Engine) appendFinished(dst []byte, base []byte) []byte {
	dst = append(dst, typeFinished, 0, 0, byte(e.ks.hlen))
	return e.ks.finished(dst, base)
}

// checkFinished verifies a received Finished message in constant time.
func (e *Engine) checkFinished(msg []byte, base []byte) uint8 {
	want := e.ks.finished(e.verifyBuf[:0], base)
	if len(msg) != 4+len(want) {
		return AlertDecodeError
	}
	if subtle.ConstantTimeCompare(msg[4:], want) != 1 {
		return AlertDecryptError
	}
	return 0
}

// maxPeerCerts bounds the certificates in a peer's certificate_list (leaf included). Real chains
// carry 2–4; Go's crypto/x509 path building is what a long list would make expensive (every
// certificate parsed, then tried as an intermediate). A longer list is answered with
// bad_certificate before any is parsed.
const maxPeerCerts = 10

// readPeerCertificates parses a validated TLS 1.3 certificate_list into x509 certificates.
func readPeerCertificates(list []byte) ([]*x509.Certificate, uint8) { return readCertList(list, true) }

// readCertList parses a validated certificate_list (TLS 1.3 entries with extensions when ext is set,
// TLS 1.2 entries otherwise).
func readCertList(list []byte, ext bool) ([]*x509.Certificate, uint8) {
	next := func(l []byte) ([]byte, []byte) {
		if ext {
			return nextCert(l)
		}
		r := reader{b: l}
		c := r.vec24()
		return c, r.b
	}
	n := 0
	for l := list; len(l) > 0; n++ {
		_, l = next(l)
	}
	if n > maxPeerCerts {
		// Not an RFC rule (RFC 8446 §4.4.2 and RFC 5246 §7.4.2 set no count): a bound so that a
		// hostile peer cannot make the engine parse and path-build over dozens of certificates.
		return nil, AlertBadCertificate
	}
	certs := make([]*x509.Certificate, 0, n)
	for len(list) > 0 {
		var der []byte
		der, list = next(list)
		c, err := x509.ParseCertificate(append([]byte(nil), der...))
		if err != nil {
			return nil, AlertBadCertificate
		}
		if c.PublicKey == nil { // crypto/x509 does not parse id-RSASSA-PSS keys
			if k := parsePSSPublicKey(c.RawSubjectPublicKeyInfo); k != nil {
				c.PublicKey = k
			}
		}
		certs = append(certs, c)
	}
	return certs, 0
}

// KeptPeerCertificate is what a server engine with Config.PeerKeyOnly keeps of its client's
// certificate chain once the chain is checked (ConnectionState.PeerCertificates holds it alone): a certificate with only the
// leaf's public key — RawSubjectPublicKeyInfo (a copy), PublicKey and PublicKeyAlgorithm — which
// is what CertificateVerify and the applications' authorisation (the administrator's key) use.
// The parsed chain itself is dropped at once: up to maxPeerCerts certificates in a message of up
// to MaxHandshakeMessage bytes, full of names and extensions, parse to tens of KB that a client
// could otherwise make every connection slot of a card hold for its lifetime (issue 14: the card's RAM has a
// hard bound, sim.RAMBound, which counts this per slot; the public key is bounded by
// checkPeerLeaf's key types and RSA sizes). Exported so that such bounds can measure it.
func KeptPeerCertificate(leaf *x509.Certificate) *x509.Certificate {
	return &x509.Certificate{RawSubjectPublicKeyInfo: append([]byte(nil), leaf.RawSubjectPublicKeyInfo...),
		PublicKey: leaf.PublicKey, PublicKeyAlgorithm: leaf.PublicKeyAlgorithm}
}

// verifyChain verifies certs against roots for the usage (and DNS name / IP when name != "").
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, name string, now time.Time, usage x509.ExtKeyUsage) uint8 {
	opts := x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now,
		Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		switch {
		case errors.As(err, &ua):
			return AlertUnknownCA
		case errors.As(err, &ci) && ci.Reason == x509.Expired:
			return AlertCertificateExpired
		}
		return AlertBadCertificate
	}
	return 0
}

// Limits on a peer's RSA key. Smaller keys are refused (NIST SP 800-57 / SP 800-131A: RSA below
// 2048 bits no longer gives 112-bit security); larger ones bound the cost of one verification.
const (
	minPeerRSABits = 2048
	maxPeerRSABits = 8192
)

var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

// checkPeerLeaf checks that the peer's end-entity certificate can sign our handshake, whether or
// not its chain is verified (InsecureSkipVerify, RequestClientCert): its key is ECDSA, Ed25519 or
// RSA of 2048 to 8192 bits, and a keyUsage extension, when present, has digitalSignature (RFC 5280
// §4.2.1.3; RFC 8446 §4.4.2.2: "the digitalSignature bit MUST be set if the Key Usage extension is
// present"; RFC 5246 §7.4.2 and RFC 8422 §5.3 likewise). Every engine suite is ECDHE, so the key
// is only ever used to sign. Anything else gets unsupported_certificate: the certificate is well
// formed, just not usable for this purpose.
func checkPeerLeaf(c *x509.Certificate) uint8 {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	case *rsa.PublicKey:
		if b := k.N.BitLen(); b < minPeerRSABits || b > maxPeerRSABits {
			return AlertUnsupportedCert
		}
	case *RSAPSSPublicKey:
		if b := k.N.BitLen(); b < minPeerRSABits || b > maxPeerRSABits {
			return AlertUnsupportedCert
		}
	default:
		return AlertUnsupportedCert
	}
	for _, x := range c.Extensions {
		if x.Id.Equal(oidKeyUsage) {
			if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
				return AlertUnsupportedCert
			}
			break
		}
	}
	return 0
}

// schemeFitsKey reports whether scheme can be used with the peer's public key. In TLS 1.3 an
// ECDSA scheme names the curve (RFC 8446 §4.2.3); in TLS 1.2 it names only the hash, any curve
// may use it (RFC 8422 §5.1.3, RFC 5246 §7.4.1.4.1), and RSASSA-PKCS1-v1_5 is allowed only there.
func schemeFitsKey(pub any, scheme SignatureScheme, tls12 bool) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return scheme == Ed25519
	case *ecdsa.PublicKey:
		if tls12 || !isECDSA(scheme) {
			return isECDSA(scheme)
		}
		switch scheme {
		case ECDSAWithP256AndSHA256:
			return k.Curve == elliptic.P256()
		case ECDSAWithP384AndSHA384:
			return k.Curve == elliptic.P384()
		}
		return k.Curve == elliptic.P521()
	case *rsa.PublicKey: // rsaEncryption: rsa_pss_rsae_*, and rsa_pkcs1_* in TLS 1.2
		return isPSS(scheme) || (tls12 && isPKCS1(scheme))
	case *RSAPSSPublicKey: // id-RSASSA-PSS: rsa_pss_pss_* only, with the hash its parameters fix
		return isPSSPSS(scheme) && (k.Hash == 0 || k.Hash == schemeHash(scheme))
	}
	return false
}

// verifySignature checks a signature over a whole message (TLS 1.3 CertificateVerify content, TLS
// 1.2 ServerKeyExchange params) with the peer's public key; buf (64 bytes) holds the digest.
func verifySignature(pub any, scheme SignatureScheme, content, sig []byte, tls12 bool, buf []byte) bool {
	if !schemeFitsKey(pub, scheme, tls12) {
		return false
	}
	if scheme == Ed25519 {
		return ed25519.Verify(pub.(ed25519.PublicKey), content, sig)
	}
	return verifyDigest(pub, scheme, hashInto(buf, schemeHash(scheme), content), sig)
}

// verifyDigest checks a signature over a digest made with scheme's hash; the caller has checked
// that scheme fits the key (schemeFitsKey).
func verifyDigest(pub any, scheme SignatureScheme, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		if isPSS(scheme) {
			opts := rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
			return rsa.VerifyPSS(k, schemeHash(scheme), digest, sig, &opts) == nil
		}
		return isPKCS1(scheme) && rsa.VerifyPKCS1v15(k, schemeHash(scheme), digest, sig) == nil
	case *RSAPSSPublicKey:
		opts := rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		return isPSSPSS(scheme) && rsa.VerifyPSS(k.PublicKey, schemeHash(scheme), digest, sig, &opts) == nil
	}
	return false
}

// appendSigAlgs appends the signature_algorithms extension with the schemes we verify (with the
// TLS 1.2-only RSASSA-PKCS1-v1_5 schemes when withPKCS1 is set).
func appendSigAlgs(dst []byte, withPKCS1 bool) []byte {
	list := verifySchemes
	if withPKCS1 {
		list = verifySchemes12
	}
	n := 2 * len(list)
	dst = append(dst, 0, extSignatureAlgorithms, byte((n+2)>>8), byte(n+2), byte(n>>8), byte(n))
	for _, s := range list {
		dst = append(dst, byte(s>>8), byte(s))
	}
	return dst
}

// checkPeerVerify verifies a peer CertificateVerify message.
func (e *Engine) checkPeerVerify(msg []byte, context string) uint8 {
	scheme, sig, a := parseCertificateVerify(msg[4:])
	if a != 0 {
		return a
	}
	// RFC 8446 §4.4.3: the scheme must be one we offered (never rsa_pkcs1_* in TLS 1.3) and fit the
	// certificate's key; otherwise illegal_parameter. A signature that does not verify: decrypt_error.
	pub := e.certs()[0].PublicKey
	if !containsScheme(verifySchemes, scheme) || !schemeFitsKey(pub, scheme, false) {
		return AlertIllegalParameter
	}
	if !verifySignature(pub, scheme, e.signedContent(context), sig, false, e.verifyBuf[:]) {
		return AlertDecryptError
	}
	e.peerScheme = scheme
	return 0
}

func (e *Engine) now() time.Time {
	if e.cfg.Time != nil {
		return e.cfg.Time()
	}
	return time.Time{}
}
