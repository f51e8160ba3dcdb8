package e2e

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	nethttp "net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/store"
)

// The rigs' PIN and PUK (rigPersonalisation; there are no defaults).
const (
	rightPIN = "4711"
	rightPUK = "31415926"
)

func pinAuth(pin string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("holder:"+pin))
}

func expect(t *testing.T, what string, r response, status int, contains string) {
	t.Helper()
	if r.status != status || !strings.Contains(string(r.body), contains) {
		t.Fatalf("%s = %d %q, want %d containing %q", what, r.status, r.body, status, contains)
	}
}

func triesLeft(t *testing.T, path string) int {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.PINTriesLeft()
}

// TestVaultPINAcrossRestarts: the right PIN opens the vault; wrong PINs
// block it after three tries in all, counted across card restarts; the
// block survives a restart; the PUK unblocks and sets a new PIN.
func TestVaultPINAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "card.img")
	ar := startCard(t, path, cardProfile(), nil)

	r := ar.do(t, "GET", "/vault/", nil)
	expect(t, "GET /vault/ without PIN", r, 401, "PIN required")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("401 without a Basic challenge: %v", r.header)
	}
	expect(t, "PUT /vault/diary", ar.do(t, "PUT", "/vault/diary", []byte("dear diary"), pinAuth(rightPIN), "Content-Type: text/plain"), 201, "")
	expect(t, "GET /vault/ right PIN", ar.do(t, "GET", "/vault/", nil, pinAuth(rightPIN)), 200, "diary")
	expect(t, "GET /vault/diary", ar.do(t, "GET", "/vault/diary", nil, pinAuth(rightPIN)), 200, "dear diary")

	expect(t, "wrong PIN 1", ar.do(t, "GET", "/vault/diary", nil, pinAuth("0000")), 401, "2 tries left")
	expect(t, "right PIN during the backoff", ar.do(t, "GET", "/vault/diary", nil, pinAuth(rightPIN)), 429, "no try was used")
	ar.advance(time.Minute)
	expect(t, "wrong PIN 2", ar.do(t, "GET", "/vault/diary", nil, pinAuth("9999")), 401, "1 tries left")

	ar.stop()
	if n := triesLeft(t, path); n != 1 {
		t.Fatalf("after two wrong PINs the image says %d tries left, want 1", n)
	}
	ar = startCard(t, path, cardProfile(), nil)
	expect(t, "PIN during the backoff (after restart)", ar.do(t, "GET", "/vault/diary", nil, pinAuth(rightPIN)), 429, "")
	ar.advance(time.Minute)
	expect(t, "wrong PIN 3 (after restart)", ar.do(t, "GET", "/vault/diary", nil, pinAuth("1111")), 403, "blocked")
	expect(t, "right PIN when blocked", ar.do(t, "GET", "/vault/diary", nil, pinAuth(rightPIN)), 403, "blocked")
	expect(t, "PUT when blocked", ar.do(t, "PUT", "/vault/diary", []byte("overwrite"), pinAuth(rightPIN)), 403, "blocked")

	ar.stop()
	if n := triesLeft(t, path); n != 0 {
		t.Fatalf("blocked card's image says %d tries left", n)
	}
	ar = startCard(t, path, cardProfile(), nil)
	expect(t, "right PIN after restart of a blocked card", ar.do(t, "GET", "/vault/", nil, pinAuth(rightPIN)), 403, "blocked")

	form := func(puk, pin string) []byte { return []byte(url.Values{"puk": {puk}, "pin": {pin}}.Encode()) }
	ct := "Content-Type: application/x-www-form-urlencoded"
	expect(t, "wrong PUK", ar.do(t, "POST", "/vault/unblock", form("87654320", "5176"), ct), 403, "next PUK try in 1m0s")
	expect(t, "GET /vault/unblock", ar.do(t, "GET", "/vault/unblock", nil), 405, "")
	expect(t, "right PUK during the backoff", ar.do(t, "POST", "/vault/unblock", form(rightPUK, "5176"), ct), 429, "")
	ar.advance(time.Minute)
	expect(t, "right PUK", ar.do(t, "POST", "/vault/unblock", form(rightPUK, "5176"), ct), 200, "unblocked")
	expect(t, "unblock again", ar.do(t, "POST", "/vault/unblock", form(rightPUK, "5176"), ct), 409, "not blocked")
	expect(t, "new PIN", ar.do(t, "GET", "/vault/diary", nil, pinAuth("5176")), 200, "dear diary")
	expect(t, "old PIN", ar.do(t, "GET", "/vault/diary", nil, pinAuth(rightPIN)), 401, "2 tries left")
	ar.advance(time.Minute)
	expect(t, "new PIN resets the counter", ar.do(t, "GET", "/vault/", nil, pinAuth("5176")), 200, "diary")

	// The vault is not reachable as static content or through admin paths.
	expect(t, "GET /vault/diary as a static file", ar.do(t, "GET", "/vault%2Fdiary", nil), 404, "")
}

// TestAdminAuthorisation: an unauthorised PUT is rejected and changes
// nothing; the administrator's PUT (bearer secret) is served on the next GET
// and logged on the status page.
func TestAdminAuthorisation(t *testing.T) {
	ar := newAppRig(t, func(st *store.Store) error { return st.SetAdminSecret([]byte(adminSecret)) })
	var seq0 uint64
	ar.withStore(func(st *store.Store) { seq0 = st.Seq() })

	page := []byte("<!DOCTYPE html><p>hello from the admin</p>\n")
	// No credentials at all: 401 on every admin write.
	for _, m := range []string{"PUT", "DELETE"} {
		for _, p := range []string{"/admin/files/hello.html", "/admin/files/index.html", "/admin/config/motd"} {
			expect(t, m+" "+p+" without credentials", ar.do(t, m, p, page), 401, "")
		}
	}
	expect(t, "POST /admin/fetch without credentials", ar.do(t, "POST", "/admin/fetch?url=https://10.0.2.2/", nil), 401, "")
	// Wrong credentials: 403.
	for _, c := range []struct{ name, hdr string }{
		{"wrong bearer", bearer("not-the-secret")},
		{"empty bearer", "Authorization: Bearer "},
		{"cardholder PIN", pinAuth(rightPIN)},
		{"secret as Basic", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminSecret))},
	} {
		expect(t, "PUT with "+c.name, ar.do(t, "PUT", "/admin/files/hello.html", page, c.hdr), 403, "")
	}
	var seq1 uint64
	var files []string
	ar.withStore(func(st *store.Store) { seq1, files = st.Seq(), st.Files() })
	if seq1 != seq0 || len(files) != 0 {
		t.Fatalf("unauthorised requests changed the store: seq %d -> %d, files %v", seq0, seq1, files)
	}
	expect(t, "GET /hello.html before", ar.do(t, "GET", "/hello.html", nil), 404, "")

	auth := bearer(adminSecret)
	r := ar.do(t, "PUT", "/admin/files/hello.html", page, auth)
	expect(t, "authorised PUT", r, 201, "created")
	r = ar.do(t, "GET", "/hello.html", nil)
	expect(t, "GET after PUT", r, 200, "hello from the admin")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("PUT without Content-Type served as %q, want text/html", ct)
	}
	etag1 := r.header.Get("ETag")
	expect(t, "replace", ar.do(t, "PUT", "/admin/files/hello.html", []byte("second version\n"), auth, "Content-Type: text/plain"), 200, "replaced")
	r = ar.do(t, "GET", "/hello.html", nil)
	expect(t, "GET after replace", r, 200, "second version")
	if r.header.Get("ETag") == etag1 || r.header.Get("Content-Type") != "text/plain" {
		t.Errorf("replaced file: ETag %q (was %q), Content-Type %q", r.header.Get("ETag"), etag1, r.header.Get("Content-Type"))
	}
	expect(t, "admin listing", ar.do(t, "GET", "/admin/files", nil, auth), 200, "hello.html")
	expect(t, "PUT config", ar.do(t, "PUT", "/admin/config/motd", []byte("welcome\n"), auth), 200, "set motd")
	expect(t, "GET config", ar.do(t, "GET", "/admin/config/motd", nil, auth), 200, "welcome")
	expect(t, "status shows the admin the change log", ar.do(t, "GET", "/status", nil, auth), 200, "hello.html")
	if r := ar.do(t, "GET", "/status", nil); r.status != 200 || strings.Contains(string(r.body), "hello.html") {
		t.Fatalf("a stranger's status page = %d and shows the change log", r.status)
	}
	expect(t, "admin may not touch the vault", ar.do(t, "PUT", "/admin/files/vault/x", page, auth), 403, "")
	expect(t, "DELETE", ar.do(t, "DELETE", "/admin/files/hello.html", nil, auth), 200, "deleted")
	expect(t, "GET after DELETE", ar.do(t, "GET", "/hello.html", nil), 404, "")

	// Wrong secrets are refused (403), never held against the right one:
	// online guessing is defeated by the secret's entropy.
	for i := 0; i < 8; i++ {
		expect(t, "guess", ar.do(t, "PUT", "/admin/files/guess", page, bearer(fmt.Sprintf("guess-%d", i))), 403, "")
	}
	expect(t, "the right secret after 8 guesses", ar.do(t, "GET", "/admin/files", nil, auth), 200, "")
	var guessed bool
	ar.withStore(func(st *store.Store) { _, guessed = st.File("guess") })
	if guessed {
		t.Fatal("a guessed secret wrote a file")
	}
}

// tearMedium is a file-backed store medium that loses power after budget
// more bytes have been written once armed: the write in progress keeps only
// a prefix and every later write fails.
type tearMedium struct {
	*store.FileMedium
	mu      sync.Mutex
	armed   bool
	budget  int
	written int
}

var errTear = errors.New("tear: power lost")

func (m *tearMedium) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.armed {
		return m.FileMedium.WriteAt(p, off)
	}
	if m.written+len(p) <= m.budget {
		m.written += len(p)
		return m.FileMedium.WriteAt(p, off)
	}
	k := max(m.budget-m.written, 0)
	m.written = m.budget
	if k > 0 {
		m.FileMedium.WriteAt(p[:k], off)
	}
	return k, errTear
}

func (m *tearMedium) arm(budget int) {
	m.mu.Lock()
	m.armed, m.budget, m.written = true, budget, 0
	m.mu.Unlock()
}

func (m *tearMedium) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written
}

func openTearing(t *testing.T, path string) (*store.Store, *tearMedium) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &tearMedium{FileMedium: store.NewFileMedium(f)}
	st, err := store.OpenMedium(m)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	return st, m
}

func copyFile(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAdminTear: a power cut at points throughout the store transaction of
// an admin PUT leaves the old content served after the card restarts.
func TestAdminTear(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.img")
	oldPage, newPage := "old content\n", strings.Repeat("new content\n", 40)
	ar := startCard(t, base, cardProfile(), func(st *store.Store) error {
		if err := st.SetAdminSecret([]byte(adminSecret)); err != nil {
			return err
		}
		return st.PutFile("page.txt", "text/plain", []byte(oldPage))
	})
	ar.stop()

	// Measure the bytes the transaction writes.
	p := filepath.Join(dir, "measure.img")
	copyFile(t, p, base)
	st, m := openTearing(t, p)
	m.arm(1 << 30)
	ar = startCardOn(t, st, p, cardProfile(), 0, nil)
	expect(t, "untorn PUT", ar.do(t, "PUT", "/admin/files/page.txt", []byte(newPage), bearer(adminSecret)), 200, "replaced")
	total := m.count()
	ar.stop()
	if total == 0 {
		t.Fatal("the PUT wrote nothing")
	}
	t.Logf("the admin PUT transaction writes %d bytes", total)

	for _, cut := range []int{0, 1, total / 3, total / 2, total - 24, total - 12, total - 1} {
		p := filepath.Join(dir, "torn.img")
		os.Remove(p)
		copyFile(t, p, base)
		st, m := openTearing(t, p)
		ar := startCardOn(t, st, p, cardProfile(), 0, nil)
		m.arm(cut)
		r := ar.do(t, "PUT", "/admin/files/page.txt", []byte(newPage), bearer(adminSecret))
		if r.status < 500 {
			t.Errorf("cut at %d/%d: PUT = %d %q, want a 5xx", cut, total, r.status, r.body)
		}
		r = ar.do(t, "GET", "/page.txt", nil)
		if r.status != 200 || string(r.body) != oldPage {
			t.Errorf("cut at %d/%d: before restart GET /page.txt = %d %.40q, want the old content", cut, total, r.status, r.body)
		}
		ar.stop()
		ar = startCard(t, p, cardProfile(), nil)
		r = ar.do(t, "GET", "/page.txt", nil)
		if r.status != 200 || string(r.body) != oldPage {
			t.Errorf("cut at %d/%d: after restart GET /page.txt = %d %.40q, want the old content", cut, total, r.status, r.body)
		}
		ar.stop()
	}
}

// privateScalar finds the card's private key in its image file by brute
// force (a 32-byte window whose public point is the certificate's key). It
// is the test's own knowledge, used to prove no response carries it.
func privateScalar(t *testing.T, path string, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pub.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+32 <= len(img); i++ {
		w := img[i : i+32]
		if w[0] == 0 && w[1] == 0 && w[2] == 0 {
			continue // empty space
		}
		k, err := ecdh.P256().NewPrivateKey(w)
		if err != nil {
			continue
		}
		if k.PublicKey().Equal(want) {
			return append([]byte(nil), w...)
		}
	}
	return nil
}

// TestNoKeyMaterial walks every route with every method, as a stranger, as
// the cardholder and as the administrator, and checks that no response
// carries the card's private key in any encoding.
func TestNoKeyMaterial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "card.img")
	ar := startCard(t, path, cardProfile(), func(st *store.Store) error {
		if err := st.SetAdminSecret([]byte(adminSecret)); err != nil {
			return err
		}
		if err := st.PutFile("vault/rec", "text/plain", []byte("record")); err != nil {
			return err
		}
		return putSite(st)
	})
	var pub *ecdsa.PublicKey
	ar.withStore(func(st *store.Store) { pub, _ = st.PublicKey() })
	d := privateScalar(t, path, pub)
	var needles [][]byte
	if d != nil {
		needles = append(needles, d, []byte(hex.EncodeToString(d)), []byte(strings.ToUpper(hex.EncodeToString(d))),
			[]byte(base64.StdEncoding.EncodeToString(d)), []byte(base64.RawURLEncoding.EncodeToString(d)))
	} else {
		t.Log("the private scalar is not stored in the clear in the image; checking for PEM blocks only")
	}
	needles = append(needles, []byte("PRIVATE KEY"), []byte("BEGIN EC"))

	routes := []string{"/", "/index.html", "/about.html", "/site.css", "/docs/", "/status", "/status.json",
		"/vault", "/vault/", "/vault/rec", "/vault/new", "/vault/unblock", "/admin", "/admin/",
		"/admin/files", "/admin/files/", "/admin/files/site.css", "/admin/files/new.txt", "/admin/config",
		"/admin/config/motd", "/admin/fetch", "/admin/fetch?url=https://10.0.2.2:9/", "/admin/nope",
		"/nope", "/.well-known/x", "/%2e%2e/store"}
	creds := map[string][]string{"stranger": nil, "holder": {pinAuth(rightPIN)}, "admin": {bearer(adminSecret)}}
	n := 0
	for who, hdr := range creds {
		for _, route := range routes {
			for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE"} {
				var body []byte
				if m == "POST" || m == "PUT" {
					body = []byte("x=1")
				}
				r := ar.do(t, m, route, body, hdr...)
				n++
				if r.status == 0 || r.status >= 500 && r.status != 507 {
					t.Errorf("%s %s %s = %d %q", who, m, route, r.status, r.body)
				}
				var all bytes.Buffer
				r.header.Write(&all)
				all.Write(r.body)
				for _, nd := range needles {
					if bytes.Contains(all.Bytes(), nd) {
						t.Fatalf("%s %s %s returned key material %q", who, m, route, nd)
					}
				}
			}
		}
	}
	// Port 80 too.
	noFollow := *ar.client
	noFollow.CheckRedirect = func(*nethttp.Request, []*nethttp.Request) error { return nethttp.ErrUseLastResponse }
	for _, route := range routes {
		resp, err := noFollow.Get("http://" + ar.cardIP.String() + route)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, nd := range needles {
				if bytes.Contains(b, nd) {
					t.Fatalf("port 80 %s returned key material", route)
				}
			}
		}
	}
	t.Logf("%d requests, no key material (private scalar located in the image: %v)", n, d != nil)
}

// TestAdminMutualTLS: the administrator authenticates with a client
// certificate whose key the store holds (no bearer secret).
func TestAdminMutualTLS(t *testing.T) {
	adminKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "netcard admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &adminKey.PublicKey, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ar := newAppRig(t, func(st *store.Store) error { return st.SetAdminKey(cert.RawSubjectPublicKeyInfo) })

	asked := false
	client := *ar.client
	tr := ar.client.Transport.(*nethttp.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = func(*stdtls.CertificateRequestInfo) (*stdtls.Certificate, error) {
		asked = true
		return &stdtls.Certificate{Certificate: [][]byte{der}, PrivateKey: adminKey}, nil
	}
	client.Transport = tr
	req, _ := nethttp.NewRequest("PUT", ar.url("/admin/files/mtls.txt"), strings.NewReader("put over mutual TLS\n"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !asked {
		t.Fatalf("the card did not request a client certificate; PUT = %d %q", resp.StatusCode, b)
	}
	if resp.StatusCode != 201 {
		t.Fatalf("PUT with the admin certificate = %d %q", resp.StatusCode, b)
	}
	expect(t, "GET after mTLS PUT", ar.do(t, "GET", "/mtls.txt", nil), 200, "put over mutual TLS")
}
