package store

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"time"
)

// ErrNoKey is returned when the card has no identity key yet.
var ErrNoKey = errors.New("store: no identity key")

// p256 order n.
var p256N = elliptic.P256().Params().N

// KeyType names the kind of identity key the card holds.
type KeyType uint8

// Identity key types.
const (
	KeyNone      KeyType = iota
	KeyECDSAP256         // ECDSA on P-256 (the default)
	KeyRSA2048           // RSA, 2048-bit modulus, e = 65537
)

// String returns the key type as netcard init's --key flag spells it.
func (k KeyType) String() string {
	switch k {
	case KeyECDSAP256:
		return "p256"
	case KeyRSA2048:
		return "rsa2048"
	}
	return "none"
}

// ParseKeyType parses a --key flag value ("p256", "ecdsa", "rsa2048", "rsa").
func ParseKeyType(v string) (KeyType, error) {
	switch v {
	case "p256", "ecdsa", "ecdsa-p256":
		return KeyECDSAP256, nil
	case "rsa2048", "rsa":
		return KeyRSA2048, nil
	}
	return KeyNone, fmt.Errorf("store: unknown key type %q (p256 or rsa2048)", v)
}

// KeyType returns the type of the identity key (KeyNone without one).
func (s *Store) KeyType() KeyType {
	switch s.priv.(type) {
	case *ecdsa.PrivateKey:
		return KeyECDSAP256
	case *rsa.PrivateKey:
		return KeyRSA2048
	}
	return KeyNone
}

// GenerateKeyType generates a new identity key of type kt from rand and stores
// it in one transaction, replacing any previous key (of either type); the
// certificate and chain, which no longer match, are removed. An RSA-2048 key
// takes about 1.2 KB of the data area (PKCS #1 DER), and so does each of its
// two shadow copies: it does not fit the smallest images.
func (s *Store) GenerateKeyType(rand io.Reader, kt KeyType) error {
	switch kt {
	case KeyECDSAP256:
		return s.GenerateKey(rand)
	case KeyRSA2048:
		return s.generateRSA(rand)
	}
	return fmt.Errorf("store: cannot generate a key of type %d", kt)
}

// GenerateKey generates a new ECDSA P-256 identity key on the card from rand
// (FIPS 186-5 A.2.1: 64 extra bits, reduced mod n-1, plus 1) and stores it in
// one transaction, replacing any previous key; the certificate and chain,
// which no longer match, are removed.
func (s *Store) GenerateKey(rand io.Reader) error {
	var buf [40]byte
	if _, err := io.ReadFull(rand, buf[:]); err != nil {
		return fmt.Errorf("store: reading randomness: %w", err)
	}
	k := new(big.Int).SetBytes(buf[:])
	nm1 := new(big.Int).Sub(p256N, big.NewInt(1))
	k.Mod(k, nm1).Add(k, big.NewInt(1))
	d := k.FillBytes(make([]byte, 32))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return err
	}
	if err := s.updateData("key", "identity", func(ds *dataState) error {
		ds.key, ds.rsaKey, ds.cert, ds.chain = d, nil, nil, nil
		return nil
	}); err != nil {
		return err
	}
	s.priv = priv
	return nil
}

// HasKey reports whether an identity key exists.
func (s *Store) HasKey() bool { return s.priv != nil }

// ErrNotECDSA is returned by PublicKey when the identity key is RSA.
var ErrNotECDSA = errors.New("store: the identity key is not ECDSA")

// PublicKey returns the identity public key if it is ECDSA (see Public for
// any type).
func (s *Store) PublicKey() (*ecdsa.PublicKey, error) {
	if s.priv == nil {
		return nil, ErrNoKey
	}
	k, ok := s.priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, ErrNotECDSA
	}
	pub := k.PublicKey
	return &pub, nil
}

// Public returns a copy of the identity public key: *ecdsa.PublicKey or
// *rsa.PublicKey.
func (s *Store) Public() (crypto.PublicKey, error) {
	if s.priv == nil {
		return nil, ErrNoKey
	}
	return publicCopy(s.priv), nil
}

func publicCopy(k crypto.Signer) crypto.PublicKey {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		pub := k.PublicKey
		return &pub
	case *rsa.PrivateKey:
		return &rsa.PublicKey{N: new(big.Int).Set(k.N), E: k.E}
	}
	return nil
}

// signer is the only handle on the private key outside the store; its field
// is unexported so nothing can extract the key through it.
type signer struct{ k crypto.Signer }

func (g signer) Public() crypto.PublicKey { return publicCopy(g.k) }

func (g signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return g.k.Sign(rand, digest, opts)
}

// Signer returns a crypto.Signer for the current identity key. ECDSA: ASN.1
// signatures over a caller-computed digest; a nil rand gives a deterministic
// RFC 6979 signature, which needs opts.HashFunc(). RSA: RSASSA-PSS when opts
// is an *rsa.PSSOptions, RSASSA-PKCS1-v1_5 otherwise. It keeps signing with
// the key it was made for even if GenerateKey later replaces it.
func (s *Store) Signer() (crypto.Signer, error) {
	if s.priv == nil {
		return nil, ErrNoKey
	}
	return signer{s.priv}, nil
}

func serial(rand io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	b[0] |= 0x01 // positive, non-zero, full length
	return new(big.Int).SetBytes(b[:]), nil
}

// SelfSign issues a self-signed X.509 certificate for the identity key
// (serverAuth and clientAuth) with the given subject common name and SANs,
// stores it as the card's certificate (clearing any chain) in one
// transaction and returns its DER.
func (s *Store) SelfSign(cn string, ipSANs []net.IP, dnsSANs []string, notBefore, notAfter time.Time, rand io.Reader) ([]byte, error) {
	sg, err := s.Signer()
	if err != nil {
		return nil, err
	}
	sn, err := serial(rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           ipSANs,
		DNSNames:              dnsSANs,
	}
	// rand supplies the serial number; the signature is deterministic
	// (RFC 6979), so the certificate is a function of the key and rand.
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, sg.Public(), sg)
	if err != nil {
		return nil, err
	}
	if err := s.updateData("cert", cn, func(d *dataState) error {
		d.cert, d.chain = der, nil
		return nil
	}); err != nil {
		return nil, err
	}
	return der, nil
}

// CSR returns a PKCS#10 certificate request for the identity key.
func (s *Store) CSR(cn string, ipSANs []net.IP, dnsSANs []string, rand io.Reader) ([]byte, error) {
	sg, err := s.Signer()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: cn},
		IPAddresses: ipSANs,
		DNSNames:    dnsSANs,
	}
	return x509.CreateCertificateRequest(rand, tmpl, sg)
}

// ErrKeyMismatch is returned by ImportCertificate for a certificate that is
// not for the card's identity key.
var ErrKeyMismatch = errors.New("store: certificate does not match the identity key")

// ImportCertificate stores an issuer-signed certificate for the identity key
// and its optional issuer chain (DER, leaf's issuer first) in one
// transaction. The certificate must parse and carry the identity public key;
// each chain element must parse.
func (s *Store) ImportCertificate(der []byte, chain [][]byte) error {
	if s.priv == nil {
		return ErrNoKey
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("store: certificate: %w", err)
	}
	if pub, ok := publicCopy(s.priv).(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(c.PublicKey) {
		return ErrKeyMismatch
	}
	cp := [][]byte{}
	for i, b := range chain {
		if _, err := x509.ParseCertificate(b); err != nil {
			return fmt.Errorf("store: chain certificate %d: %w", i, err)
		}
		cp = append(cp, append([]byte(nil), b...))
	}
	der = append([]byte(nil), der...)
	return s.updateData("cert", c.Subject.CommonName, func(d *dataState) error {
		d.cert, d.chain = der, cp
		return nil
	})
}

// Certificate returns the card's certificate chain, leaf first (nil if
// none), ready for a TLS configuration. The slices must not be modified.
func (s *Store) Certificate() [][]byte {
	if s.ds.cert == nil {
		return nil
	}
	return append([][]byte{s.ds.cert}, s.ds.chain...)
}

// SetAnchors replaces the trust anchors (DER certificates) used to verify
// outbound TLS peers, in one transaction.
func (s *Store) SetAnchors(ders [][]byte) error {
	cp := make([][]byte, 0, len(ders))
	for i, b := range ders {
		if _, err := x509.ParseCertificate(b); err != nil {
			return fmt.Errorf("store: anchor %d: %w", i, err)
		}
		cp = append(cp, append([]byte(nil), b...))
	}
	return s.updateData("anchors", fmt.Sprint(len(cp)), func(d *dataState) error {
		d.anchors = cp
		return nil
	})
}

// Anchors returns the trust anchors (DER). The slices must not be modified.
func (s *Store) Anchors() [][]byte { return append([][]byte(nil), s.ds.anchors...) }

// SetAdminKey stores the administrator's public key (DER SubjectPublicKeyInfo,
// e.g. from an admin certificate), in one transaction.
func (s *Store) SetAdminKey(spki []byte) error {
	if _, err := x509.ParsePKIXPublicKey(spki); err != nil {
		return fmt.Errorf("store: admin key: %w", err)
	}
	k := append([]byte(nil), spki...)
	return s.updateData("admin", "key", func(d *dataState) error {
		d.adminKey = k
		return nil
	})
}

// AdminKey returns the administrator's public key (DER SPKI), or nil.
func (s *Store) AdminKey() []byte { return s.ds.adminKey }

// MinAdminSecretBits is the least estimated entropy SetAdminSecret accepts:
// online guessing at any rate the card can answer is then hopeless, so a
// wrong bearer token needs no hold that could also lock out the right one.
const MinAdminSecretBits = 128

// MaxAdminSecretLen is the longest admin secret SetAdminSecret accepts.
const MaxAdminSecretLen = 256

// ErrWeakSecret is returned by SetAdminSecret for a secret below
// MinAdminSecretBits.
var ErrWeakSecret = errors.New("store: admin secret too weak (needs 128 bits: e.g. 22 random base64url characters or 32 hex digits)")

// SecretBits estimates a secret's entropy in bits as a random string of
// its effective length (effectiveLen: repeats and runs removed) over the
// character classes it uses (lower case 26, upper case 26, digits 10,
// anything else 33): an upper bound for chosen passwords, exact for
// generated ones. A secret with fewer than 8 different bytes, or one byte
// making up over a quarter of it, scores 0; so does one over
// MaxAdminSecretLen (which SetAdminSecret refuses anyway).
func SecretBits(secret []byte) float64 {
	if len(secret) > MaxAdminSecretLen {
		return 0
	}
	var seen [256]int
	distinct, top := 0, 0
	var lower, upper, digit, other bool
	for _, c := range secret {
		if seen[c] == 0 {
			distinct++
		}
		seen[c]++
		top = max(top, seen[c])
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			digit = true
		default:
			other = true
		}
	}
	if distinct < 8 || 4*top > len(secret) {
		return 0
	}
	n := 0
	for _, c := range []struct {
		in bool
		k  int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.in {
			n += c.k
		}
	}
	return float64(effectiveLen(secret)) * math.Log2(float64(n))
}

// effectiveLen is the length of secret not counting what a guesser
// predicts from what came before: a repeat of at least minRepeat bytes
// seen earlier (as in "Passw0rd!Passw0rd!", "0123456789" × 4) counts as
// one character, and a byte continuing a run of equal steps of -1, 0 or
// +1 for the third time ("abcd", "9876": the d and the 6) counts as none.
// In a random string both are rare (a repeat of 4 base64 characters
// within 22: p < 10⁻⁴; a 4-run: p ≈ 2·10⁻⁴), so generated secrets keep
// their length; the issue-13 review found periodic and sequential
// secrets of 133–237 estimated bits accepted before.
func effectiveLen(secret []byte) int {
	const minRepeat = 4
	n := 0
	for i := 0; i < len(secret); {
		best := 0
		for j := 0; j < i; j++ {
			k := 0
			for i+k < len(secret) && secret[j+k] == secret[i+k] {
				k++
			}
			best = max(best, k)
		}
		if best >= minRepeat {
			n++
			i += best
			continue
		}
		if i >= 3 {
			d := int(secret[i]) - int(secret[i-1])
			if d >= -1 && d <= 1 && d == int(secret[i-1])-int(secret[i-2]) && d == int(secret[i-2])-int(secret[i-3]) {
				i++
				continue
			}
		}
		n++
		i++
	}
	return n
}

// SetAdminSecret stores a salted hash of an administrator secret (a nil
// secret removes it), in one transaction. A secret under
// MinAdminSecretBits (SecretBits) or over 256 bytes is refused with
// ErrWeakSecret.
func (s *Store) SetAdminSecret(secret []byte) error {
	var h []byte
	if secret != nil {
		if SecretBits(secret) < MinAdminSecretBits || len(secret) > MaxAdminSecretLen {
			return ErrWeakSecret
		}
		x := s.hashSecret("admin", secret)
		h = x[:]
	}
	return s.updateData("admin", "secret", func(d *dataState) error {
		d.adminSecret = h
		return nil
	})
}

// HasAdminSecret reports whether an administrator secret is set.
func (s *Store) HasAdminSecret() bool { return s.ds.adminSecret != nil }

// CheckAdminSecret compares secret with the stored administrator secret in
// constant time; false when none is set.
func (s *Store) CheckAdminSecret(secret []byte) bool {
	h := s.hashSecret("admin", secret)
	if s.ds.adminSecret == nil {
		return false
	}
	return subtle.ConstantTimeCompare(h[:], s.ds.adminSecret) == 1
}
