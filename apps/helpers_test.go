package apps

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	nethttp "net/http"
	"netcard/applet"
	"testing"
	"time"

	"netcard/http"
	"netcard/store"
	"netcard/tls"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func seeded(seed uint64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return mrand.NewChaCha8(s)
}

// memStream is one end of an in-memory connection with tcp.Conn's linear
// buffers: rx holds received bytes (bounded by its capacity), tx the queued
// send bytes (bounded by its capacity).
type memStream struct {
	rx, tx           []byte
	finRcvd, finSent bool
	closed           bool
	err              error
}

func newMemStream(rxCap, txCap int) *memStream {
	return &memStream{rx: make([]byte, 0, rxCap), tx: make([]byte, 0, txCap)}
}

func (m *memStream) Peek() []byte { return m.rx }
func (m *memStream) Consume(n int) {
	n = min(n, len(m.rx))
	k := copy(m.rx, m.rx[n:])
	m.rx = m.rx[:k]
}
func (m *memStream) Free() []byte {
	if m.finSent || m.closed || m.err != nil {
		return nil
	}
	return m.tx[len(m.tx):cap(m.tx)]
}
func (m *memStream) Queued() int  { return len(m.tx) }
func (m *memStream) Commit(n int) { m.tx = m.tx[:len(m.tx)+min(n, len(m.Free()))] }
func (m *memStream) EOF() bool    { return m.finRcvd && len(m.rx) == 0 }
func (m *memStream) Err() error   { return m.err }
func (m *memStream) CloseWrite()  { m.finSent = true }
func (m *memStream) Close()       { m.finSent, m.closed = true, true }

// SendWaitSince: a memStream has no notion of an unacknowledged wait.
func (m *memStream) SendWaitSince() (time.Time, bool) { return time.Time{}, false }

// SRTT: a memStream is a slow path (its peer answers only when pumped), as
// a serial line is.
func (m *memStream) SRTT() time.Duration { return time.Second }

// Reserve reports whether n bytes fit the receive buffer (it never grows).
func (m *memStream) Reserve(n int) bool { return n <= cap(m.rx) }

// transfer moves queued bytes from a to b as far as b's receive buffer
// allows, and the FIN once everything went; it reports progress.
func transfer(a, b *memStream) bool {
	n := min(len(a.tx), cap(b.rx)-len(b.rx))
	if n > 0 {
		b.rx = append(b.rx, a.tx[:n]...)
		k := copy(a.tx, a.tx[n:])
		a.tx = a.tx[:k]
	}
	if a.finSent && len(a.tx) == 0 && !b.finRcvd {
		b.finRcvd = true
		return true
	}
	return n > 0
}

// testPKI is the card's personalisation plus an administrator and a
// foreign client certificate.
type testPKI struct {
	cardCert  []byte
	cardPool  *x509.CertPool
	adminKey  *ecdsa.PrivateKey
	adminCert []byte
	otherKey  *ecdsa.PrivateKey
	otherCert []byte
	keyD      []byte // the card's private scalar, recomputed from the seed (test only)
}

func selfCert(t testing.TB, key *ecdsa.PrivateKey, cn string) []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(seeded(9), tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// newCard personalises a store on a memory medium: identity key, self-signed
// certificate for card.example and 127.0.0.1, PIN 4711 / PUK 31415926, admin
// secret and admin key, one content file.
func newCard(t testing.TB) (*store.Store, *store.MemMedium, *testPKI) {
	t.Helper()
	m := store.NewMemMedium(store.DefaultSize)
	s, err := store.CreateMedium(m, store.DefaultSize, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return testNow })
	// Recompute the scalar the store derives (FIPS 186-5 A.2.1) from the same stream.
	var raw [40]byte
	io.ReadFull(seeded(2), raw[:])
	k := new(big.Int).SetBytes(raw[:])
	nm1 := new(big.Int).Sub(elliptic.P256().Params().N, big.NewInt(1))
	k.Mod(k, nm1).Add(k, big.NewInt(1))
	p := &testPKI{keyD: k.FillBytes(make([]byte, 32))}
	if err := s.GenerateKey(seeded(2)); err != nil {
		t.Fatal(err)
	}
	pub, _ := s.PublicKey()
	rk, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), p.keyD)
	if err != nil || !rk.PublicKey.Equal(pub) {
		t.Fatal("recomputed identity key does not match the store's")
	}
	p.cardCert, err = s.SelfSign("card.example", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"card.example"},
		testNow.Add(-time.Hour), testNow.Add(365*24*time.Hour), seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetAnchors([][]byte{p.cardCert}); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(p.cardCert)
	p.cardPool = x509.NewCertPool()
	p.cardPool.AddCert(c)
	if err := s.InitPIN([]byte("4711"), []byte("31415926")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdminSecret([]byte("Zq3-vT8pL0xW_m4RkY7nB2cH")); err != nil {
		t.Fatal(err)
	}
	p.adminKey, _ = ecdsa.GenerateKey(elliptic.P256(), seeded(4))
	p.adminCert = selfCert(t, p.adminKey, "admin")
	ac, _ := x509.ParseCertificate(p.adminCert)
	if err := s.SetAdminKey(ac.RawSubjectPublicKeyInfo); err != nil {
		t.Fatal(err)
	}
	p.otherKey, _ = ecdsa.GenerateKey(elliptic.P256(), seeded(5))
	p.otherCert = selfCert(t, p.otherKey, "intruder")
	if err := s.PutFile("hello.txt", "text/plain; charset=utf-8", []byte("hello from the card\n")); err != nil {
		t.Fatal(err)
	}
	return s, m, p
}

// serverTLS is the card's TLS server configuration from the store.
func serverTLS(t testing.TB, s *store.Store, rnd io.Reader) *tls.Config {
	sg, err := s.Signer()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Rand: rnd, Time: func() time.Time { return testNow }, Certificate: s.Certificate(),
		Signer: sg, ClientAuth: tls.RequestClientCert}
}

// routeHarness runs requests through an http.ServerConn in front of the app.
type routeHarness struct {
	app *App
	ci  ConnInfo
	hc  *http.ServerConn
}

// testAdminSecret is the admin bearer token of newTestApp's store.
const testAdminSecret = "Zq3-vT8pL0xW_m4RkY7nB2cH"

// adminAuthz is its Authorization header line.
const adminAuthz = "Authorization: Bearer " + testAdminSecret + "\r\n"

func newRouteHarness(app *App, tlsOn bool) *routeHarness {
	h := &routeHarness{app: app, ci: ConnInfo{Conn: applet.Conn{TLS: tlsOn, Now: testNow}}}
	h.hc = http.NewServerConn(http.ServerConfig{Handler: func(r *http.Request, w *http.ResponseWriter) {
		app.Serve(&h.ci, r, w)
	}})
	return h
}

type result struct {
	*nethttp.Response
	body []byte
	raw  []byte
}

// do sends one raw request and parses the response with Go's net/http.
func (h *routeHarness) do(t testing.TB, method, path string, hdrs []string, body []byte) result {
	t.Helper()
	h.hc.Reset()
	var b bytes.Buffer
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: card.example\r\n")
	for _, x := range hdrs {
		b.WriteString(x + "\r\n")
	}
	if body != nil {
		b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	if n := h.hc.Input(b.Bytes(), testNow); n != b.Len() {
		t.Fatalf("input accepted %d of %d", n, b.Len())
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n := h.hc.Output(buf, testNow)
		if n == 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	req, _ := nethttp.NewRequest(method, "https://card.example"+path, nil)
	resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(out)), req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%q", method, path, err, out)
	}
	rb, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	return result{Response: resp, body: rb, raw: out}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
