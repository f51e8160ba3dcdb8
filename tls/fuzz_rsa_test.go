package tls

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzHandshake12RSA drives the ECDHE_RSA paths with arbitrary messages: a client that has an RSA
// server's TLS 1.2 ServerHello and Certificate gets the input as ServerKeyExchange (RSA-PSS and
// PKCS #1 v1.5 verification of attacker bytes) and as a whole record; an RSA server that asked for
// a client certificate gets it as the client's Certificate. It also runs the signature scheme
// checks and verifiers directly, for RSA, ECDSA and Ed25519 keys in both versions' rules.
func FuzzHandshake12RSA(f *testing.F) {
	for _, s := range fuzzRSASeeds(f) {
		f.Add(s)
	}
	p := getPKI(f)
	cc := fuzzClientConfig(f)
	cc.MaxVersion = VersionTLS12
	sc := rsaServerConfig(f)
	sc.ClientAuth = RequireAnyClientCert
	// RSA signing under the fuzzer's coverage instrumentation takes tens of milliseconds: the
	// server, whose signature nobody checks here, signs with a stand-in.
	sc.Signer = fixedSigner{p.rsaKey.Public()}
	shCert, chRec := rsa12Prefix(f)
	pubs := []any{&p.rsaKey.PublicKey, &p.ecKey.PublicKey, p.edKey.Public()}
	buf := make([]byte, 16384)
	f.Fuzz(func(t *testing.T, data []byte) {
		var dig [64]byte
		if s, sig, a := parseCertificateVerify(data); a == 0 {
			for _, pub := range pubs {
				for _, v12 := range []bool{false, true} {
					if schemeFitsKey(pub, s, v12) {
						verifySignature(pub, s, data, sig, v12, dig[:])
						verifyDigest(pub, s, dig[:32], sig)
					}
				}
			}
		}
		if len(data) > 3000 {
			return
		}
		for _, typ := range []byte{typeServerKeyExchange, 0} {
			c := NewClient(cc, 0)
			c.Output(buf)
			unwrapAll(c, append([]byte(nil), shCert...))
			unwrapAll(c, asRecord(typ, data))
			c.Output(buf)
		}
		s := NewServer(sc, 0)
		unwrapAll(s, append([]byte(nil), chRec...))
		s.Output(buf)
		unwrapAll(s, asRecord(typeCertificate, data))
		s.Output(buf)
	})
}

// fixedSigner has a real public key and returns a fixed signature of the modulus size.
type fixedSigner struct{ pub crypto.PublicKey }

func (s fixedSigner) Public() crypto.PublicKey { return s.pub }
func (s fixedSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
}

// asRecord wraps data as a handshake message of type typ in a plaintext record (typ 0: data is
// the record).
func asRecord(typ byte, data []byte) []byte {
	in := append([]byte(nil), data...)
	if typ != 0 {
		msg := append([]byte{typ, 0, byte(len(data) >> 8), byte(len(data))}, data...)
		in = append([]byte{22, 3, 3, byte(len(msg) >> 8), byte(len(msg))}, msg...)
	}
	return in
}

// rsa12Prefix returns a record with an RSA server's TLS 1.2 ServerHello and Certificate (for a
// client) and a TLS 1.2 ClientHello record (for a server).
func rsa12Prefix(t testing.TB) (shCert, chRec []byte) {
	cc := fuzzClientConfig(t)
	cc.MaxVersion = VersionTLS12
	c := NewClient(cc, 0)
	s := NewServer(rsaServerConfig(t), 0)
	buf := make([]byte, 16384)
	n := c.Output(buf)
	chRec = append([]byte(nil), buf[:n]...)
	feedAll(t, s, buf[:n])
	body := handshakeBytes(buf[:s.Output(buf)])
	end := 0
	for i := 0; i < 2; i++ {
		end += 4 + (int(body[end+1])<<16 | int(body[end+2])<<8 | int(body[end+3]))
	}
	return append([]byte{22, 3, 3, byte(end >> 8), byte(end)}, body[:end]...), chRec
}

// handshakeBytes concatenates the bodies of the plaintext handshake records in recs (a flight
// split into several records).
func handshakeBytes(recs []byte) []byte {
	var out []byte
	for len(recs) >= 5 {
		l := int(recs[3])<<8 | int(recs[4])
		if recs[0] == recordHandshake {
			out = append(out, recs[5:5+l]...)
		}
		recs = recs[5+l:]
	}
	return out
}

// fuzzRSASeeds: the messages of an RSA server's TLS 1.2 flight (ServerKeyExchange signed with
// RSA-PSS and, from a second server, with PKCS #1 v1.5), an RSA client Certificate, and
// CertificateVerify bodies for each RSA scheme.
func fuzzRSASeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, scheme := range []SignatureScheme{0, PKCS1WithSHA256} {
		cc := fuzzClientConfig(t)
		cc.MaxVersion = VersionTLS12
		sc := rsaServerConfig(t)
		sc.setHooks().ownScheme = scheme
		c, s := NewClient(cc, 0), NewServer(sc, 0)
		buf := make([]byte, 16384)
		feedAll(t, s, buf[:c.Output(buf)])
		body := handshakeBytes(buf[:s.Output(buf)])
		for len(body) >= 4 {
			l := 4 + (int(body[1])<<16 | int(body[2])<<8 | int(body[3]))
			out = append(out, append([]byte(nil), body[4:l]...))
			body = body[l:]
		}
	}
	e := NewServer(rsaServerConfig(t), 0)
	out = append(out, e.appendCertificate12(nil, true)[4:])
	for _, s := range []SignatureScheme{PSSWithSHA256, PSSWithSHA384, PSSWithSHA512, PKCS1WithSHA256, PKCS1WithSHA384, PKCS1WithSHA512} {
		out = append(out, append([]byte{byte(s >> 8), byte(s), 1, 0}, make([]byte, 256)...))
	}
	return out
}

// FuzzPSSPublicKey runs the id-RSASSA-PSS SubjectPublicKeyInfo parser (RFC 4055 parameters) and,
// for a key it accepts, the scheme check and PSS verification. Seeds: the SPKIs of OpenSSL RSA-PSS
// keys without parameters, with SHA-256 and with SHA-1 parameters, and an rsaEncryption SPKI.
func FuzzPSSPublicKey(f *testing.F) {
	leaf, err := x509.ParseCertificate(getPKI(f).rsaChain[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(leaf.RawSubjectPublicKeyInfo)
	f.Fuzz(func(t *testing.T, spki []byte) {
		k := parsePSSPublicKey(spki)
		if k == nil {
			return
		}
		checkPeerLeaf(&x509.Certificate{PublicKey: k})
		for _, s := range []SignatureScheme{PSSPSSWithSHA256, PSSPSSWithSHA384, PSSPSSWithSHA512, PSSWithSHA256} {
			if schemeFitsKey(k, s, false) {
				verifyDigest(k, s, make([]byte, schemeHash(s).Size()), make([]byte, 256))
			}
		}
	})
}

// TestWriteRSAFuzzSeeds regenerates testdata/fuzz/FuzzHandshake12RSA and FuzzPSSPublicKey when
// NETCARD_WRITE_SEEDS=1 (the RSA-PSS keys come from openssl).
func TestWriteRSAFuzzSeeds(t *testing.T) {
	if os.Getenv("NETCARD_WRITE_SEEDS") != "1" {
		t.Skip("set NETCARD_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	ossl := needOpenSSL(t)
	var spkis [][]byte
	for _, opts := range [][]string{nil, {"-pkeyopt", "rsa_pss_keygen_md:sha256", "-pkeyopt", "rsa_pss_keygen_mgf1_md:sha256",
		"-pkeyopt", "rsa_pss_keygen_saltlen:32"}, {"-pkeyopt", "rsa_pss_keygen_md:sha1"}} {
		leaf, err := x509.ParseCertificate(makePSSCert(t, ossl, opts...).chain[0])
		if err != nil {
			t.Fatal(err)
		}
		spkis = append(spkis, leaf.RawSubjectPublicKeyInfo)
	}
	for name, seeds := range map[string][][]byte{"FuzzHandshake12RSA": fuzzRSASeeds(t), "FuzzPSSPublicKey": spkis} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
