package tls

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	gotls "crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"testing"
)

// RSA (issue 12): the card as client reaches RSA servers, the card may hold an RSA identity, and
// the signature-scheme rules around RSA, ECDSA and keyUsage are held in both roles.

var rsaSuites12 = []uint16{TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}

func rsaServerConfig(t testing.TB) *Config {
	p := getPKI(t)
	return &Config{Rand: seeded(42), Time: testTime, Certificate: p.rsaChain, Signer: p.rsaKey}
}

// memPair runs a whole handshake between two in-memory engines and returns their errors.
func memPair(t *testing.T, sc, cc *Config) (srv, cl *Engine, errS, errC error) {
	srv, cl = NewServer(sc, 0), NewClient(cc, 0)
	errS, errC = pump(t, srv, cl)
	return
}

// TestRSAPair: our client and our RSA server, TLS 1.3 (rsa_pss_rsae_sha256) and TLS 1.2 with each
// ECDHE_RSA suite (rsa_pss_rsae_sha256 in ServerKeyExchange).
func TestRSAPair(t *testing.T) {
	for _, s := range append([]uint16{TLS_AES_128_GCM_SHA256}, rsaSuites12...) {
		t.Run(fmt.Sprintf("%04x", s), func(t *testing.T) {
			sc, cc := rsaServerConfig(t), clientConfig(t)
			cc.CipherSuites = []uint16{s}
			if suiteInfoByID(s).tls12 {
				cc.MaxVersion = VersionTLS12
			}
			srv, cl, errS, errC := memPair(t, sc, cc)
			if errS != nil || errC != nil {
				t.Fatal(errS, errC)
			}
			cs := cl.ConnectionState()
			if cs.CipherSuite != s || cs.SignatureScheme != PSSWithSHA256 || srv.State() != Established {
				t.Fatalf("%+v", cs)
			}
			roundTrip(t, cl, srv, []byte("rsa"))
		})
	}
}

// TestRSAServerGoClient: crypto/tls as client against our RSA-2048 server, TLS 1.3 and TLS 1.2
// with each ECDHE_RSA suite.
func TestRSAServerGoClient(t *testing.T) {
	for _, s := range append([]uint16{0}, rsaSuites12...) {
		t.Run(fmt.Sprintf("%04x", s), func(t *testing.T) {
			a, b := tcpPair(t)
			srv := NewConn(a, NewServer(rsaServerConfig(t), 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 5) })
			gc := goClientConfig(t)
			if s != 0 {
				gc.MinVersion, gc.MaxVersion, gc.CipherSuites = gotls.VersionTLS12, gotls.VersionTLS12, []uint16{s}
			}
			cl := gotls.Client(b, gc)
			if _, err := cl.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(cl, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			gs := cl.ConnectionState()
			if s != 0 && gs.CipherSuite != s || s == 0 && gs.Version != gotls.VersionTLS13 {
				t.Fatalf("%+v", gs)
			}
			if _, ok := gs.PeerCertificates[0].PublicKey.(*rsa.PublicKey); !ok {
				t.Fatal("not an RSA certificate")
			}
		})
	}
}

// TestRSAClientGoServer: our client against crypto/tls with an RSA-2048 certificate, TLS 1.3 and
// TLS 1.2 with each ECDHE_RSA suite.
func TestRSAClientGoServer(t *testing.T) {
	p := getPKI(t)
	for _, s := range append([]uint16{0}, rsaSuites12...) {
		t.Run(fmt.Sprintf("%04x", s), func(t *testing.T) {
			a, b := tcpPair(t)
			gs := goServerConfig(t)
			gs.Certificates = []gotls.Certificate{{Certificate: p.rsaChain, PrivateKey: p.rsaKey}}
			if s != 0 {
				gs.MinVersion, gs.MaxVersion, gs.CipherSuites = gotls.VersionTLS12, gotls.VersionTLS12, []uint16{s}
			}
			wait := runPeer(func() error { return goServerEcho(gotls.Server(b, gs), 100) })
			c := NewConn(a, NewClient(clientConfig(t), 0))
			msg := bytes.Repeat([]byte("r"), 100)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			cs := c.Engine().ConnectionState()
			if (s == 0 && cs.Version != VersionTLS13) || (s != 0 && cs.CipherSuite != s) || !isPSS(cs.SignatureScheme) {
				t.Fatalf("%+v", cs)
			}
		})
	}
}

// TestRSAMutualGo: RSA client certificates with crypto/tls in both roles, TLS 1.3 and TLS 1.2
// (SHA-256 and SHA-384 suites: the TLS 1.2 CertificateVerify uses the hash of the suite's PRF).
func TestRSAMutualGo(t *testing.T) {
	p := getPKI(t)
	for _, s := range []uint16{0, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384} {
		t.Run(fmt.Sprintf("ourServer/%04x", s), func(t *testing.T) {
			a, b := tcpPair(t)
			sc := serverConfig(t, false)
			sc.ClientAuth, sc.ClientCAs = RequireAndVerifyClientCert, p.caPool
			srv := NewConn(a, NewServer(sc, 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 5) })
			gc := goClientConfig(t)
			gc.Certificates = []gotls.Certificate{{Certificate: p.rsaChain, PrivateKey: p.rsaKey}}
			if s != 0 {
				gc.MinVersion, gc.MaxVersion, gc.CipherSuites = gotls.VersionTLS12, gotls.VersionTLS12, []uint16{s}
			}
			cl := gotls.Client(b, gc)
			if _, err := cl.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(cl, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			cs := srv.Engine().ConnectionState()
			if len(cs.PeerCertificates) != 2 || !isPSS(cs.SignatureScheme) {
				t.Fatalf("%+v", cs)
			}
		})
		t.Run(fmt.Sprintf("ourClient/%04x", s), func(t *testing.T) {
			a, b := tcpPair(t)
			gs := goServerConfig(t)
			gs.ClientAuth, gs.ClientCAs = gotls.RequireAndVerifyClientCert, p.caPool
			if s != 0 {
				gs.MinVersion, gs.MaxVersion, gs.CipherSuites = gotls.VersionTLS12, gotls.VersionTLS12, []uint16{s}
			}
			var peer []*x509.Certificate
			wait := runPeer(func() error {
				c := gotls.Server(b, gs)
				err := goServerEcho(c, 5)
				peer = c.ConnectionState().PeerCertificates
				return err
			})
			cc := clientConfig(t)
			cc.Certificate, cc.Signer = p.rsaChain, p.rsaKey
			c := NewConn(a, NewClient(cc, 0))
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if len(peer) != 2 || peer[0].Subject.CommonName != "card rsa" {
				t.Fatalf("server saw %v", peer)
			}
		})
	}
}

// TestRSASignatureAlgorithmsOffered: a TLS 1.3-only ClientHello and our TLS 1.3 CertificateRequest
// do not offer rsa_pkcs1_* (RFC 8446 §4.2.3); a ClientHello that also offers TLS 1.2 lists them
// after every scheme TLS 1.3 can use.
func TestRSASignatureAlgorithmsOffered(t *testing.T) {
	for _, v := range []struct {
		max, min uint16
		pkcs1    bool
	}{{VersionTLS13, VersionTLS13, false}, {VersionTLS13, VersionTLS12, true}, {VersionTLS12, VersionTLS12, true}} {
		cc := clientConfig(t)
		cc.MinVersion, cc.MaxVersion = v.min, v.max
		c := NewClient(cc, 0)
		buf := make([]byte, 4096)
		n := c.Output(buf)
		var ch clientHello
		if a := parseClientHello(buf[9:n], &ch); a != 0 {
			t.Fatalf("our ClientHello does not parse: %d", a)
		}
		var got []SignatureScheme
		for i := 0; i+1 < len(ch.sigAlgs); i += 2 {
			got = append(got, SignatureScheme(ch.sigAlgs[i])<<8|SignatureScheme(ch.sigAlgs[i+1]))
		}
		want := verifySchemes
		if v.pkcs1 {
			want = verifySchemes12
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%04x-%04x: signature_algorithms %04x, want %04x", v.min, v.max, got, want)
		}
	}
	// Our TLS 1.3 CertificateRequest: the server's flight is encrypted, so check the builder.
	if b := appendSigAlgs(nil, false); bytes.Contains(b, []byte{4, 1}) || bytes.Contains(b, []byte{5, 1}) ||
		bytes.Contains(b, []byte{6, 1}) {
		t.Fatalf("TLS 1.3 signature_algorithms offers rsa_pkcs1: %x", b)
	}
}

// TestRSA13RefusesPKCS1: a TLS 1.3 CertificateVerify signed (correctly) with rsa_pkcs1_sha256 is
// refused with illegal_parameter (RFC 8446 §4.4.3: the scheme must be one offered; §4.2.3:
// rsa_pkcs1 is not defined for TLS 1.3 handshake signatures) — by our client from a server and
// by our server from a client.
func TestRSA13RefusesPKCS1(t *testing.T) {
	p := getPKI(t)
	// rsa_pkcs1_*, and schemes never offered: rsa_pss_pss_sha256 (0x0809), rsa_pkcs1_sha1 (0x0201).
	for _, s := range []SignatureScheme{PKCS1WithSHA256, PKCS1WithSHA384, PKCS1WithSHA512, 0x0809, 0x0201} {
		t.Run(fmt.Sprintf("client/%04x", uint16(s)), func(t *testing.T) {
			sc := rsaServerConfig(t)
			sc.setHooks().ownScheme = s
			_, _, errS, errC := memPair(t, sc, clientConfig(t))
			expectAlert(t, errC, AlertIllegalParameter, false)
			expectAlert(t, errS, AlertIllegalParameter, true)
		})
	}
	t.Run("server", func(t *testing.T) {
		sc := serverConfig(t, false)
		sc.ClientAuth, sc.ClientCAs = RequireAndVerifyClientCert, p.caPool
		cc := clientConfig(t)
		cc.Certificate, cc.Signer = p.rsaChain, p.rsaKey
		cc.setHooks().ownScheme = PKCS1WithSHA256
		_, _, errS, errC := memPair(t, sc, cc)
		expectAlert(t, errS, AlertIllegalParameter, false)
		expectAlert(t, errC, AlertIllegalParameter, true)
	})
	// In TLS 1.2 the same scheme is legal in ServerKeyExchange.
	t.Run("tls12-ok", func(t *testing.T) {
		sc := rsaServerConfig(t)
		sc.setHooks().ownScheme = PKCS1WithSHA256
		cc := clientConfig(t)
		cc.MaxVersion = VersionTLS12
		_, cl, errS, errC := memPair(t, sc, cc)
		if errS != nil || errC != nil || cl.ConnectionState().SignatureScheme != PKCS1WithSHA256 {
			t.Fatal(errS, errC)
		}
	})
}

// TestECDSAHashNotTiedToCurveIn12: a P-256 key signing with ecdsa_secp384r1_sha384 or
// ecdsa_secp521r1_sha512 is valid in TLS 1.2 (RFC 8422 §5.1.3: the scheme names the hash) — in
// ServerKeyExchange; in TLS 1.3 the scheme names the curve (RFC 8446 §4.2.3), so the same
// CertificateVerify gets illegal_parameter, as server and as client.
func TestECDSAHashNotTiedToCurveIn12(t *testing.T) {
	p := getPKI(t)
	for _, s := range []SignatureScheme{ECDSAWithP384AndSHA384, ECDSAWithP521AndSHA512} {
		t.Run(fmt.Sprintf("tls12/%04x", uint16(s)), func(t *testing.T) {
			sc := serverConfig(t, false)
			sc.setHooks().ownScheme = s
			cc := clientConfig(t)
			cc.MaxVersion = VersionTLS12
			_, cl, errS, errC := memPair(t, sc, cc)
			if errS != nil || errC != nil || cl.ConnectionState().SignatureScheme != s {
				t.Fatal(errS, errC)
			}
		})
		t.Run(fmt.Sprintf("tls13-client/%04x", uint16(s)), func(t *testing.T) {
			sc := serverConfig(t, false)
			sc.setHooks().ownScheme = s
			_, _, errS, errC := memPair(t, sc, clientConfig(t))
			expectAlert(t, errC, AlertIllegalParameter, false)
			expectAlert(t, errS, AlertIllegalParameter, true)
		})
		t.Run(fmt.Sprintf("tls13-server/%04x", uint16(s)), func(t *testing.T) {
			sc := serverConfig(t, false)
			sc.ClientAuth, sc.ClientCAs = RequireAndVerifyClientCert, p.caPool
			cc := clientConfig(t)
			cc.Certificate, cc.Signer = p.clChain, p.clKey
			cc.setHooks().ownScheme = s
			_, _, errS, errC := memPair(t, sc, cc)
			expectAlert(t, errS, AlertIllegalParameter, false)
			expectAlert(t, errC, AlertIllegalParameter, true)
		})
	}
	// A scheme of the wrong key type is refused in TLS 1.2 too.
	t.Run("tls12-rsa-scheme-ecdsa-key", func(t *testing.T) {
		sc := serverConfig(t, false)
		sc.setHooks().ownScheme = PSSWithSHA256
		cc := clientConfig(t)
		cc.MaxVersion = VersionTLS12
		_, _, errS, errC := memPair(t, sc, cc)
		expectAlert(t, errC, AlertIllegalParameter, false)
		expectAlert(t, errS, AlertIllegalParameter, true)
	})
}

// TestKeyUsageDigitalSignature: a peer certificate whose keyUsage extension lacks
// digitalSignature cannot sign CertificateVerify / ServerKeyExchange (RFC 5280 §4.2.1.3, RFC 8446
// §4.4.2.2): unsupported_certificate, as client and as server, TLS 1.3 and TLS 1.2, ECDSA and RSA.
func TestKeyUsageDigitalSignature(t *testing.T) {
	p := getPKI(t)
	for _, v := range []uint16{VersionTLS13, VersionTLS12} {
		for _, k := range []string{"ecdsa", "rsa"} {
			chain, key := p.ecNoDSChain, crypto.Signer(p.ecKey)
			if k == "rsa" {
				chain, key = p.rsaNoDSChain, p.rsaKey
			}
			t.Run(fmt.Sprintf("client/%04x/%s", v, k), func(t *testing.T) {
				sc := serverConfig(t, false)
				sc.Certificate, sc.Signer = chain, key
				cc := clientConfig(t)
				cc.MaxVersion = v
				_, _, errS, errC := memPair(t, sc, cc)
				expectAlert(t, errC, AlertUnsupportedCert, false)
				expectAlert(t, errS, AlertUnsupportedCert, true)
			})
			t.Run(fmt.Sprintf("server/%04x/%s", v, k), func(t *testing.T) {
				for _, auth := range []ClientAuthType{RequestClientCert, RequireAndVerifyClientCert} {
					sc := serverConfig(t, false)
					sc.ClientAuth, sc.ClientCAs, sc.MaxVersion = auth, p.caPool, v
					cc := clientConfig(t)
					cc.Certificate, cc.Signer = chain, key
					_, _, errS, errC := memPair(t, sc, cc)
					expectAlert(t, errS, AlertUnsupportedCert, false)
					expectAlert(t, errC, AlertUnsupportedCert, true)
				}
			})
		}
	}
}

// TestRSAKeySize: RSA keys below 2048 bits are refused — a peer's with unsupported_certificate
// (our client against crypto/tls serving RSA-1024, TLS 1.3 and 1.2), our own at configuration.
func TestRSAKeySize(t *testing.T) {
	p := getPKI(t)
	for _, v := range []uint16{VersionTLS13, VersionTLS12} {
		t.Run(fmt.Sprintf("peer/%04x", v), func(t *testing.T) {
			a, b := tcpPair(t)
			gs := goServerConfig(t)
			gs.MinVersion = gotls.VersionTLS12
			gs.MaxVersion = v
			gs.Certificates = []gotls.Certificate{{Certificate: p.rsa1024Chain, PrivateKey: p.rsa1024Key}}
			wait := runPeer(func() error { return gotls.Server(b, gs).Handshake() })
			c := NewConn(a, NewClient(clientConfig(t), 0))
			_, err := c.Write([]byte("x"))
			expectAlert(t, err, AlertUnsupportedCert, false)
			if werr := wait(); werr == nil {
				t.Fatal("crypto/tls completed the handshake")
			}
		})
	}
	t.Run("own", func(t *testing.T) {
		sc := &Config{Rand: seeded(1), Certificate: p.rsa1024Chain, Signer: p.rsa1024Key}
		if e := NewServer(sc, 0); e.State() != Failed || e.Err() == nil {
			t.Fatal("a 1024-bit RSA Signer was accepted")
		}
	})
}

// TestTLS12SuiteKeyMismatch: in TLS 1.2 the server's key must belong to the suite's family
// (RFC 5246 §7.4.2, RFC 8422 §5.3): an RSA certificate in an ECDHE_ECDSA handshake, or an ECDSA
// one in an ECDHE_RSA handshake, gets unsupported_certificate from our client.
func TestTLS12SuiteKeyMismatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		server *Config
		other  *Config // whose Certificate replaces the server's
	}{{"ecdsa-suite-rsa-cert", serverConfig(t, false), rsaServerConfig(t)},
		{"rsa-suite-ecdsa-cert", rsaServerConfig(t), serverConfig(t, false)}} {
		t.Run(c.name, func(t *testing.T) {
			cc := clientConfig(t)
			cc.MaxVersion = VersionTLS12
			cl, srv := NewClient(cc, 0), NewServer(c.server, 0)
			buf := make([]byte, 16384)
			feedAll(t, srv, buf[:cl.Output(buf)])
			body := handshakeBytes(buf[:srv.Output(buf)])
			shEnd := 4 + (int(body[1])<<16 | int(body[2])<<8 | int(body[3]))
			msgs := append([]byte(nil), body[:shEnd]...)
			msgs = NewServer(c.other, 0).appendCertificate12(msgs, true)
			rec := append([]byte{22, 3, 3, byte(len(msgs) >> 8), byte(len(msgs))}, msgs...)
			var err error
			for len(rec) > 0 && err == nil {
				var k int
				k, _, err = cl.Unwrap(rec)
				rec = rec[k:]
			}
			expectAlert(t, err, AlertUnsupportedCert, false)
		})
	}
}

// TestRSAHandshakeAllocs: an RSA-2048 server handshake stays within the same allocation budget as
// an ECDSA one besides the signature (rsa.SignPSS, measured on the same key), TLS 1.3 and 1.2;
// its engine footprint during the handshake is reported and after it is the same small struct.
func TestRSAHandshakeAllocs(t *testing.T) {
	buf := make([]byte, 16384)
	sc := rsaServerConfig(t)
	digest := make([]byte, 32)
	sign := func() {
		if _, err := sc.Signer.Sign(sc.Rand, digest, pssSHA256); err != nil {
			t.Fatal(err)
		}
	}
	sign()
	sig := countAllocs(sign)
	for i := 0; i < 2; i++ {
		sig = minU64(sig, countAllocs(sign))
	}
	for _, v := range []uint16{VersionTLS13, VersionTLS12} {
		cc := clientConfig(t)
		cc.MaxVersion = v
		budget := serverAllocBudget[X25519]
		if v == VersionTLS12 {
			budget -= 4 // two AES-GCM keys instead of four
		}
		serverHandshakeAllocs(t, sc, cc, buf) // warm up
		n := serverHandshakeAllocs(t, sc, cc, buf)
		for i := 0; i < 2 && n > budget+sig; i++ {
			n = minU64(n, serverHandshakeAllocs(t, sc, cc, buf))
		}
		t.Logf("RSA-2048 server handshake %04x: %d allocations (%d in the signature, %d without)", v, n, sig, n-sig)
		if n > budget+sig {
			t.Errorf("%04x: %d allocations besides the signature, budget %d", v, n-sig, budget)
		}
	}
	e := NewServer(sc, 0)
	during := e.Footprint()
	if ea, eb := pump(t, NewClient(clientConfig(t), 0), e); ea != nil || eb != nil || e.State() != Established {
		t.Fatal(ea, eb)
	}
	ecdsa := NewServer(serverConfig(t, false), 0).Footprint()
	t.Logf("RSA-2048 server: engine %d bytes during the handshake (ECDSA %d), %d after", during, ecdsa, e.Footprint())
	if after := e.Footprint(); after > 3072 {
		t.Fatalf("%d bytes after the handshake", after)
	}
}

// saltSigner signs RSA-PSS with a salt of the wrong length (RFC 8446 §4.2.3: the salt MUST be as
// long as the digest).
type saltSigner struct{ k *rsa.PrivateKey }

func (s saltSigner) Public() crypto.PublicKey { return s.k.Public() }
func (s saltSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if p, ok := o.(*rsa.PSSOptions); ok {
		return s.k.Sign(r, d, &rsa.PSSOptions{SaltLength: 20, Hash: p.Hash})
	}
	return s.k.Sign(r, d, o)
}

// TestRSANegativeSignatures: an RSA-PSS signature whose salt is not the digest length gets
// decrypt_error (TLS 1.3 CertificateVerify and TLS 1.2 ServerKeyExchange); a TLS 1.2
// ServerKeyExchange signed with a scheme we never offered (rsa_pkcs1_sha1) gets illegal_parameter
// (RFC 5246 §7.4.1.4.1, RFC 8446 §4.2.3 for SHA-1 in TLS 1.2 too).
func TestRSANegativeSignatures(t *testing.T) {
	p := getPKI(t)
	for _, v := range []uint16{VersionTLS13, VersionTLS12} {
		t.Run(fmt.Sprintf("salt/%04x", v), func(t *testing.T) {
			sc := rsaServerConfig(t)
			sc.Signer = saltSigner{p.rsaKey}
			cc := clientConfig(t)
			cc.MaxVersion = v
			_, _, errS, errC := memPair(t, sc, cc)
			expectAlert(t, errC, AlertDecryptError, false)
			expectAlert(t, errS, AlertDecryptError, true)
		})
	}
	t.Run("tls12-sha1", func(t *testing.T) {
		sc := rsaServerConfig(t)
		sc.setHooks().ownScheme = 0x0201
		cc := clientConfig(t)
		cc.MaxVersion = VersionTLS12
		_, _, errS, errC := memPair(t, sc, cc)
		expectAlert(t, errC, AlertIllegalParameter, false)
		expectAlert(t, errS, AlertIllegalParameter, true)
	})
}
