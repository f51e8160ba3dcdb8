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
	content := e.signedContent(context)
	var sig []byte
	var err error
	if e.ownScheme == Ed25519 {
		sig, err = e.signer.Sign(e.cfg.Rand, content, crypto.Hash(0))
	} else {
		d := sha256.Sum256(content)
		copy(e.digest[:], d[:])
		sig, err = e.signer.Sign(e.cfg.Rand, e.digest[:32], crypto.SHA256)
	}
	if err != nil {
		return dst, err
	}
	if len(sig) > maxSignature {
		return dst, errors.New("tls: signature too long")
	}
	n := 4 + len(sig)
	dst = append(dst, typeCertificateVerify, 0, byte(n>>8), byte(n), byte(e.ownScheme>>8), byte(e.ownScheme),
		byte(len(sig)>>8), byte(len(sig)))
	return append(dst, sig...), nil
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
	certs := make([]*x509.Certificate, 0, n)
	for len(list) > 0 {
		var der []byte
		der, list = next(list)
		c, err := x509.ParseCertificate(append([]byte(nil), der...))
		if err != nil {
			return nil, AlertBadCertificate
		}
		certs = append(certs, c)
	}
	return certs, 0
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
	switch certs[0].PublicKey.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
		return 0
	}
	return AlertUnsupportedCert
}

// verifySignature checks a CertificateVerify signature with the peer's public key.
func verifySignature(pub any, scheme SignatureScheme, content, sig []byte) bool {
	switch scheme {
	case Ed25519:
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, content, sig)
	case ECDSAWithP256AndSHA256, ECDSAWithP384AndSHA384, ECDSAWithP521AndSHA512:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		switch {
		case scheme == ECDSAWithP256AndSHA256 && k.Curve == elliptic.P256():
			d := sha256.Sum256(content)
			return ecdsa.VerifyASN1(k, d[:], sig)
		case scheme == ECDSAWithP384AndSHA384 && k.Curve == elliptic.P384():
			d := sha512.Sum384(content)
			return ecdsa.VerifyASN1(k, d[:], sig)
		case scheme == ECDSAWithP521AndSHA512 && k.Curve == elliptic.P521():
			d := sha512.Sum512(content)
			return ecdsa.VerifyASN1(k, d[:], sig)
		}
		return false
	case PSSWithSHA256, PSSWithSHA384, PSSWithSHA512:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return false
		}
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		switch scheme {
		case PSSWithSHA256:
			d := sha256.Sum256(content)
			return rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, opts) == nil
		case PSSWithSHA384:
			d := sha512.Sum384(content)
			return rsa.VerifyPSS(k, crypto.SHA384, d[:], sig, opts) == nil
		default:
			d := sha512.Sum512(content)
			return rsa.VerifyPSS(k, crypto.SHA512, d[:], sig, opts) == nil
		}
	}
	return false
}

// appendSigAlgs appends the signature_algorithms extension with the schemes we verify.
func appendSigAlgs(dst []byte) []byte {
	n := 2 * len(verifySchemes)
	dst = append(dst, 0, extSignatureAlgorithms, byte((n+2)>>8), byte(n+2), byte(n>>8), byte(n))
	for _, s := range verifySchemes {
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
	offered := false
	for _, s := range verifySchemes {
		if s == scheme {
			offered = true
		}
	}
	if !offered {
		return AlertIllegalParameter
	}
	if !verifySignature(e.peerCerts[0].PublicKey, scheme, e.signedContent(context), sig) {
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
