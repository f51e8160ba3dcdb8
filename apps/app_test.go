package apps

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/netip"
	"strings"
	"testing"
	"time"

	"netcard/http"
	"netcard/store"
)

func testStatus(now time.Time) Status {
	return Status{Uptime: 90 * time.Second, LinkUp: true, LinkState: "IPCP opened",
		LocalIP: netip.MustParseAddr("10.0.0.2"), PeerIP: netip.MustParseAddr("10.0.0.1"),
		Profile: "card", RAMUsed: 20000, RAMBudget: 24576,
		Conns:    []ConnStatus{{Local: 443, Remote: netip.MustParseAddrPort("10.0.0.1:5555"), State: "established", TLS: true}},
		Counters: []Counter{{"PPP", "frames_in", 42}, {"TCP", "segs<out>", 7}, {"TLS", "handshakes", 3}}}
}

func newTestApp(t testing.TB) (*App, *store.Store, *store.MemMedium, *testPKI) {
	s, m, p := newCard(t)
	return New(Config{Store: s, Status: testStatus, Host: "10.0.0.2"}), s, m, p
}

func basic(pin string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+pin))
}

func TestRedirectPort80(t *testing.T) {
	app, _, _, _ := newTestApp(t)
	h := newRouteHarness(app, false)
	for _, tc := range []struct {
		method, path string
		code         int
		loc          string
	}{
		{"GET", "/", 301, "https://card.example/"},
		{"GET", "/status?x=1", 301, "https://card.example/status?x=1"},
		{"HEAD", "/vault/a", 301, "https://card.example/vault/a"},
		{"PUT", "/admin/files/x", 308, "https://card.example/admin/files/x"},
	} {
		r := h.do(t, tc.method, tc.path, nil, nil)
		if r.StatusCode != tc.code || r.Header.Get("Location") != tc.loc {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, r.StatusCode, r.Header.Get("Location"))
		}
	}
	// An absolute-form target's authority is the request's host, whatever the Host field says (RFC
	// 9112 §3.2.2: the harness sends "Host: card.example"); a malformed one is 400 and no redirect.
	if r := h.do(t, "GET", "http://lan.example:80/a?q", nil, nil); r.StatusCode != 301 || r.Header.Get("Location") != "https://lan.example/a?q" {
		t.Errorf("absolute-form: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	for _, bad := range []string{"http://u@lan.example/a", "http://lan^example/a", "http://[::1/a", "http://lan.example:x/a"} {
		if r := h.do(t, "GET", bad, nil, nil); r.StatusCode != 400 || r.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", bad, r.StatusCode, r.Header.Get("Location"))
		}
	}
	app.cfg.HTTPSPort = 8443
	if r := h.do(t, "GET", "/a", nil, nil); r.Header.Get("Location") != "https://card.example:8443/a" {
		t.Errorf("port: %q", r.Header.Get("Location"))
	}
	app.cfg.Store.SetConfig("https.authority", "card.lan:4443")
	if r := h.do(t, "GET", "/a", nil, nil); r.Header.Get("Location") != "https://card.lan:4443/a" {
		t.Errorf("configured authority: %q", r.Header.Get("Location"))
	}
}

func TestStaticFiles(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	h := newRouteHarness(app, true)
	r := h.do(t, "GET", "/", nil, nil)
	if r.StatusCode != 200 || !strings.Contains(string(r.body), `href="/status"`) ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("default home: %d %q", r.StatusCode, r.body)
	}
	r = h.do(t, "GET", "/hello.txt", nil, nil)
	f, _ := s.File("hello.txt")
	if r.StatusCode != 200 || string(r.body) != "hello from the card\n" || r.Header.Get("ETag") != f.ETag ||
		r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("file: %d %q %v", r.StatusCode, r.body, r.Header)
	}
	if r = h.do(t, "GET", "/hello.txt", []string{"If-None-Match: " + f.ETag}, nil); r.StatusCode != 304 || len(r.body) != 0 {
		t.Fatalf("conditional: %d", r.StatusCode)
	}
	if r = h.do(t, "GET", "/hello.txt", []string{"Range: bytes=6-9"}, nil); r.StatusCode != 206 || string(r.body) != "from" ||
		r.Header.Get("Content-Range") != "bytes 6-9/20" {
		t.Fatalf("range: %d %q %v", r.StatusCode, r.body, r.Header)
	}
	if r = h.do(t, "HEAD", "/hello.txt", nil, nil); r.StatusCode != 200 || r.ContentLength != 20 || len(r.body) != 0 {
		t.Fatalf("head: %d %d", r.StatusCode, r.ContentLength)
	}
	if r = h.do(t, "GET", "/nope", nil, nil); r.StatusCode != 404 {
		t.Fatalf("missing: %d", r.StatusCode)
	}
	if r = h.do(t, "DELETE", "/hello.txt", nil, nil); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("delete: %d %v", r.StatusCode, r.Header)
	}
	s.PutFile("index.html", "", []byte("<p>mine</p>"))
	s.PutFile("docs/index.html", "", []byte("<p>docs</p>"))
	s.PutFile("vault/secret", "text/plain", []byte("nope"))
	if r = h.do(t, "GET", "/", nil, nil); string(r.body) != "<p>mine</p>" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("stored home: %q %v", r.body, r.Header)
	}
	if r = h.do(t, "GET", "/docs/", nil, nil); string(r.body) != "<p>docs</p>" {
		t.Fatalf("dir index: %q", r.body)
	}
	if r = h.do(t, "GET", "/vault/secret", nil, nil); r.StatusCode != 401 {
		t.Fatalf("vault record reachable without PIN: %d", r.StatusCode)
	}
}

func TestStatusPages(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	s.PutFile("a<b>.txt", "", []byte("x"))
	h := newRouteHarness(app, true)
	admin := []string{"Authorization: Bearer " + testAdminSecret}
	r := h.do(t, "GET", "/status", admin, nil)
	body := string(r.body)
	for _, want := range []string{`http-equiv="refresh"`, "1m30s", "10.0.0.2", "20000 / 24576", "frames_in</td><td>42",
		"segs&lt;out&gt;", "a&lt;b&gt;.txt", "10.0.0.1:5555"} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Error("status is cacheable")
	}
	r = h.do(t, "GET", "/status.json", admin, nil)
	var js struct {
		Uptime   int  `json:"uptime_s"`
		LinkUp   bool `json:"link_up"`
		Counters []struct {
			Layer, Name string
			Value       uint64
		}
		Changes []struct {
			Seq     uint64
			Op      string
			Subject string
		}
		Connections []struct{ Remote string }
	}
	if err := json.Unmarshal(r.body, &js); err != nil {
		t.Fatalf("status.json: %v\n%s", err, r.body)
	}
	if js.Uptime != 90 || !js.LinkUp || len(js.Counters) != 3 || js.Counters[1].Name != "segs<out>" ||
		js.Connections[0].Remote != "10.0.0.1:5555" || js.Changes[len(js.Changes)-1].Subject != "a<b>.txt" {
		t.Fatalf("status.json: %+v", js)
	}
}

// TestStatusStranger: without the admin credential the status pages show
// the card's health and aggregate counters only: no connection address or
// port, no link peer address, no change-log entry (file names, config
// keys, admin and vault activity); with a wrong token, 403.
func TestStatusStranger(t *testing.T) {
	app, s, _, p := newTestApp(t)
	s.PutFile("a<b>.txt", "", []byte("x"))
	s.SetConfig("secret.path", "/x")
	s.PutFile("vault/diary", "", []byte("x"))
	h := newRouteHarness(app, true)
	for _, path := range []string{"/status", "/status.json"} {
		r := h.do(t, "GET", path, nil, nil)
		body := string(r.body)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		for _, want := range []string{"frames_in", "segs", "handshakes", "10.0.0.2", "20000"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
		for _, leak := range []string{"10.0.0.1", "5555", "a&lt;b&gt;", "a<b>", "a\\u003cb", "secret.path", "vault", "<td>admin", `"admin"`, "put", "config"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s shows a stranger %q:\n%s", path, leak, body)
			}
		}
		if path == "/status.json" {
			var js struct {
				Open        int `json:"connections_open"`
				Logged      int `json:"changes_logged"`
				Connections []any
				Changes     []any
			}
			if err := json.Unmarshal(r.body, &js); err != nil || js.Open != 1 || js.Logged < 3 || len(js.Connections) != 0 || len(js.Changes) != 0 {
				t.Fatalf("public JSON %+v %v\n%s", js, err, body)
			}
		}
		if r := h.do(t, "GET", path, []string{"Authorization: Bearer guess"}, nil); r.StatusCode != 403 {
			t.Fatalf("%s with a wrong token: %d", path, r.StatusCode)
		}
		if r := h.do(t, "GET", path, []string{basic("4711")}, nil); r.StatusCode != 200 || strings.Contains(string(r.body), "5555") {
			t.Fatalf("%s with the vault's Basic credentials: %d", path, r.StatusCode)
		}
		// The admin certificate (mutual TLS) shows everything.
		ac, _ := x509.ParseCertificate(p.adminCert)
		h.ci.PeerCertificates = []*x509.Certificate{ac}
		if r := h.do(t, "GET", path, nil, nil); !strings.Contains(string(r.body), "10.0.0.1:5555") || !strings.Contains(string(r.body), "secret.path") {
			t.Fatalf("%s for the admin certificate:\n%s", path, r.body)
		}
		h.ci.PeerCertificates = nil
	}
}

func TestVault(t *testing.T) {
	app, s, m, _ := newTestApp(t)
	h := newRouteHarness(app, true)
	if r := h.do(t, "GET", "/vault/diary", nil, nil); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") == "" ||
		s.PINTriesLeft() != 3 {
		t.Fatalf("no credentials: %d, tries %d", r.StatusCode, s.PINTriesLeft())
	}
	if r := h.do(t, "PUT", "/vault/diary", []string{basic("4711"), "Content-Type: text/plain"}, []byte("dear diary")); r.StatusCode != 201 {
		t.Fatalf("put: %d %s", r.StatusCode, r.body)
	}
	if r := h.do(t, "GET", "/vault/diary", []string{basic("4711")}, nil); r.StatusCode != 200 || string(r.body) != "dear diary" ||
		r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("get: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "GET", "/vault/", []string{basic("4711")}, nil); string(r.body) != "diary\n" {
		t.Fatalf("list: %q", r.body)
	}
	if r := h.do(t, "GET", "/status.json", nil, nil); strings.Contains(string(r.body), "diary") {
		t.Fatalf("status shows a vault record name: %s", r.body)
	}
	// Two wrong PINs, then the store is reopened (card restart): one try left.
	for i, left := range []int{2, 1} {
		h.ci.Now = h.ci.Now.Add(time.Minute) // past the backoff
		r := h.do(t, "GET", "/vault/diary", []string{basic("9999")}, nil)
		if r.StatusCode != 401 || s.PINTriesLeft() != left {
			t.Fatalf("wrong PIN %d: %d, tries %d", i, r.StatusCode, s.PINTriesLeft())
		}
	}
	s2, err := store.OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	app = New(Config{Store: s2})
	h = newRouteHarness(app, true)
	h.ci.Now = testNow.Add(time.Hour)
	if s2.PINTriesLeft() != 1 {
		t.Fatalf("tries after reopen: %d", s2.PINTriesLeft())
	}
	if r := h.do(t, "GET", "/vault/diary", []string{basic("0000")}, nil); r.StatusCode != 403 || !strings.Contains(string(r.body), "blocked") {
		t.Fatalf("third wrong PIN: %d %q", r.StatusCode, r.body)
	}
	// Blocked: even the right PIN is refused, and the block survives a restart.
	s3, _ := store.OpenMedium(m)
	app = New(Config{Store: s3})
	h = newRouteHarness(app, true)
	h.ci.Now = testNow.Add(2 * time.Hour)
	if r := h.do(t, "GET", "/vault/diary", []string{basic("4711")}, nil); r.StatusCode != 403 || !strings.Contains(string(r.body), "card blocked") {
		t.Fatalf("blocked card: %d %q", r.StatusCode, r.body)
	}
	form := "Content-Type: application/x-www-form-urlencoded"
	if r := h.do(t, "POST", "/vault/unblock", []string{form}, []byte("puk=00000000&pin=4371")); r.StatusCode != 403 || s3.PUKFailures() != 1 ||
		!strings.Contains(string(r.body), "next PUK try in 1m0s") {
		t.Fatalf("wrong PUK: %d %d %q", r.StatusCode, s3.PUKFailures(), r.body)
	}
	// The right PUK during the backoff: 429, nothing used.
	if r := h.do(t, "POST", "/vault/unblock", []string{form}, []byte("puk=31415926&pin=4371")); r.StatusCode != 429 ||
		r.Header.Get("Retry-After") != "60" || s3.PUKFailures() != 1 {
		t.Fatalf("PUK during the backoff: %d %v %q", r.StatusCode, r.Header, r.body)
	}
	h.ci.Now = h.ci.Now.Add(time.Minute)
	if r := h.do(t, "POST", "/vault/unblock", []string{"Content-Type: application/x-www-form-urlencoded"}, []byte("puk=31415926&pin=4371")); r.StatusCode != 200 {
		t.Fatalf("unblock: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "GET", "/vault/diary", []string{basic("4371")}, nil); r.StatusCode != 200 || string(r.body) != "dear diary" {
		t.Fatalf("after unblock: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "POST", "/vault/pin", []string{basic("4371")}, []byte("pin=5150")); r.StatusCode != 200 {
		t.Fatalf("change PIN: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "POST", "/vault/pin", []string{basic("5150")}, []byte("pin=6666")); r.StatusCode != 400 || !strings.Contains(string(r.body), "too easy") {
		t.Fatalf("change to a weak PIN: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "POST", "/vault/pin", []string{basic("4371")}, []byte("pin=2580")); r.StatusCode != 401 {
		t.Fatalf("change PIN with the old PIN: %d %q", r.StatusCode, r.body)
	}
	h.ci.Now = h.ci.Now.Add(time.Minute)
	if r := h.do(t, "DELETE", "/vault/diary", []string{basic("5150")}, nil); r.StatusCode != 200 {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if _, ok := s3.File("vault/diary"); ok {
		t.Fatal("record still stored")
	}
	if r := h.do(t, "GET", "/vault/../hello.txt", []string{basic("4371")}, nil); r.StatusCode == 200 {
		t.Fatal("dot segments accepted")
	}
}

func TestAdmin(t *testing.T) {
	app, s, m, p := newTestApp(t)
	h := newRouteHarness(app, true)
	seq := s.Seq()
	for _, tc := range []struct {
		hdr  []string
		code int
	}{
		{nil, 401},
		{[]string{"Authorization: Bearer wrong"}, 403},
		{[]string{"Authorization: Basic czNjcmV0LWFkbWlu"}, 403},
		{[]string{"Authorization: Bearer "}, 403},
	} {
		r := h.do(t, "PUT", "/admin/files/index.html", tc.hdr, []byte("<h1>defaced</h1>"))
		if r.StatusCode != tc.code {
			t.Errorf("%v: %d", tc.hdr, r.StatusCode)
		}
	}
	// A client certificate with another key is not the administrator.
	oc, _ := x509.ParseCertificate(p.otherCert)
	h.ci.PeerCertificates = []*x509.Certificate{oc}
	if r := h.do(t, "PUT", "/admin/files/index.html", nil, []byte("x")); r.StatusCode != 403 {
		t.Errorf("foreign cert: %d", r.StatusCode)
	}
	if s.Seq() != seq {
		t.Fatal("unauthorised requests changed the store")
	}
	// Bearer secret.
	h.ci.PeerCertificates = nil
	auth := []string{"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH", "Content-Type: text/html"}
	if r := h.do(t, "PUT", "/admin/files/index.html", auth, []byte("<h1>new</h1>")); r.StatusCode != 201 {
		t.Fatalf("authorised put: %d %q", r.StatusCode, r.body)
	}
	if s.Seq() != seq+1 {
		t.Fatalf("one change, one transaction: seq %d -> %d", seq, s.Seq())
	}
	if r := h.do(t, "GET", "/", nil, nil); string(r.body) != "<h1>new</h1>" || r.Header.Get("Content-Type") != "text/html" {
		t.Fatalf("new content not served: %q", r.body)
	}
	// Admin certificate (mutual TLS).
	ac, _ := x509.ParseCertificate(p.adminCert)
	h.ci.PeerCertificates = []*x509.Certificate{ac}
	if r := h.do(t, "PUT", "/admin/files/style.css", nil, []byte("p{}")); r.StatusCode != 201 {
		t.Fatalf("mTLS put: %d", r.StatusCode)
	}
	if f, _ := s.File("style.css"); f.ContentType != "text/css; charset=utf-8" {
		t.Fatalf("content type from the name: %q", f.ContentType)
	}
	if r := h.do(t, "PUT", "/admin/config/greeting", nil, []byte("hi\n")); r.StatusCode != 200 {
		t.Fatalf("config: %d", r.StatusCode)
	}
	if v, _ := s.Config("greeting"); v != "hi" {
		t.Fatalf("config value %q", v)
	}
	if r := h.do(t, "GET", "/admin/files", nil, nil); !strings.Contains(string(r.body), "style.css\t3\t") {
		t.Fatalf("list: %q", r.body)
	}
	if r := h.do(t, "PUT", "/admin/files/vault/x", nil, []byte("x")); r.StatusCode != 403 {
		t.Fatalf("admin writes the vault: %d", r.StatusCode)
	}
	if r := h.do(t, "DELETE", "/admin/files/style.css", nil, nil); r.StatusCode != 200 {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r := h.do(t, "DELETE", "/admin/files/style.css", nil, nil); r.StatusCode != 404 {
		t.Fatalf("delete again: %d", r.StatusCode)
	}
	// The change log shows the admin's changes.
	if r := h.do(t, "GET", "/status", nil, nil); !strings.Contains(string(r.body), "style.css") {
		t.Fatal("change log not on the status page")
	}
	// Persisted.
	s2, err := store.OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := s2.File("index.html"); !ok || string(f.Data) != "<h1>new</h1>" {
		t.Fatal("upload not persisted")
	}
}

// TestAdminNoLockout: wrong bearer tokens, however many and however fast,
// never hold the right token or the admin certificate back (issue 13: a
// wrong token every 0.25 s used to leave the right one 1 success in 20).
func TestAdminNoLockout(t *testing.T) {
	app, _, _, p := newTestApp(t)
	h := newRouteHarness(app, true)
	bad := []string{"Authorization: Bearer guess"}
	good := []string{"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH"}
	ok := 0
	for i := 0; i < 200; i++ {
		h.ci.Now = testNow.Add(time.Duration(i) * 50 * time.Millisecond)
		for k := 0; k < 5; k++ {
			if r := h.do(t, "GET", "/admin/", bad, nil); r.StatusCode != 403 {
				t.Fatalf("guess: %d", r.StatusCode)
			}
		}
		if i%20 == 0 {
			if r := h.do(t, "GET", "/admin/", good, nil); r.StatusCode == 200 {
				ok++
			}
		}
	}
	if ok != 10 || app.AdminFailures() != 1000 {
		t.Fatalf("right token: %d of 10 during 1000 wrong ones (%d counted)", ok, app.AdminFailures())
	}
	ac, _ := x509.ParseCertificate(p.adminCert)
	h.ci.PeerCertificates = []*x509.Certificate{ac}
	if r := h.do(t, "GET", "/admin/", bad, nil); r.StatusCode != 200 {
		t.Fatalf("certificate with a wrong token too: %d", r.StatusCode)
	}
}

func TestAdminTearKeepsOldContent(t *testing.T) {
	_, s, m, _ := newTestApp(t)
	s.PutFile("index.html", "text/html", []byte("<p>old</p>"))
	// Tear the card at every write offset of the admin upload and check that
	// the reopened image serves either the old or the new page.
	tm := &tearMedium{MemMedium: m}
	s2, err := store.OpenMedium(tm)
	if err != nil {
		t.Fatal(err)
	}
	h := newRouteHarness(New(Config{Store: s2}), true)
	saved := append([]byte(nil), m.B...)
	total := 0
	tm.limit = -1
	h.do(t, "PUT", "/admin/files/index.html", []string{"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH"}, []byte("<p>new</p>"))
	total = tm.written
	olds, news := 0, 0
	for cut := 0; cut <= total; cut++ {
		copy(m.B, saved)
		tm.written, tm.limit = 0, cut
		st, err := store.OpenMedium(tm)
		if err != nil {
			t.Fatal(err)
		}
		a := New(Config{Store: st})
		hh := newRouteHarness(a, true)
		pr := hh.do(t, "PUT", "/admin/files/index.html", []string{"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH"}, []byte("<p>new</p>"))
		if cut < total && pr.StatusCode != 503 || cut == total && pr.StatusCode != 200 {
			t.Fatalf("cut %d: PUT answered %d", cut, pr.StatusCode)
		}
		tm.limit = -1
		st2, err := store.OpenMedium(m)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		r := newRouteHarness(New(Config{Store: st2}), true).do(t, "GET", "/", nil, nil)
		switch string(r.body) {
		case "<p>old</p>":
			olds++
		case "<p>new</p>":
			news++
		default:
			t.Fatalf("cut %d: served %q", cut, r.body)
		}
	}
	if olds == 0 || news == 0 {
		t.Fatalf("tears: %d old, %d new of %d bytes written", olds, news, total)
	}
	t.Logf("%d tear points: %d served the old page, %d the new", total, olds, news)
}

// tearMedium stops writing after limit bytes (a power cut).
type tearMedium struct {
	*store.MemMedium
	written, limit int
}

func (t *tearMedium) WriteAt(p []byte, off int64) (int, error) {
	if t.limit >= 0 && t.written+len(p) > t.limit {
		k := t.limit - t.written
		if k > 0 {
			t.MemMedium.WriteAt(p[:k], off)
			t.written += k
		}
		return max(k, 0), errTorn
	}
	t.written += len(p)
	return t.MemMedium.WriteAt(p, off)
}

var errTorn = strErr("torn")

func TestAdminFetchQueue(t *testing.T) {
	app, _, _, _ := newTestApp(t)
	h := newRouteHarness(app, true)
	auth := []string{"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH"}
	if r := h.do(t, "POST", "/admin/fetch?url=ftp://x/", auth, nil); r.StatusCode != 400 {
		t.Fatalf("bad scheme: %d", r.StatusCode)
	}
	if r := h.do(t, "POST", "/admin/fetch?url=https%3A%2F%2Fexample.org%3A8443%2Fa%3Fb%3D1&mtls=1", auth, []byte("attest")); r.StatusCode != 202 {
		t.Fatalf("queue: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "POST", "/admin/fetch?url=https://example.org/", auth, nil); r.StatusCode != 409 {
		t.Fatalf("second while queued: %d", r.StatusCode)
	}
	req, ok := app.NextFetch()
	if !ok || !req.TLS || req.Host != "example.org" || req.Port != 8443 || req.Target != "/a?b=1" ||
		req.Method != "POST" || string(req.Body) != "attest" || !req.ClientCert || req.HostPort() != "example.org:8443" {
		t.Fatalf("request: %+v", req)
	}
	if _, ok := app.NextFetch(); ok {
		t.Fatal("taken twice")
	}
	if r := h.do(t, "GET", "/admin/fetch", auth, nil); !strings.Contains(string(r.body), "state: running") {
		t.Fatalf("running: %q", r.body)
	}
	app.SetFetchResult(FetchResult{Status: 200, ContentType: "text/plain", Body: []byte("pong")})
	if r := h.do(t, "GET", "/admin/fetch", auth, nil); !strings.Contains(string(r.body), "status: 200") || !strings.HasSuffix(string(r.body), "pong") {
		t.Fatalf("result: %q", r.body)
	}
	if r := h.do(t, "GET", "/admin/fetch", nil, nil); r.StatusCode != 401 {
		t.Fatalf("unauthenticated result: %d", r.StatusCode)
	}
}

// TestNoKeyMaterial walks every route with every method and credential and
// checks no response carries the identity private key in any encoding.
func TestNoKeyMaterial(t *testing.T) {
	app, s, _, p := newTestApp(t)
	s.PutFile("vault/rec", "text/plain", []byte("r"))
	d := p.keyD
	needles := [][]byte{d, []byte(hex.EncodeToString(d)), []byte(strings.ToUpper(hex.EncodeToString(d))),
		[]byte(base64.StdEncoding.EncodeToString(d)), []byte(base64.RawURLEncoding.EncodeToString(d)),
		[]byte("PRIVATE KEY"), d[:12], []byte(base64.StdEncoding.EncodeToString(d)[:16])}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: d})
	needles = append(needles, pemKey[40:60])
	paths := []string{"/", "/index.html", "/hello.txt", "/status", "/status.json", "/vault", "/vault/", "/vault/rec",
		"/vault/unblock", "/vault/pin", "/admin", "/admin/", "/admin/files", "/admin/files/hello.txt", "/admin/config",
		"/admin/config/x", "/admin/fetch", "/admin/key", "/key", "/.well-known/x", "/admin/files/vault/rec"}
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}
	creds := [][]string{nil, {basic("4711")}, {"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH"}}
	n := 0
	for _, tlsOn := range []bool{false, true} {
		for _, path := range paths {
			for _, m := range methods {
				for _, c := range creds {
					h := newRouteHarness(app, tlsOn)
					var body []byte
					if m == "POST" || m == "PUT" {
						body = []byte("x")
					}
					r := h.do(t, m, path, c, body)
					for _, nd := range needles {
						if bytes.Contains(r.raw, nd) {
							t.Fatalf("%s %s leaks key material", m, path)
						}
					}
					n++
				}
			}
		}
	}
	if s.PINTriesLeft() != 3 {
		t.Fatalf("the walk used the right PIN only, tries %d", s.PINTriesLeft())
	}
	t.Logf("%d responses checked", n)
}

func TestStatusFitsSmallBuffer(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	for i := 0; i < 20; i++ {
		s.SetConfig("key-with-a-long-name-"+itoa(i), "v")
	}
	h := newRouteHarness(app, true)
	h.hc = http.NewServerConn(http.ServerConfig{OutBuf: 2048, HeaderReserve: 384, Handler: func(r *http.Request, w *http.ResponseWriter) {
		app.Serve(&h.ci, r, w)
	}})
	for _, p := range []string{"/status", "/status.json"} {
		r := h.do(t, "GET", p, []string{"Authorization: Bearer " + testAdminSecret}, nil)
		if r.StatusCode != 200 || !strings.Contains(string(r.body), "key-with-a-long-name-19") || strings.Contains(string(r.body), "key-with-a-long-name-5<") {
			t.Fatalf("%s: %d %d bytes\n%s", p, r.StatusCode, len(r.body), r.body)
		}
		if p == "/status.json" && !json.Valid(r.body) {
			t.Fatalf("invalid JSON %s", r.body)
		}
	}
}

// TestStatusAppRowsAdminOnly: per-application rows (RAM, store use; card.Status
// appends them last) and the card's MAC address reach the administrator's
// status page, not a stranger's.
func TestStatusAppRowsAdminOnly(t *testing.T) {
	s, _, p := newCard(t)
	withApps := func(now time.Time) Status {
		st := testStatus(now)
		st.Counters = append(st.Counters, Counter{AppCounterPrefix + "vault", "store bytes", 777},
			Counter{AppCounterPrefix + "home", "RAM bytes", 55})
		st.LinkState = "Ethernet 02:6e:63:00:00:01"
		return st
	}
	app := New(Config{Store: s, Status: withApps, Host: "10.0.0.2"})
	h := newRouteHarness(app, true)
	for _, path := range []string{"/status", "/status.json"} {
		r := h.do(t, "GET", path, nil, nil)
		if r.StatusCode != 200 || strings.Contains(string(r.body), "app ") || strings.Contains(string(r.body), "02:6e:63") ||
			!strings.Contains(string(r.body), "handshakes") || !strings.Contains(string(r.body), "Ethernet") {
			t.Fatalf("%s for a stranger: %d\n%s", path, r.StatusCode, r.body)
		}
		ac, _ := x509.ParseCertificate(p.adminCert)
		h.ci.PeerCertificates = []*x509.Certificate{ac}
		r = h.do(t, "GET", path, nil, nil)
		h.ci.PeerCertificates = nil
		if r.StatusCode != 200 || !strings.Contains(string(r.body), "app vault") || !strings.Contains(string(r.body), "777") ||
			!strings.Contains(string(r.body), "02:6e:63:00:00:01") {
			t.Fatalf("%s for the admin: %d\n%s", path, r.StatusCode, r.body)
		}
	}
}
