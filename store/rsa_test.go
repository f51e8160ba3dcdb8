package store

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var rsaOnce sync.Once
var rsaTestKey *rsa.PrivateKey

// testRSAKey is one RSA-2048 key drawn from a seeded reader, shared by the tests.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := newRSAKey(seeded(77), 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaTestKey = k
	})
	return rsaTestKey
}

// TestRSAIdentity: an RSA-2048 identity generated in the store from the injected reader (the
// same reader gives the same key), signing RSA-PSS and PKCS #1 v1.5 through the Signer only,
// surviving reopen, self-signing, and replaced by a P-256 key (and back) in one transaction each.
func TestRSAIdentity(t *testing.T) {
	m := NewMemMedium(8192)
	s, _ := CreateMedium(m, 8192, seeded(1))
	before := s.Used()
	if err := s.GenerateKeyType(seeded(3), KeyRSA2048); err != nil {
		t.Fatal(err)
	}
	if s.KeyType() != KeyRSA2048 || !s.HasKey() {
		t.Fatal("key type", s.KeyType())
	}
	grown := s.Used() - before
	t.Logf("an RSA-2048 key takes %d bytes of the data area (PKCS #1 DER %d)", grown, len(s.ds.rsaKey))
	if grown < 1100 || grown > 1400 {
		t.Fatalf("RSA key record of %d bytes", grown)
	}
	pub, err := s.Public()
	if err != nil {
		t.Fatal(err)
	}
	rpub := pub.(*rsa.PublicKey)
	if rpub.N.BitLen() != 2048 || rpub.E != 65537 {
		t.Fatalf("modulus %d bits, e %d", rpub.N.BitLen(), rpub.E)
	}
	if _, err := s.PublicKey(); !errors.Is(err, ErrNotECDSA) {
		t.Fatal("PublicKey on an RSA card:", err)
	}
	s2, _ := CreateMedium(NewMemMedium(8192), 8192, seeded(1))
	s2.GenerateKeyType(seeded(3), KeyRSA2048)
	if pub2, _ := s2.Public(); !rpub.Equal(pub2) {
		t.Fatal("RSA key generation not deterministic in the injected reader")
	}
	sg, _ := s.Signer()
	if _, ok := sg.(*rsa.PrivateKey); ok {
		t.Fatal("Signer is the private key")
	}
	d := sha256.Sum256([]byte("msg"))
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	sig, err := sg.Sign(seeded(4), d[:], pss)
	if err != nil || rsa.VerifyPSS(rpub, crypto.SHA256, d[:], sig, pss) != nil {
		t.Fatal("PSS signature does not verify", err)
	}
	sig, err = sg.Sign(seeded(4), d[:], crypto.SHA256)
	if err != nil || rsa.VerifyPKCS1v15(rpub, crypto.SHA256, d[:], sig) != nil {
		t.Fatal("PKCS #1 v1.5 signature does not verify", err)
	}
	der, err := s.SelfSign("card", []net.IP{net.IPv4(10, 0, 0, 2)}, nil, t0, t0.Add(time.Hour), seeded(8))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	if err := c.CheckSignatureFrom(c); err != nil || !rpub.Equal(c.PublicKey) {
		t.Fatal("self-signed", err)
	}
	if _, err := s.CSR("card", nil, nil, seeded(5)); err != nil {
		t.Fatal(err)
	}
	// Reopen: the same key, the certificate still matches it.
	r, err := OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	if pubR, _ := r.Public(); r.KeyType() != KeyRSA2048 || !rpub.Equal(pubR) || len(r.Certificate()) != 1 {
		t.Fatal("reopened store lost the RSA identity")
	}
	if err := r.ImportCertificate(der, nil); err != nil {
		t.Fatal("own certificate refused:", err)
	}
	// Replaced by a P-256 key: the RSA record and the certificate go in the same transaction.
	if err := r.GenerateKey(seeded(9)); err != nil || r.KeyType() != KeyECDSAP256 || r.ds.rsaKey != nil || r.Certificate() != nil {
		t.Fatal("P-256 after RSA", err)
	}
	if err := r.GenerateKeyType(seeded(10), KeyRSA2048); err != nil || r.ds.key != nil || r.KeyType() != KeyRSA2048 {
		t.Fatal("RSA after P-256", err)
	}
	if r2, err := OpenMedium(m); err != nil || r2.KeyType() != KeyRSA2048 {
		t.Fatal("reopen", err)
	}
}

// TestRSAKeyDoesNotFitSmallImage: the smallest image cannot hold an RSA key; the transaction
// fails with ErrFull and the store is unchanged.
func TestRSAKeyDoesNotFitSmallImage(t *testing.T) {
	m := NewMemMedium(MinSize)
	s, _ := CreateMedium(m, MinSize, seeded(1))
	if err := s.setRSAKey(testRSAKey(t)); !errors.Is(err, ErrFull) {
		t.Fatal("RSA key in a 2 KiB image:", err)
	}
	if s.HasKey() {
		t.Fatal("failed transaction left a key")
	}
	if r, err := OpenMedium(m); err != nil || r.HasKey() {
		t.Fatal(err)
	}
}

// TestRSAKeyRecordNegative: a data area with two identity keys, an empty or oversized RSA key
// record, a record that is not PKCS #1, or an RSA key below 2048 bits is refused as corrupt.
func TestRSAKeyRecordNegative(t *testing.T) {
	good := x509.MarshalPKCS1PrivateKey(testRSAKey(t))
	small, err := rsa.GenerateKey(seeded(1), 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*dataState{
		"both":     {key: bytes.Repeat([]byte{1}, 32), rsaKey: good},
		"empty":    {rsaKey: []byte{}},
		"huge":     {rsaKey: make([]byte, maxRSAKeyRecord+1)},
		"junk":     {rsaKey: []byte("not a key")},
		"1024bits": {rsaKey: x509.MarshalPKCS1PrivateKey(small)},
	} {
		t.Run(name, func(t *testing.T) {
			m := NewMemMedium(8192)
			s, _ := CreateMedium(m, 8192, seeded(1))
			// Write the state directly, as a corrupted or forged image would hold it.
			if name == "empty" {
				d.rsaKey = []byte{} // encode skips nil, not empty
			}
			body := d.encode()
			if name == "both" {
				body = appendRec(appendRec([]byte{1}, recKey, d.key), recKeyRSA, d.rsaKey)
			}
			if err := s.data.commit(m, body); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenMedium(m); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("opened: %v", err)
			}
		})
	}
}

// TestOldImagesOpen: the checked-in seed image with a P-256 identity (written before RSA
// identities existed) opens as before.
func TestOldImagesOpen(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpen", "seed1"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	raw := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lines[1]), "[]byte("), ")")
	img, err := strconv.Unquote(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenMedium(fuzzMedium([]byte(img))) // seeds are stored without their trailing zeros
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyType() != KeyECDSAP256 {
		t.Fatal("key type", s.KeyType())
	}
	if _, ok := s.priv.(*ecdsa.PrivateKey); !ok {
		t.Fatal("not ECDSA")
	}
}

// TestNoKeyExportRSA: as TestNoKeyExport, for a card holding an RSA identity: no method returns
// an RSA private key type or bytes of the PKCS #1 key, its private exponent or its primes.
func TestNoKeyExportRSA(t *testing.T) {
	s, _ := CreateMedium(NewMemMedium(16384), 16384, seeded(1))
	if err := s.setRSAKey(testRSAKey(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SelfSign("card", nil, []string{"card.local"}, t0, t0.Add(time.Hour), seeded(2)); err != nil {
		t.Fatal(err)
	}
	k := testRSAKey(t)
	secrets := [][]byte{s.ds.rsaKey, k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes(), k.Precomputed.Dp.Bytes()}
	noKeyExport(t, s, secrets)
}
