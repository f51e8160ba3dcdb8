package e2e

import (
	"bufio"
	"bytes"
	"context"
	stdtls "crypto/tls"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"netcard/store"
)

// curlResult is what one curl run fetched.
type curlResult struct {
	status int
	head   string // response header block(s), as received
	body   []byte
}

// curlFetch runs curl against the card through the loopback forwarder with
// full certificate verification (--cacert) and returns the status, headers
// and body.
func curlFetch(t *testing.T, curl, ca, url string, args ...string) curlResult {
	t.Helper()
	dir := t.TempDir()
	hf, bf := filepath.Join(dir, "head"), filepath.Join(dir, "body")
	all := append([]string{"-sS", "--max-time", "60", "--cacert", ca, "-D", hf, "-o", bf, "-w", "%{http_code}"}, args...)
	all = append(all, url)
	out, err := runCmd(t, 90*time.Second, "", nil, curl, all...)
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", all, err, out)
	}
	code, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("curl %v: no status code in %q", all, out)
	}
	head, _ := os.ReadFile(hf)
	body, _ := os.ReadFile(bf)
	return curlResult{status: code, head: string(head), body: body}
}

// headerValue finds a header in a raw header block (last occurrence).
func headerValue(head, name string) string {
	v := ""
	for _, line := range strings.Split(head, "\r\n") {
		k, val, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			v = strings.TrimSpace(val)
		}
	}
	return v
}

// siteFiles is a small web site for the card's store: pages that link to
// each other, a stylesheet and an image, for wget to mirror.
var siteFiles = []struct{ path, ctype, data string }{
	{"index.html", "text/html; charset=utf-8", `<!DOCTYPE html><html><head><title>card home</title>
<link rel="stylesheet" href="/site.css"></head><body><h1>card home</h1>
<p><a href="/about.html">about</a> <a href="/docs/guide.html">guide</a> <a href="/status">status</a></p>
<img src="/logo.svg" alt="logo"></body></html>
`},
	{"about.html", "text/html; charset=utf-8", `<!DOCTYPE html><html><body><p>about the card</p><a href="/">home</a></body></html>
`},
	{"docs/guide.html", "text/html; charset=utf-8", `<!DOCTYPE html><html><body><p>guide</p><a href="../about.html">about</a></body></html>
`},
	{"site.css", "text/css; charset=utf-8", "body { font-family: sans-serif; color: #123; }\n"},
	{"logo.svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>
`},
}

func putSite(st *store.Store) error {
	for _, f := range siteFiles {
		if err := st.PutFile(f.path, f.ctype, []byte(f.data)); err != nil {
			return err
		}
	}
	return nil
}

// TestCurlFeatures: curl with full verification fetches pages, HEAD, a
// byte range, a conditional request answered 304, and a chunked upload
// into the vault.
func TestCurlFeatures(t *testing.T) {
	curl := need(t, "curl")
	ar := newAppRig(t, putSite)
	addr := ar.forward(t, 443)
	ca := ar.certFile(t)
	base := "https://127.0.0.1:" + strconv.Itoa(port(t, addr))
	index := []byte(siteFiles[0].data)

	r := curlFetch(t, curl, ca, base+"/")
	if r.status != 200 || !bytes.Equal(r.body, index) {
		t.Fatalf("GET / = %d %q", r.status, r.body)
	}
	etag := headerValue(r.head, "ETag")
	if etag == "" || headerValue(r.head, "Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / headers lack ETag or Content-Type:\n%s", r.head)
	}
	if headerValue(r.head, "Date") == "" {
		t.Errorf("GET / has no Date:\n%s", r.head)
	}
	r = curlFetch(t, curl, ca, base+"/site.css")
	if r.status != 200 || string(r.body) != siteFiles[3].data || !strings.HasPrefix(headerValue(r.head, "Content-Type"), "text/css") {
		t.Fatalf("GET /site.css = %d %q\n%s", r.status, r.body, r.head)
	}

	t.Run("HEAD", func(t *testing.T) {
		r := curlFetch(t, curl, ca, base+"/", "-I")
		// curl -I writes the head as its output: no body bytes may follow it.
		if r.status != 200 || bytes.Contains(r.body, []byte("card home")) {
			t.Fatalf("HEAD / = %d, output %q", r.status, r.body)
		}
		if cl := headerValue(r.head, "Content-Length"); cl != strconv.Itoa(len(index)) {
			t.Fatalf("HEAD / Content-Length = %q, want %d\n%s", cl, len(index), r.head)
		}
		if headerValue(r.head, "ETag") != etag {
			t.Fatalf("HEAD / ETag %q != GET's %q", headerValue(r.head, "ETag"), etag)
		}
	})
	t.Run("Range", func(t *testing.T) {
		r := curlFetch(t, curl, ca, base+"/", "-r", "0-9")
		if r.status != 206 || !bytes.Equal(r.body, index[:10]) {
			t.Fatalf("Range 0-9 = %d %q, want 206 %q", r.status, r.body, index[:10])
		}
		want := fmt.Sprintf("bytes 0-9/%d", len(index))
		if cr := headerValue(r.head, "Content-Range"); cr != want {
			t.Fatalf("Content-Range = %q, want %q", cr, want)
		}
		r = curlFetch(t, curl, ca, base+"/", "-r", "20-")
		if r.status != 206 || !bytes.Equal(r.body, index[20:]) {
			t.Fatalf("Range 20- = %d %q", r.status, r.body)
		}
		r = curlFetch(t, curl, ca, base+"/", "-r", "100000-")
		if r.status != 416 {
			t.Fatalf("unsatisfiable range = %d, want 416", r.status)
		}
	})
	t.Run("conditional", func(t *testing.T) {
		r := curlFetch(t, curl, ca, base+"/", "-H", "If-None-Match: "+etag)
		if r.status != 304 || len(r.body) != 0 {
			t.Fatalf("If-None-Match %s = %d %q, want 304", etag, r.status, r.body)
		}
		if headerValue(r.head, "ETag") != etag {
			t.Fatalf("304 without the ETag:\n%s", r.head)
		}
		r = curlFetch(t, curl, ca, base+"/", "-H", `If-None-Match: "other"`)
		if r.status != 200 || !bytes.Equal(r.body, index) {
			t.Fatalf("If-None-Match mismatch = %d", r.status)
		}
	})
	t.Run("chunked-PUT", func(t *testing.T) {
		rec := bytes.Repeat([]byte("secret record line\n"), 30) // 570 bytes, several chunks
		f := filepath.Join(t.TempDir(), "rec.txt")
		if err := os.WriteFile(f, rec, 0o600); err != nil {
			t.Fatal(err)
		}
		r := curlFetch(t, curl, ca, base+"/vault/notes.txt", "-u", "me:"+rightPIN, "-X", "PUT",
			"-H", "Transfer-Encoding: chunked", "-H", "Content-Type: text/plain", "--data-binary", "@"+f)
		if r.status != 201 {
			t.Fatalf("chunked PUT = %d %q\n%s", r.status, r.body, r.head)
		}
		r = curlFetch(t, curl, ca, base+"/vault/notes.txt", "-u", "me:"+rightPIN)
		if r.status != 200 || !bytes.Equal(r.body, rec) {
			t.Fatalf("GET the chunked record = %d, %d bytes, want %d", r.status, len(r.body), len(rec))
		}
	})
	t.Run("chunked-POST", func(t *testing.T) {
		// A form POSTed with chunked framing: the PIN is changed (to itself).
		r := curlFetch(t, curl, ca, base+"/vault/pin", "-u", "me:"+rightPIN, "-H", "Transfer-Encoding: chunked",
			"--data-binary", "pin="+rightPIN)
		if r.status != 200 || !strings.Contains(string(r.body), "PIN changed") {
			t.Fatalf("chunked POST /vault/pin = %d %q", r.status, r.body)
		}
		if !strings.Contains(r.head, "HTTP/1.1 200") {
			t.Fatalf("response head:\n%s", r.head)
		}
	})
	t.Run("http-redirect", func(t *testing.T) {
		plain := ar.forward(t, 80)
		out, err := runCmd(t, 60*time.Second, "", nil, curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
			"http://127.0.0.1:"+strconv.Itoa(port(t, plain))+"/status")
		if err != nil || !strings.HasPrefix(out, "301 https://127.0.0.1") || !strings.HasSuffix(out, "/status") {
			t.Fatalf("port 80: %q %v", out, err)
		}
	})
}

// TestWgetMirror: wget mirrors the card's pages two levels deep with full
// certificate verification; every linked file arrives intact.
func TestWgetMirror(t *testing.T) {
	wget := need(t, "wget")
	ar := newAppRig(t, putSite)
	addr := ar.forward(t, 443)
	ca := ar.certFile(t)
	dir := t.TempDir()
	url := "https://127.0.0.1:" + strconv.Itoa(port(t, addr)) + "/"
	out, err := runCmd(t, 120*time.Second, dir, nil, wget, "-r", "-l", "2", "-nH", "-nv", "-e", "robots=off",
		"--ca-certificate="+ca, "--tries=1", "--timeout=30", "-P", dir, url)
	if err != nil {
		t.Fatalf("wget: %v\n%s", err, out)
	}
	for _, f := range siteFiles {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.path)))
		if err != nil {
			t.Errorf("wget did not fetch %s: %v\n%s", f.path, err, out)
			continue
		}
		if string(got) != f.data {
			t.Errorf("%s: mirrored %q, want %q", f.path, got, f.data)
		}
	}
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil || !bytes.Contains(st, []byte("netcard status")) {
		t.Errorf("mirrored status page: %v %.200q", err, st)
	}
}

// TestKeepAlive1000: Go's net/http client runs 1,000 requests on one
// keep-alive connection to the card.
func TestKeepAlive1000(t *testing.T) {
	ar := newAppRig(t, putSite)
	var before uint64
	ar.runner.Do(func(time.Time) { before = ar.card.TCP().Stats().ConnsAccepted })
	newConns := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			newConns++
		}
	}}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	paths := []string{"/", "/site.css", "/about.html", "/status.json"}
	start := time.Now()
	const n = 1000
	for i := 0; i < n; i++ {
		p := paths[i%len(paths)]
		req, _ := nethttp.NewRequestWithContext(ctx, "GET", ar.url(p), nil)
		resp, err := ar.client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("request %d %s: %d, %d bytes, %v", i, p, resp.StatusCode, len(b), err)
		}
	}
	elapsed := time.Since(start)
	var after uint64
	ar.runner.Do(func(time.Time) { after = ar.card.TCP().Stats().ConnsAccepted })
	if newConns != 1 || after-before != 1 {
		t.Fatalf("%d requests used %d client connections, card accepted %d; want 1", n, newConns, after-before)
	}
	t.Logf("%d keep-alive requests on one connection in %v (%.0f req/s)", n, elapsed, n/elapsed.Seconds())
}

// TestCurlPaced115200 runs curl against a card on a serial line paced at
// 115200 baud (the demo's default): a handshake, a page and an 8 KiB file,
// with the line efficiency of the transfer.
func TestCurlPaced115200(t *testing.T) {
	curl := need(t, "curl")
	const baud = 115200
	big := bytes.Repeat([]byte("0123456789abcdef"), 512) // 8 KiB
	ar := startCardPaced(t, filepath.Join(t.TempDir(), "card.img"), cardProfile(), baud, func(st *store.Store) error {
		if err := putSite(st); err != nil {
			return err
		}
		return st.PutFile("big.bin", "application/octet-stream", big)
	})
	addr := ar.forward(t, 443)
	ca := ar.certFile(t)
	base := "https://127.0.0.1:" + strconv.Itoa(port(t, addr))
	start := time.Now()
	r := curlFetch(t, curl, ca, base+"/")
	if r.status != 200 || string(r.body) != siteFiles[0].data {
		t.Fatalf("GET / at %d baud = %d %q", baud, r.status, r.body)
	}
	first := time.Since(start)
	start = time.Now()
	r = curlFetch(t, curl, ca, base+"/big.bin")
	if r.status != 200 || !bytes.Equal(r.body, big) {
		t.Fatalf("GET /big.bin at %d baud = %d, %d bytes", baud, r.status, len(r.body))
	}
	el := time.Since(start)
	line := float64(baud) / 10 // bytes per second on an 8N1 line
	t.Logf("%d baud: first page (handshake included) in %v; 8 KiB file with a new handshake in %v = %.0f B/s, %.0f%% of the line's %.0f B/s",
		baud, first.Round(time.Millisecond), el.Round(time.Millisecond), float64(len(big))/el.Seconds(),
		100*float64(len(big))/el.Seconds()/line, line)
}

// TestPipelining sends several requests in one TLS write and reads the
// responses back in order.
func TestPipelining(t *testing.T) {
	ar := newAppRig(t, putSite)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := ar.ns.Net().DialContext(ctx, "tcp", ar.cardIP.String()+":443")
	if err != nil {
		t.Fatal(err)
	}
	conn := stdtls.Client(raw, &stdtls.Config{RootCAs: ar.roots, ServerName: "netcard.local"})
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	paths := []string{"/about.html", "/site.css", "/", "/nope", "/logo.svg"}
	var reqs bytes.Buffer
	for i, p := range paths {
		fmt.Fprintf(&reqs, "GET %s HTTP/1.1\r\nHost: netcard.local\r\n", p)
		if i == len(paths)-1 {
			reqs.WriteString("Connection: close\r\n")
		}
		reqs.WriteString("\r\n")
	}
	if _, err := conn.Write(reqs.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for _, p := range paths {
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response to %s: %v", p, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := 200
		var data string
		for _, f := range siteFiles {
			if "/"+f.path == p || p == "/" && f.path == "index.html" {
				data = f.data
			}
		}
		if data == "" {
			want = 404
		}
		if resp.StatusCode != want || want == 200 && string(b) != data {
			t.Fatalf("pipelined %s = %d %q, want %d", p, resp.StatusCode, b, want)
		}
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("after Connection: close: %d bytes, %v", n, err)
	}
}
