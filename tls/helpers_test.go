package tls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func testTime() time.Time { return testNow }

func seeded(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

type testPKI struct {
	caPool, otherPool         *x509.CertPool
	ecChain, edChain, clChain [][]byte
	ecKey, clKey              *ecdsa.PrivateKey
	edKey                     ed25519.PrivateKey

	// RSA: a 2048-bit leaf (serverAuth and clientAuth), a 1024-bit one (refused), and leaves whose
	// keyUsage lacks digitalSignature (ECDSA and RSA keys).
	rsaKey, rsa1024Key        *rsa.PrivateKey
	rsaChain, rsa1024Chain    [][]byte
	ecNoDSChain, rsaNoDSChain [][]byte
	caKey                     *ecdsa.PrivateKey
	caCert                    *x509.Certificate
	leaf                      func(serial int64, cn string, pub any, ku x509.KeyUsage) []byte
}

var pkiOnce sync.Once
var pki testPKI

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub any, priv crypto.Signer) (*x509.Certificate, []byte) {
	der, err := x509.CreateCertificate(seeded(9), tmpl, parent, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, der
}

func getPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() {
		nb, na := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), seeded(1))
		ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "netcard test CA"},
			NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		caCert, _ := mustCert(t, ca, ca, &caKey.PublicKey, caKey)
		otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), seeded(2))
		other := *ca
		other.Subject.CommonName = "other CA"
		otherCert, _ := mustCert(t, &other, &other, &otherKey.PublicKey, otherKey)
		pki.caPool = x509.NewCertPool()
		pki.caPool.AddCert(caCert)
		pki.otherPool = x509.NewCertPool()
		pki.otherPool.AddCert(otherCert)
		leafKU := func(serial int64, cn string, pub any, ku x509.KeyUsage) []byte {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
				NotBefore: nb, NotAfter: na, DNSNames: []string{"card.example"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
				KeyUsage:    ku,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
			_, der := mustCert(t, tmpl, caCert, pub, caKey)
			return der
		}
		leaf := func(serial int64, cn string, pub any) []byte {
			return leafKU(serial, cn, pub, x509.KeyUsageDigitalSignature)
		}
		pki.caKey, pki.caCert, pki.leaf = caKey, caCert, leafKU
		pki.ecKey, _ = ecdsa.GenerateKey(elliptic.P256(), seeded(3))
		pki.ecChain = [][]byte{leaf(2, "card ecdsa", &pki.ecKey.PublicKey), caCert.Raw}
		_, pki.edKey, _ = ed25519.GenerateKey(seeded(4))
		pki.edChain = [][]byte{leaf(3, "card ed25519", pki.edKey.Public())}
		pki.clKey, _ = ecdsa.GenerateKey(elliptic.P256(), seeded(5))
		pki.clChain = [][]byte{leaf(4, "client", &pki.clKey.PublicKey)}
		var err error
		if pki.rsaKey, err = rsa.GenerateKey(seeded(6), 2048); err != nil {
			panic(err)
		}
		pki.rsaChain = [][]byte{leafKU(5, "card rsa", &pki.rsaKey.PublicKey,
			x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment), caCert.Raw}
		if pki.rsa1024Key, err = rsa.GenerateKey(seeded(7), 1024); err != nil {
			panic(err)
		}
		pki.rsa1024Chain = [][]byte{leaf(6, "card rsa-1024", &pki.rsa1024Key.PublicKey)}
		pki.ecNoDSChain = [][]byte{leafKU(7, "card ecdsa keyAgreement", &pki.ecKey.PublicKey, x509.KeyUsageKeyAgreement)}
		pki.rsaNoDSChain = [][]byte{leafKU(8, "card rsa keyEncipherment", &pki.rsaKey.PublicKey, x509.KeyUsageKeyEncipherment)}
	})
	return &pki
}

func serverConfig(t testing.TB, ed bool) *Config {
	p := getPKI(t)
	c := &Config{Rand: seeded(42), Time: testTime, Certificate: p.ecChain, Signer: p.ecKey}
	if ed {
		c.Certificate, c.Signer = p.edChain, p.edKey
	}
	return c
}

func clientConfig(t testing.TB) *Config {
	p := getPKI(t)
	return &Config{Rand: seeded(43), Time: testTime, Client: &ClientConfig{ServerName: "card.example", Roots: p.caPool}}
}

func goClientConfig(t testing.TB) *gotls.Config {
	p := getPKI(t)
	return &gotls.Config{RootCAs: p.caPool, ServerName: "card.example", Time: testTime, MinVersion: gotls.VersionTLS13}
}

func goServerConfig(t testing.TB) *gotls.Config {
	p := getPKI(t)
	return &gotls.Config{Certificates: []gotls.Certificate{{Certificate: p.ecChain, PrivateKey: p.ecKey}},
		Time: testTime, MinVersion: gotls.VersionTLS13}
}

// tcpPair returns two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	deadline := time.Now().Add(20 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// runPeer runs f in a goroutine and returns a function that waits for its error.
func runPeer(f func() error) func() error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return func() error {
		select {
		case err := <-ch:
			return err
		case <-time.After(30 * time.Second):
			return io.ErrNoProgress
		}
	}
}

// pump moves every pending record between two in-memory engines until neither has anything to
// say. It returns the first error and the application data received by each side.
func pump(t testing.TB, a, b *Engine) (errA, errB error) {
	buf := make([]byte, 64<<10)
	for round := 0; round < 100; round++ {
		moved := false
		for _, dir := range [2][2]*Engine{{a, b}, {b, a}} {
			src, dst := dir[0], dir[1]
			n := 0
			for {
				m := src.Output(buf[n:])
				if m == 0 {
					break
				}
				n += m
			}
			if n == 0 {
				continue
			}
			moved = true
			in := buf[:n]
			for len(in) > 0 {
				c, _, err := dst.Unwrap(in)
				if err != nil {
					if dst == a {
						errA = err
					} else {
						errB = err
					}
					break
				}
				if c == 0 {
					t.Fatalf("incomplete record in pump")
				}
				in = in[c:]
			}
		}
		if !moved {
			return
		}
	}
	return
}

// makeNonce returns the nonce of hc's next record (tests that seal or open records by hand).
func (hc *halfConn) makeNonce() []byte {
	return append([]byte(nil), hc.nonceAt()...)
}
