package apps

// The independent attack review of issue 13's credentials (items 3–6): what
// a stranger without the PIN, PUK or admin credential tries against the
// applications, each kept as a regression guard. The end-to-end runs
// against the binary are in e2e/attack_review_test.go.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	nethttp "net/http"
	"net/netip"
	"netcard/applet"
	"strings"
	"testing"
	"time"

	"netcard/store"
)

// rawDo feeds raw request bytes (one or more pipelined requests) to a fresh
// connection on ci and returns everything answered.
func rawDo(t *testing.T, app *App, ci *ConnInfo, raw string) string {
	t.Helper()
	hc := headConn(app, ci)
	hc.Reset()
	rest := []byte(raw)
	var out []byte
	buf := make([]byte, 8192)
	for i := 0; i < 100; i++ {
		n := hc.Input(rest, ci.Now)
		rest = rest[n:]
		for {
			k := hc.Output(buf, ci.Now)
			if k == 0 {
				break
			}
			out = append(out, buf[:k]...)
		}
		if len(rest) == 0 || n == 0 && len(out) > 0 && hc.Closed() {
			break
		}
	}
	return string(out)
}

// TestReviewPathTricks: request targets that normalise, on some servers, to a
// vault or admin route reach neither without credentials here: the path is
// never percent-decoded nor dot-segment-resolved, the vault and admin
// prefixes are matched on the raw path, store names are exact, and a name
// with a dot segment is refused. No trick costs a PIN try, reads a record,
// lists the admin's files or changes the store.
func TestReviewPathTricks(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	if err := s.PutFile("vault/diary", "text/plain", []byte("SECRET-DIARY")); err != nil {
		t.Fatal(err)
	}
	s.SetConfig("private.key", "SECRET-CONFIG")
	seq := s.Seq()
	targets := []string{
		"/vault/../vault/diary", "/vault/./diary", "/vault//diary", "//vault/diary", "/x/../vault/diary",
		"/vault%2fdiary", "/vault%2Fdiary", "/%76ault/diary", "/vault/%64iary", "/VAULT/diary", "/Vault/diary",
		"/vault./diary", "/vault/diary.", "/vault/diary/", "/vault/diary%00", "/vault/diary;x", "/./vault/diary",
		"https://card.example/vault/diary", "http://card.example/vault/diary", "https://evil/vault/diary",
		"/vault/diary?x=1", "/vault?diary", "/vault/../admin/config", "//admin/config", "/admin/../admin/config",
		"/%61dmin/config", "/admin%2fconfig", "/admin/config/", "/ADMIN/config", "/admin./config", "/admin/./config",
		"https://card.example/admin/config", "/admin/files/../config", "/admin/files/..%2fvault/diary",
		"/admin/files/vault/diary", "/admin/files//vault/diary", "/status/../admin/config", "*",
	}
	for _, tg := range targets {
		for _, m := range []string{"GET", "HEAD", "DELETE"} {
			ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}
			out := rawDo(t, app, ci, m+" "+tg+" HTTP/1.1\r\nHost: card.example\r\n\r\n")
			if strings.Contains(out, "SECRET") || !strings.HasPrefix(out, "HTTP/1.1 ") || strings.HasPrefix(out, "HTTP/1.1 2") {
				t.Errorf("%s %s without credentials: %.200q", m, tg, out)
			}
		}
		// A body-carrying request too (the head path).
		ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}
		out := rawDo(t, app, ci, "PUT "+tg+" HTTP/1.1\r\nHost: card.example\r\nContent-Length: 5\r\n\r\nEVIL!")
		if !strings.HasPrefix(out, "HTTP/1.1 ") || strings.HasPrefix(out, "HTTP/1.1 2") {
			t.Errorf("PUT %s without credentials: %.200q", tg, out)
		}
	}
	if s.Seq() != seq || s.PINTriesLeft() != store.PINTries {
		t.Fatalf("path tricks changed the store (seq %d→%d) or used PIN tries (%d left)", seq, s.Seq(), s.PINTriesLeft())
	}
	// CONNECT's authority form and an asterisk-form OPTIONS reach nothing.
	for _, raw := range []string{"CONNECT card.example:443 HTTP/1.1\r\nHost: card.example:443\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: card.example\r\n\r\n"} {
		if out := rawDo(t, app, &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}, raw); strings.HasPrefix(out, "HTTP/1.1 2") {
			t.Errorf("%q: %.120q", raw, out)
		}
	}
}

// TestReviewAuthHeaderTricks: Authorization fields a stranger can vary —
// odd spacing and case, two of them, a bearer token offered to the vault, a
// Basic PIN offered to the admin, user names, an over-long or malformed
// value, obs-fold — never authorise, and a field that is no PIN at all
// costs no try. The right PIN hidden behind a wrong one in a second field
// does not help either (the first field counts).
func TestReviewAuthHeaderTricks(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	s.PutFile("vault/diary", "text/plain", []byte("SECRET-DIARY"))
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	noTry := []string{
		"Authorization: Bearer " + testAdminSecret, // the admin is not the cardholder
		"Authorization: Basic",
		"Authorization: Basic ",
		"Authorization: Basic !!!!",
		"Authorization: Basic " + b64("no-colon-4711"),
		"Authorization: Basic " + strings.Repeat("A", 400),
		"Authorization: Digest username=\"u\", response=\"4711\"",
		"Authorization: 4711",
		"Authorization:Basic" + b64("u:4711"),
		"X-Authorization: Basic " + b64("u:4711"),
		"Proxy-Authorization: Basic " + b64("u:4711"),
		"Cookie: pin=4711",
	}
	for _, h := range noTry {
		for _, path := range []string{"/vault/diary", "/vault/"} {
			out := rawDo(t, app, &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}, "GET "+path+" HTTP/1.1\r\nHost: c\r\n"+h+"\r\n\r\n")
			if strings.Contains(out, "SECRET") || strings.HasPrefix(out, "HTTP/1.1 2") {
				t.Errorf("%q on %s: %.160q", h, path, out)
			}
		}
	}
	if s.PINTriesLeft() != store.PINTries {
		t.Fatalf("credential-less fields used PIN tries: %d left", s.PINTriesLeft())
	}
	// Spellings of a Basic field with a wrong PIN: one comparison, 401.
	now := testNow
	for i, h := range []string{
		"Authorization: bAsIc   " + b64("admin:9999") + "   ",
		"Authorization: Basic " + b64(":9998") + "\r\nAuthorization: Basic " + b64("u:4711"),
	} {
		now = now.Add(time.Minute)
		out := rawDo(t, app, &ConnInfo{Conn: applet.Conn{TLS: true, Now: now}}, "GET /vault/diary HTTP/1.1\r\nHost: c\r\n"+h+"\r\n\r\n")
		if strings.Contains(out, "SECRET") || !strings.HasPrefix(out, "HTTP/1.1 401") || s.PINTriesLeft() != store.PINTries-1-i {
			t.Errorf("wrong PIN spelling %d: %.160q, %d tries left", i, out, s.PINTriesLeft())
		}
	}
	// The admin routes: a Basic PIN, an empty bearer, a token with a NUL or a
	// suffix, the token in the query or a cookie — none is the admin.
	for _, h := range []string{
		basic("4711"), "Authorization: Bearer", "Authorization: Bearer ", "Authorization: Bearer " + testAdminSecret + "x",
		"Authorization: Bearer " + testAdminSecret[:len(testAdminSecret)-1], "Authorization: Bearer " + strings.ToLower(testAdminSecret),
		"Authorization: Bearer " + b64(testAdminSecret), "Authorization: Basic " + b64("admin:"+testAdminSecret),
		"Cookie: token=" + testAdminSecret,
	} {
		out := rawDo(t, app, &ConnInfo{Conn: applet.Conn{TLS: true, Now: now}}, "GET /admin/config?token="+testAdminSecret+" HTTP/1.1\r\nHost: c\r\n"+h+"\r\n\r\n")
		if strings.HasPrefix(out, "HTTP/1.1 2") || strings.Contains(out, "private.key") {
			t.Errorf("admin with %q: %.160q", h, out)
		}
	}
	// The admin over plain HTTP (port 80), even with the right token: no.
	out := rawDo(t, app, &ConnInfo{Conn: applet.Conn{TLS: false, Now: now}}, "GET /admin/config HTTP/1.1\r\nHost: c\r\n"+adminAuthz+"\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 301") {
		t.Errorf("admin over port 80: %.160q", out)
	}
}

// TestReviewBackoffEveryRoute: after one wrong PIN, every route that checks
// the PIN — GET, HEAD, the list, PUT/DELETE (answered from the head), the
// PIN change and the PUK change — is refused with 429 during the backoff,
// whatever the user name; so is a burst of requests pipelined on one
// connection, and many connections at the same instant. No try is used.
func TestReviewBackoffEveryRoute(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	s.PutFile("vault/diary", "text/plain", []byte("SECRET-DIARY"))
	now := testNow.Add(time.Hour)
	first := rawDo(t, app, &ConnInfo{Conn: applet.Conn{TLS: true, Now: now}}, "GET /vault/diary HTTP/1.1\r\nHost: c\r\n"+basic("0001")+"\r\n\r\n")
	if !strings.HasPrefix(first, "HTTP/1.1 401") || s.PINTriesLeft() != 2 {
		t.Fatalf("first wrong PIN: %.120q", first)
	}
	form := "Content-Type: application/x-www-form-urlencoded\r\n"
	reqs := []string{
		"GET /vault/diary HTTP/1.1\r\nHost: c\r\n" + basic("0002") + "\r\n\r\n",
		"HEAD /vault/diary HTTP/1.1\r\nHost: c\r\n" + basic("0003") + "\r\n\r\n",
		"GET /vault/ HTTP/1.1\r\nHost: c\r\n" + basic("0004") + "\r\n\r\n",
		"GET /vault HTTP/1.1\r\nHost: c\r\nAuthorization: Basic " + base64.StdEncoding.EncodeToString([]byte("other-user:0005")) + "\r\n\r\n",
		"DELETE /vault/diary HTTP/1.1\r\nHost: c\r\n" + basic("0006") + "\r\n\r\n",
		"PUT /vault/diary HTTP/1.1\r\nHost: c\r\n" + basic("0007") + "\r\nContent-Length: 3\r\n\r\nabc",
		"PUT /vault/diary HTTP/1.1\r\nHost: c\r\n" + basic("0008") + "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /vault/pin HTTP/1.1\r\nHost: c\r\n" + basic("0009") + "\r\n" + form + "Content-Length: 8\r\n\r\npin=5150",
		"POST /vault/puk HTTP/1.1\r\nHost: c\r\n" + basic("0010") + "\r\n" + form + "Content-Length: 28\r\n\r\npuk=31415926&newpuk=27182818",
	}
	for i, rq := range reqs {
		ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: now.Add(time.Duration(i) * 100 * time.Millisecond)}}
		if out := rawDo(t, app, ci, rq); !strings.HasPrefix(out, "HTTP/1.1 429") || !strings.Contains(out, "Retry-After: ") {
			t.Errorf("request %d during the backoff: %.160q", i, out)
		}
	}
	// Pipelined on one connection (those with no body; the body routes
	// close after a refusal from the head).
	ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: now.Add(time.Second)}}
	out := rawDo(t, app, ci, strings.Repeat(reqs[0]+reqs[1]+reqs[2]+reqs[3], 5))
	if n := strings.Count(out, "HTTP/1.1 429"); n != 20 {
		t.Errorf("pipelined: %d of 20 answered 429:\n%.400q", n, out)
	}
	if s.PINTriesLeft() != 2 || strings.Contains(out, "SECRET") {
		t.Fatalf("tries used during the backoff: %d left", s.PINTriesLeft())
	}
	// After the backoff, a pipelined burst gets one comparison, not five.
	ci = &ConnInfo{Conn: applet.Conn{TLS: true, Now: now.Add(3 * time.Second)}}
	out = rawDo(t, app, ci, strings.Repeat(reqs[0], 5))
	if s.PINTriesLeft() != 1 || strings.Count(out, "HTTP/1.1 429") != 4 {
		t.Fatalf("pipelined burst after the backoff: %d tries left\n%.400q", s.PINTriesLeft(), out)
	}
	// The owner's PUK is not touched by any of it.
	if s.PUKFailures() != 0 {
		t.Fatalf("PUK failures %d", s.PUKFailures())
	}
}

// TestReviewNoRecordOracle: before the PIN is checked nothing tells whether
// a record exists — the same status and body for an existing and a missing
// name, with no PIN, with a wrong one, during the backoff and once blocked.
func TestReviewNoRecordOracle(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	s.PutFile("vault/diary", "text/plain", []byte("SECRET-DIARY"))
	now := testNow.Add(time.Hour)
	ask := func(name, auth string, at time.Time) string {
		out := rawDo(t, app, &ConnInfo{Conn: applet.Conn{TLS: true, Now: at}}, "GET /vault/"+name+" HTTP/1.1\r\nHost: c\r\n"+auth+"\r\n")
		i := strings.Index(out, "\r\n\r\n")
		head := out[:max(i, 0)]
		// Date-free comparison: status line, body.
		return strings.SplitN(head, "\r\n", 2)[0] + "|" + out[i+4:]
	}
	// No PIN.
	if a, b := ask("diary", "", now), ask("nothing", "", now); a != b {
		t.Errorf("no PIN: %q vs %q", a, b)
	}
	// A wrong PIN on each (the backoff between them waited out), then
	// during the backoff, then blocked.
	a := ask("diary", basic("0001")+"\r\n", now)
	b := ask("nothing", basic("0002")+"\r\n", now.Add(3*time.Second))
	if strings.Replace(a, "2 tries", "1 tries", 1) != strings.Replace(b, "next try in 4", "next try in 2", 1) || !strings.HasPrefix(a, "HTTP/1.1 401") {
		t.Errorf("wrong PIN: %q vs %q", a, b)
	}
	if a, b := ask("diary", basic("0003")+"\r\n", now.Add(4*time.Second)), ask("nothing", basic("0004")+"\r\n", now.Add(4*time.Second)); a != b {
		t.Errorf("backoff: %q vs %q", a, b)
	}
	ask("nothing", basic("0005")+"\r\n", now.Add(10*time.Second))
	if s.PINTriesLeft() != 0 {
		t.Fatalf("not blocked: %d", s.PINTriesLeft())
	}
	if a, b := ask("diary", basic("4711")+"\r\n", now.Add(20*time.Second)), ask("nothing", basic("4711")+"\r\n", now.Add(20*time.Second)); a != b {
		t.Errorf("blocked: %q vs %q", a, b)
	}
}

// bigStatus is a status whose page is larger than any response space, so
// that it is streamed from a kept statusPage.
func bigStatus(now time.Time) Status {
	st := testStatus(now)
	st.Conns = nil
	for i := 0; i < 200; i++ {
		st.Conns = append(st.Conns, ConnStatus{Local: 443, Remote: netip.AddrPortFrom(netip.MustParseAddr("10.9.8.7"), uint16(40000+i)), State: "established", TLS: true})
	}
	return st
}

// TestReviewStatusPageReuse: the administrator's streamed status page
// (a kept statusPage, owned by the session) is never what a stranger
// gets next — neither on the same connection (a request after the
// admin's, or an interrupted admin stream), nor on another; HEAD gets
// no body; and /status.json likewise.
func TestReviewStatusPageReuse(t *testing.T) {
	s, _, _ := newCard(t)
	s.SetConfig("private.key", "SECRET-CONFIG")
	for _, path := range []string{"/status", "/status.json"} {
		app := New(Config{Store: s, Status: bigStatus, StatusStreams: 1})
		ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}
		adm := rawDo(t, app, ci, "GET "+path+" HTTP/1.1\r\nHost: c\r\n"+adminAuthz+"\r\n")
		if !strings.Contains(adm, "10.9.8.7") || !strings.Contains(adm, "private.key") || !strings.Contains(adm, "chunked") {
			t.Fatalf("%s: the admin's page is not the full streamed one:\n%.300q", path, adm)
		}
		// Same session, pipelined: admin then stranger.
		both := rawDo(t, app, ci, "GET "+path+" HTTP/1.1\r\nHost: c\r\n"+adminAuthz+"\r\nGET "+path+" HTTP/1.1\r\nHost: c\r\n\r\n")
		second := both[strings.LastIndex(both, "HTTP/1.1 200"):]
		if strings.Count(both, "HTTP/1.1 200") != 2 || strings.Contains(second, "10.9.8.7") || strings.Contains(second, "private.key") {
			t.Errorf("%s: stranger after the admin on one connection:\n%.300q", path, second)
		}
		// An admin stream cut short (only the head read), then a stranger on
		// another session: it must not inherit the half-sent admin page
		// (StatusStreams is 1: it gets the page or 503).
		hc := headConn(app, ci)
		hc.Reset()
		hc.Input([]byte("GET "+path+" HTTP/1.1\r\nHost: c\r\n"+adminAuthz+"\r\n"), testNow)
		part := make([]byte, 700)
		hc.Output(part, testNow)
		for _, m := range []string{"GET", "HEAD"} {
			other := &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}
			out := rawDo(t, app, other, m+" "+path+" HTTP/1.1\r\nHost: c\r\n\r\n")
			if strings.Contains(out, "10.9.8.7") || strings.Contains(out, "private.key") {
				t.Errorf("%s %s: a stranger got the admin's page:\n%.300q", m, path, out)
			}
			if m == "HEAD" && strings.Contains(out, "connections_open") {
				t.Errorf("HEAD %s sent a body", path)
			}
		}
		// The same session's next request, a stranger's, after the cut.
		out := rawDo(t, app, ci, "GET "+path+" HTTP/1.1\r\nHost: c\r\n\r\n")
		if strings.Contains(out, "10.9.8.7") || strings.Contains(out, "private.key") || !strings.HasPrefix(out, "HTTP/1.1 200") {
			t.Errorf("%s: stranger after a cut admin stream on the same session:\n%.300q", path, out)
		}
	}
}

// TestReviewForgedAdminCert: mutual TLS with a certificate that carries the
// administrator's public key but is signed by, and proven with, another
// key (the attacker has the admin's certificate or public key, not its
// private key). The CertificateVerify fails: the handshake is refused in
// TLS 1.3 and 1.2, and no admin route is reached. A certificate of another
// key (proven correctly) is a stranger: 403 on /admin/, the public status.
// Each case runs with and without tls.Config.PeerKeyOnly (the card keeps
// only the leaf's key: the proof must still be checked against it).
func TestReviewForgedAdminCert(t *testing.T) {
	for _, keyOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("PeerKeyOnly=", keyOnly), func(t *testing.T) { forgedAdminCert(t, keyOnly) })
	}
}

func forgedAdminCert(t *testing.T, keyOnly bool) {
	app, s, _, pki := newTestApp(t)
	adminPub := &pki.adminKey.PublicKey
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "admin"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	parent := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "evil ca"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour), PublicKey: &pki.otherKey.PublicKey}
	forged, err := x509.CreateCertificate(seeded(77), tmpl, parent, adminPub, pki.otherKey)
	if err != nil {
		t.Fatal(err)
	}
	fc, _ := x509.ParseCertificate(forged)
	if ac, _ := x509.ParseCertificate(pki.adminCert); !bytes.Equal(fc.RawSubjectPublicKeyInfo, ac.RawSubjectPublicKeyInfo) {
		t.Fatal("forged certificate does not carry the admin key")
	}
	// An attacker key of another curve too (its CertificateVerify cannot even
	// fit the admin key's scheme).
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), seeded(78))
	for _, tc := range []struct {
		name string
		key  any
		ver  uint16
	}{{"tls13", pki.otherKey, gotls.VersionTLS13}, {"tls12", pki.otherKey, gotls.VersionTLS12},
		{"tls13-p384", k384, gotls.VersionTLS13}, {"tls12-p384", k384, gotls.VersionTLS12}} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, herr := adminOverTLS(t, app, s, pki, gotls.Certificate{Certificate: [][]byte{forged}, PrivateKey: tc.key}, tc.ver, keyOnly)
			if herr == nil || code != 0 {
				t.Fatalf("forged admin certificate: handshake error %v, /admin/config %d %.100q", herr, code, body)
			}
			t.Logf("refused: %v", herr)
		})
	}
	// Another key's own certificate, properly proven: a stranger.
	code, body, herr := adminOverTLS(t, app, s, pki, gotls.Certificate{Certificate: [][]byte{pki.otherCert}, PrivateKey: pki.otherKey}, gotls.VersionTLS13, keyOnly)
	if herr != nil || code != 403 {
		t.Fatalf("intruder's certificate: %v, %d %q", herr, code, body)
	}
	// The control: the admin's own certificate and key.
	code, body, herr = adminOverTLS(t, app, s, pki, gotls.Certificate{Certificate: [][]byte{pki.adminCert}, PrivateKey: pki.adminKey}, gotls.VersionTLS12, keyOnly)
	if herr != nil || code != 200 || !strings.Contains(body, "private.key") {
		t.Fatalf("admin's certificate: %v, %d %q", herr, code, body)
	}
}

// adminOverTLS runs a Go TLS client with cert against a session over app,
// and GETs /admin/config: the status (0 if the request failed) and body, or
// the handshake error. keyOnly sets the server's tls.Config.PeerKeyOnly.
func adminOverTLS(t *testing.T, app *App, s *store.Store, pki *testPKI, cert gotls.Certificate, ver uint16, keyOnly bool) (int, string, error) {
	t.Helper()
	s.SetConfig("private.key", "x")
	cfg := serverTLS(t, s, seeded(11))
	cfg.PeerKeyOnly = keyOnly
	srv := NewServerSession(SessionConfig{TLS: cfg, RecordBuf: testRecvBuf, Handler: app.Serve})
	br := startBridge(t, srv)
	cl := gotls.Client(br.conn, &gotls.Config{RootCAs: pki.cardPool, ServerName: "card.example", Time: func() time.Time { return testNow },
		MinVersion: ver, MaxVersion: ver, Certificates: []gotls.Certificate{cert}})
	defer func() {
		cl.Close()
		select {
		case <-br.done:
		case <-time.After(10 * time.Second):
			t.Error("session did not finish")
		}
	}()
	cl.SetDeadline(time.Now().Add(10 * time.Second))
	if err := cl.Handshake(); err != nil {
		return 0, "", err
	}
	fmt.Fprintf(cl, "GET /admin/config HTTP/1.1\r\nHost: card.example\r\nConnection: close\r\n\r\n")
	resp, err := nethttp.ReadResponse(bufio.NewReader(cl), nil)
	if err != nil {
		// TLS 1.3: the client's Finished went out before the server judged
		// its CertificateVerify; the refusal arrives as an alert here.
		return 0, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), nil
}
