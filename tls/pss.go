package tls

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
)

// RSAPSSPublicKey is the key of a certificate whose SubjectPublicKeyInfo names id-RSASSA-PSS
// (RFC 4055 §1.2, RFC 5756): such a key may only sign with RSASSA-PSS, so in TLS only with
// rsa_pss_pss_sha256/384/512 (RFC 8446 §4.2.3). crypto/x509 leaves such keys unparsed
// (PublicKey nil); the engine fills a peer certificate's PublicKey with this type.
type RSAPSSPublicKey struct {
	*rsa.PublicKey
	// Hash is the digest the key's RSASSA-PSS-params fix (0 when the parameters are absent: any).
	Hash crypto.Hash
}

// rsa_pss_pss_* signature schemes (RFC 8446 §4.2.3).
const (
	PSSPSSWithSHA256 SignatureScheme = 0x0809
	PSSPSSWithSHA384 SignatureScheme = 0x080a
	PSSPSSWithSHA512 SignatureScheme = 0x080b
)

func isPSSPSS(s SignatureScheme) bool {
	return s == PSSPSSWithSHA256 || s == PSSPSSWithSHA384 || s == PSSPSSWithSHA512
}

var (
	oidRSASSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// pssParams is RSASSA-PSS-params (RFC 4055 §3.1). The defaults (SHA-1, MGF1 with SHA-1) are not
// usable in TLS 1.3.
type pssParams struct {
	Hash       pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MGF        pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	SaltLength int                      `asn1:"optional,explicit,tag:2,default:20"`
	Trailer    int                      `asn1:"optional,explicit,tag:3,default:1"`
}

func hashByOID(o asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case o.Equal(oidSHA256):
		return crypto.SHA256
	case o.Equal(oidSHA384):
		return crypto.SHA384
	case o.Equal(oidSHA512):
		return crypto.SHA512
	}
	return 0
}

// parsePSSPublicKey parses a SubjectPublicKeyInfo with the id-RSASSA-PSS algorithm (nil for any
// other algorithm, or when the key or its parameters are malformed or unusable in TLS). Parameters,
// when present, must name SHA-256/384/512 for the hash and MGF1 with the same hash, a minimum salt
// no longer than the digest (TLS salts are as long as the digest) and trailer field 1.
func parsePSSPublicKey(spki []byte) *RSAPSSPublicKey {
	var s struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(spki, &s); err != nil || len(rest) > 0 || !s.Algorithm.Algorithm.Equal(oidRSASSAPSS) {
		return nil
	}
	k, err := x509.ParsePKCS1PublicKey(s.PublicKey.RightAlign())
	if err != nil {
		return nil
	}
	key := &RSAPSSPublicKey{PublicKey: k}
	if p := s.Algorithm.Parameters.FullBytes; len(p) > 0 && !(len(p) == 2 && p[0] == 5 && p[1] == 0) {
		var pp pssParams
		if rest, err := asn1.Unmarshal(p, &pp); err != nil || len(rest) > 0 {
			return nil
		}
		h := hashByOID(pp.Hash.Algorithm)
		if h == 0 || !pp.MGF.Algorithm.Equal(oidMGF1) || pp.Trailer != 1 || pp.SaltLength < 0 || pp.SaltLength > h.Size() {
			return nil
		}
		var mgfHash pkix.AlgorithmIdentifier
		if rest, err := asn1.Unmarshal(pp.MGF.Parameters.FullBytes, &mgfHash); err != nil || len(rest) > 0 ||
			hashByOID(mgfHash.Algorithm) != h {
			return nil
		}
		key.Hash = h
	}
	return key
}
