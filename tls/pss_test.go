package tls

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rsa_pss_pss_* (RFC 8446 §4.2.3): certificates whose key is id-RSASSA-PSS (RFC 4055), made by
// OpenSSL (crypto/x509 cannot create them) and signed by the test CA.

type pssCert struct {
	chain    [][]byte
	key      *rsa.PrivateKey
	certFile string
	keyFile  string
}

// makePSSCert generates an RSA-PSS key with the given genpkey options and a leaf certificate for
// card.example (digitalSignature, serverAuth and clientAuth) signed by the test CA, valid from now.
func makePSSCert(t *testing.T, ossl string, opts ...string) pssCert {
	p := getPKI(t)
	dir := t.TempDir()
	ca := writePEM(t, dir, "ca.pem", "CERTIFICATE", p.caCert.Raw)
	k8, err := x509.MarshalPKCS8PrivateKey(p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	caKey := writePEM(t, dir, "ca.key", "PRIVATE KEY", k8)
	ext := filepath.Join(dir, "ext")
	os.WriteFile(ext, []byte("subjectAltName=DNS:card.example\nkeyUsage=critical,digitalSignature\n"+
		"extendedKeyUsage=serverAuth,clientAuth\n"), 0o600)
	run := func(args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, ossl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run(append([]string{"genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "k.pem"}, opts...)...)
	run("req", "-new", "-key", "k.pem", "-subj", "/CN=card pss", "-out", "l.csr")
	run("x509", "-req", "-in", "l.csr", "-CA", ca, "-CAkey", caKey, "-set_serial", "99", "-days", "30",
		"-extfile", ext, "-out", "l.pem")
	run("rsa", "-in", "k.pem", "-traditional", "-out", "k1.pem")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", name)
		}
		return blk.Bytes
	}
	key, err := x509.ParsePKCS1PrivateKey(read("k1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return pssCert{chain: [][]byte{read("l.pem"), p.caCert.Raw}, key: key,
		certFile: filepath.Join(dir, "l.pem"), keyFile: filepath.Join(dir, "k.pem")}
}

// TestParsePSSPublicKey: the SubjectPublicKeyInfo of RSA-PSS keys without parameters (any hash)
// and with SHA-256 parameters parses; SHA-1 parameters (unusable in TLS) and an rsaEncryption key
// do not; the certificate's PublicKey is filled by readCertList.
func TestParsePSSPublicKey(t *testing.T) {
	ossl := needOpenSSL(t)
	any := makePSSCert(t, ossl)
	sha256 := makePSSCert(t, ossl, "-pkeyopt", "rsa_pss_keygen_md:sha256", "-pkeyopt", "rsa_pss_keygen_mgf1_md:sha256",
		"-pkeyopt", "rsa_pss_keygen_saltlen:32")
	sha1 := makePSSCert(t, ossl, "-pkeyopt", "rsa_pss_keygen_md:sha1")
	for _, c := range []struct {
		name  string
		chain [][]byte
		ok    bool
		hash  crypto.Hash
	}{{"any", any.chain, true, 0}, {"sha256", sha256.chain, true, crypto.SHA256}, {"sha1", sha1.chain, false, 0},
		{"rsaEncryption", getPKI(t).rsaChain, false, 0}} {
		leaf, _ := x509.ParseCertificate(c.chain[0])
		k := parsePSSPublicKey(leaf.RawSubjectPublicKeyInfo)
		if (k != nil) != c.ok || (k != nil && (k.Hash != c.hash || k.N.BitLen() != 2048)) {
			t.Fatalf("%s: %+v", c.name, k)
		}
		list := appendCertList(c.chain)
		certs, a := readCertList(list, false)
		if a != 0 {
			t.Fatalf("%s: alert %d", c.name, a)
		}
		if _, isPSS := certs[0].PublicKey.(*RSAPSSPublicKey); isPSS != c.ok {
			t.Fatalf("%s: PublicKey %T", c.name, certs[0].PublicKey)
		}
	}
}

func appendCertList(chain [][]byte) []byte {
	var b []byte
	for _, c := range chain {
		b = append(b, byte(len(c)>>16), byte(len(c)>>8), byte(len(c)))
		b = append(b, c...)
	}
	return b
}

// TestPSSPSSPair: our client accepts rsa_pss_pss_* from a server with an id-RSASSA-PSS
// certificate (TLS 1.3 and 1.2), and refuses with illegal_parameter a pss_pss scheme whose hash
// the key's parameters exclude, an rsae scheme with a PSS key, and a pss_pss scheme with an
// rsaEncryption key (RFC 8446 §4.2.3); a PSS key with SHA-1 parameters gets
// unsupported_certificate.
func TestPSSPSSPair(t *testing.T) {
	ossl := needOpenSSL(t)
	p := getPKI(t)
	anyHash := makePSSCert(t, ossl)
	sha256 := makePSSCert(t, ossl, "-pkeyopt", "rsa_pss_keygen_md:sha256", "-pkeyopt", "rsa_pss_keygen_mgf1_md:sha256",
		"-pkeyopt", "rsa_pss_keygen_saltlen:32")
	sha1 := makePSSCert(t, ossl, "-pkeyopt", "rsa_pss_keygen_md:sha1")
	for _, c := range []struct {
		name   string
		chain  [][]byte
		key    crypto.Signer
		scheme SignatureScheme
		want   uint8
	}{
		{"any/0809", anyHash.chain, anyHash.key, PSSPSSWithSHA256, 0},
		{"any/080b", anyHash.chain, anyHash.key, PSSPSSWithSHA512, 0},
		{"sha256/0809", sha256.chain, sha256.key, PSSPSSWithSHA256, 0},
		{"sha256/080a", sha256.chain, sha256.key, PSSPSSWithSHA384, AlertIllegalParameter},
		{"any/0804", anyHash.chain, anyHash.key, PSSWithSHA256, AlertIllegalParameter},
		{"rsae/0809", p.rsaChain, p.rsaKey, PSSPSSWithSHA256, AlertIllegalParameter},
		{"sha1/0809", sha1.chain, sha1.key, PSSPSSWithSHA256, AlertUnsupportedCert},
	} {
		for _, v := range []uint16{VersionTLS13, VersionTLS12} {
			t.Run(fmt.Sprintf("%s/%04x", c.name, v), func(t *testing.T) {
				sc := &Config{Rand: seeded(42), Time: time.Now, Certificate: c.chain, Signer: c.key, test: &testHooks{ownScheme: c.scheme}}
				cc := clientConfig(t)
				cc.Time, cc.MaxVersion = time.Now, v
				_, cl, errS, errC := memPair(t, sc, cc)
				if c.want == 0 {
					if errS != nil || errC != nil || cl.ConnectionState().SignatureScheme != c.scheme {
						t.Fatal(errS, errC)
					}
					return
				}
				expectAlert(t, errC, c.want, false)
				expectAlert(t, errS, c.want, true)
			})
		}
	}
}

// TestOpenSSLServerPSSPSS: our client against `openssl s_server` with an id-RSASSA-PSS certificate,
// TLS 1.3 and TLS 1.2 only: the server signs with rsa_pss_pss_*.
func TestOpenSSLServerPSSPSS(t *testing.T) {
	ossl := needOpenSSL(t)
	pc := makePSSCert(t, ossl)
	for _, c := range []struct {
		args   []string
		scheme SignatureScheme
	}{{[]string{"-tls1_3"}, PSSPSSWithSHA256}, {[]string{"-tls1_3", "-sigalgs", "rsa_pss_pss_sha512"}, PSSPSSWithSHA512},
		{[]string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, PSSPSSWithSHA256}} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			addr := startSServer(t, ossl, pc.chain, nil, append([]string{"-key", pc.keyFile}, c.args...)...)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			raw.SetDeadline(time.Now().Add(20 * time.Second))
			cc := clientConfig(t)
			cc.Time = time.Now
			cl := NewConn(raw, NewClient(cc, 0))
			defer cl.Close()
			if _, err := cl.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			resp, err := io.ReadAll(cl)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !strings.Contains(string(resp), "200 ok") {
				t.Fatalf("response %q", resp)
			}
			if cs := cl.Engine().ConnectionState(); cs.SignatureScheme != c.scheme {
				t.Fatalf("%+v", cs)
			}
		})
	}
}
