package apps

import (
	"bytes"
	"context"
	"crypto/sha256"
	gotls "crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	nethttp "net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/http"
	"netcard/tls"
)

func uploadData(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

type uploadAnswer struct {
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
}

func wantAnswer(b []byte) uploadAnswer {
	s := sha256.Sum256(b)
	return uploadAnswer{int64(len(b)), hex.EncodeToString(s[:])}
}

// cardHTTP is the card profile's HTTP configuration (responses composed in
// place, a 2 KiB input buffer that cannot hold an upload).
var cardHTTP = http.ServerConfig{InBuf: 2048, OutBuf: 1536, InPlace: true}

// TestUploadRoutes: PUT/POST /upload through the route harness (buffered
// there, as the harness does not stream): JSON answer, 405, route off.
func TestUploadRoutes(t *testing.T) {
	app, _, _, _ := newTestApp(t)
	h := newRouteHarness(app, true)
	r := h.do(t, "POST", "/upload", nil, []byte("abc"))
	var a uploadAnswer
	if err := json.Unmarshal(r.body, &a); err != nil || r.StatusCode != 200 || a != wantAnswer([]byte("abc")) ||
		r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %v", r.StatusCode, r.body, err)
	}
	if r = h.do(t, "PUT", "/upload", nil, nil); json.Unmarshal(r.body, &a) != nil || a != wantAnswer(nil) {
		t.Fatalf("empty: %q", r.body)
	}
	if r = h.do(t, "GET", "/upload", nil, nil); r.StatusCode != 405 || r.Header.Get("Allow") != "PUT, POST" {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	app.cfg.MaxUpload = -1
	if r = h.do(t, "PUT", "/upload", nil, []byte("x")); r.StatusCode != 405 {
		t.Fatalf("route off: %d", r.StatusCode)
	}
}

// uploadPair is a TLS session with the card's HTTP configuration and a raw
// client over it.
func uploadPair(t testing.TB, maxUpload int64) (*pair, *rawClient, *App) {
	app, s, _, pki := newTestApp(t)
	app.cfg.MaxUpload = int32(maxUpload)
	p := newPairCfg(SessionConfig{TLS: serverTLS(t, s, seeded(10)), RecordBuf: testRecvBuf, Handler: app.Serve, HTTP: cardHTTP},
		testRecvBuf, 3835)
	c := newRawClient(t, p, pki.cardPool)
	p.pumpRaw(t, c)
	if c.e.State() != tls.Established {
		t.Fatalf("handshake: %v %v", c.e.State(), c.e.Err())
	}
	return p, c, app
}

// sendBody sends data in records of at most rec bytes, letting the server
// run after each.
func sendBody(t testing.TB, p *pair, c *rawClient, data []byte, rec int) {
	for len(data) > 0 {
		k := min(len(data), rec)
		c.send(p.cst, data[:k])
		p.pumpRaw(t, c)
		data = data[k:]
	}
}

func parseAnswer(t testing.TB, raw []byte) (int, uploadAnswer) {
	t.Helper()
	var r http.Response
	n, err := http.ParseResponse(raw, &r)
	if err != nil || n != len(raw) {
		t.Fatalf("response %v: %q", err, raw)
	}
	var a uploadAnswer
	if r.Status == 200 {
		if err := json.Unmarshal(r.Body, &a); err != nil {
			t.Fatalf("%v: %q", err, r.Body)
		}
	}
	return r.Status, a
}

// TestUploadSession: 1 MiB through TLS and the card's HTTP configuration
// (2 KiB input buffer) with Content-Length, then chunked, then a GET on the
// same connection; a declared length over the limit gets 413 at once.
func TestUploadSession(t *testing.T) {
	p, c, _ := uploadPair(t, 2<<20)
	data := uploadData(1, 1<<20)
	c.got = c.got[:0]
	c.send(p.cst, []byte(fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: card.example\r\nContent-Length: %d\r\n\r\n", len(data))))
	sendBody(t, p, c, data, 16384)
	if st, a := parseAnswer(t, c.got); st != 200 || a != wantAnswer(data) {
		t.Fatalf("%d %+v", st, a)
	}
	// Chunked, in odd pieces, with extensions and a trailer, pipelined
	// with a GET.
	c.got = c.got[:0]
	var enc bytes.Buffer
	enc.WriteString("POST /upload HTTP/1.1\r\nHost: card.example\r\nTransfer-Encoding: chunked\r\n\r\n")
	for off, i := 0, 0; off < len(data); i++ {
		k := min(len(data)-off, 1+i*977%9000)
		fmt.Fprintf(&enc, "%x;i=%d\r\n", k, i)
		enc.Write(data[off : off+k])
		enc.WriteString("\r\n")
		off += k
	}
	enc.WriteString("0\r\nX-Done: yes\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n")
	sendBody(t, p, c, enc.Bytes(), 5000)
	i := bytes.Index(c.got, []byte("HTTP/1.1 200 OK\r\nDate"))
	j := bytes.LastIndex(c.got, []byte("HTTP/1.1 200 OK\r\nDate"))
	if i != 0 || j <= 0 || !bytes.HasSuffix(c.got, []byte("hello from the card\n")) {
		t.Fatalf("%q", c.got)
	}
	if st, a := parseAnswer(t, c.got[:j]); st != 200 || a != wantAnswer(data) {
		t.Fatalf("chunked: %d %+v", st, a)
	}
	// Over the limit, declared: 413 before the body, the connection closes.
	c.got = c.got[:0]
	c.send(p.cst, []byte("PUT /upload HTTP/1.1\r\nHost: card.example\r\nExpect: 100-continue\r\nContent-Length: 2097153\r\n\r\n"))
	p.pumpRaw(t, c)
	if !bytes.HasPrefix(c.got, []byte("HTTP/1.1 413 ")) || bytes.Contains(c.got, []byte("100 Continue")) {
		t.Fatalf("%q", c.got)
	}
	if st := p.srv.Stats(); st.BytesIn < 2<<20 {
		t.Fatalf("stats %+v", st)
	}
}

// TestUploadOverLimitInFlight: a chunked upload that grows past the limit
// gets 413 while the client is still sending; the card closes the
// connection (close_notify, FIN) and drops the rest of the body.
func TestUploadOverLimitInFlight(t *testing.T) {
	p, c, _ := uploadPair(t, 64<<10)
	c.got = c.got[:0]
	c.send(p.cst, []byte("PUT /upload HTTP/1.1\r\nHost: card.example\r\nTransfer-Encoding: chunked\r\n\r\n"))
	chunk := append(append([]byte("2000\r\n"), uploadData(5, 0x2000)...), "\r\n"...)
	for i := 0; i < 16; i++ { // 128 KiB, twice the limit
		c.send(p.cst, chunk)
		p.pumpRaw(t, c)
	}
	if !bytes.HasPrefix(c.got, []byte("HTTP/1.1 413 ")) || !bytes.Contains(c.got, []byte("Connection: close\r\n")) {
		t.Fatalf("%q", c.got)
	}
	// close_notify and FIN went out; the rest of the body was dropped
	// below HTTP.
	if c.e.State() != tls.Closed || !p.sst.finSent {
		t.Fatalf("connection not closing: tls %v, FIN %v", c.e.State(), p.sst.finSent)
	}
	if st := p.srv.Stats(); st.BytesIn > 80<<10 || st.RecordsIn >= 16 {
		t.Fatalf("stats %+v", st)
	}
}

// TestUploadAllocs: each TLS record of an upload body (opened in place,
// streamed from the plaintext through SHA-256) allocates nothing, client
// and server together.
func TestUploadAllocs(t *testing.T) {
	p, c, _ := uploadPair(t, 1<<30)
	c.send(p.cst, []byte("PUT /upload HTTP/1.1\r\nHost: card.example\r\nContent-Length: 1000000000\r\n\r\n"))
	p.pumpRaw(t, c)
	piece := uploadData(2, 1400)
	a := testing.AllocsPerRun(300, func() {
		c.send(p.cst, piece)
		p.pumpRaw(t, c)
	})
	if a != 0 {
		t.Fatalf("%v allocations per body record", a)
	}
	if st := p.srv.Stats(); st.BytesIn < 300*1400 || len(c.got) != 0 {
		t.Fatalf("%+v %q", st, c.got)
	}
}

// TestUploadGoClient: Go's net/http client over TLS to a card session
// (card HTTP configuration) uploads 1 MiB with Content-Length, chunked, and
// with Expect: 100-continue on one connection and gets the SHA-256 back; a
// declared length over the limit gets 413 without the body being sent.
func TestUploadGoClient(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	app.cfg.MaxUpload = 2 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServerSession(SessionConfig{TLS: serverTLS(t, s, seeded(10)), RecordBuf: testRecvBuf, Handler: app.Serve, HTTP: cardHTTP})
	var mu sync.Mutex
	stopped := serveTCPPool(t, ln, []*ServerSession{srv}, &mu)
	defer func() { ln.Close(); <-stopped }()
	tr := &nethttp.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
		},
		TLSClientConfig:       &gotls.Config{RootCAs: pki.cardPool, ServerName: "card.example", Time: func() time.Time { return testNow }},
		ExpectContinueTimeout: 20 * time.Second,
	}
	defer tr.CloseIdleConnections()
	cl := &nethttp.Client{Transport: tr, Timeout: 30 * time.Second}
	data := uploadData(3, 1<<20)
	got100 := 0
	trace := &httptrace.ClientTrace{Got100Continue: func() { got100++ }}
	do := func(method string, body io.Reader, n int64, expect bool) (int, uploadAnswer) {
		t.Helper()
		req, _ := nethttp.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
			method, "https://card.example/upload", body)
		req.ContentLength = n
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var a uploadAnswer
		if res.StatusCode == 200 {
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("%v %q", err, b)
			}
		}
		return res.StatusCode, a
	}
	if st, a := do("PUT", bytes.NewReader(data), int64(len(data)), false); st != 200 || a != wantAnswer(data) {
		t.Fatalf("PUT: %d %+v", st, a)
	}
	if st, a := do("POST", io.MultiReader(bytes.NewReader(data)), -1, false); st != 200 || a != wantAnswer(data) {
		t.Fatalf("chunked POST: %d %+v", st, a)
	}
	if st, a := do("PUT", bytes.NewReader(data), int64(len(data)), true); st != 200 || a != wantAnswer(data) || got100 != 1 {
		t.Fatalf("Expect PUT: %d %+v, %d × 100 Continue", st, a, got100)
	}
	mu.Lock()
	conns := srv.Stats().Connections
	mu.Unlock()
	if conns != 1 {
		t.Fatalf("%d connections for three uploads", conns)
	}
	big := &countReader{r: bytes.NewReader(make([]byte, 3<<20))}
	if st, _ := do("PUT", big, 3<<20, true); st != 413 || big.n != 0 || got100 != 1 {
		t.Fatalf("over the limit: %d, %d body bytes read", st, big.n)
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestUploadCurl: curl uploads 1 MiB + 1 byte with PUT -T (curl then sends
// Expect: 100-continue) over TLS to a card session and gets the digest.
func TestUploadCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "curl not installed")
		}
		t.Skip("curl not installed")
	}
	app, s, _, pki := newTestApp(t)
	dir := t.TempDir()
	ca := writePEM(t, dir, "card.pem", "CERTIFICATE", pki.cardCert)
	data := uploadData(4, 1<<20+1)
	f := filepath.Join(dir, "up.bin")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := NewServerSession(SessionConfig{TLS: serverTLS(t, s, seeded(10)), RecordBuf: testRecvBuf, Handler: app.Serve, HTTP: cardHTTP})
	var mu sync.Mutex
	stopped := serveTCPPool(t, ln, []*ServerSession{srv}, &mu)
	defer func() { ln.Close(); <-stopped }()
	want, _ := json.Marshal(wantAnswer(data))
	for _, args := range [][]string{{"-T", f}, {"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f}} {
		args = append([]string{"-sS", "-v", "--max-time", "30", "--expect100-timeout", "20", "--cacert", ca,
			"--resolve", fmt.Sprintf("card.example:%d:127.0.0.1", port)}, args...)
		args = append(args, fmt.Sprintf("https://card.example:%d/upload", port))
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil || !strings.HasSuffix(string(out), string(want)+"\n") {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		if args[len(args)-3] == "-T" && !strings.Contains(string(out), "< HTTP/1.1 100 Continue") {
			t.Fatalf("no 100 Continue:\n%s", out)
		}
	}
}

// TestConnInfoLentPerRequest: the session lends its ConnInfo with a
// request's first byte and Shed drops it, with the upload hasher, once
// HTTP holds no request (an idle keep-alive connection holds neither); the
// next request gets a fresh one with the same connection facts (TLS, time,
// peer) and uploads again.
func TestConnInfoLentPerRequest(t *testing.T) {
	p, c, _ := uploadPair(t, 1<<20)
	if p.srv.ci != nil {
		t.Fatal("a ConnInfo lent before any request")
	}
	put := func(body string) {
		t.Helper()
		c.got = c.got[:0]
		c.send(p.cst, []byte(fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: card.example\r\nContent-Length: %d\r\n\r\n%s", len(body), body)))
		p.pumpRaw(t, c)
		if st, a := parseAnswer(t, c.got); st != 200 || a != wantAnswer([]byte(body)) {
			t.Fatalf("upload: %d %+v", st, a)
		}
		if ci := p.srv.ci; ci == nil || !ci.TLS || !ci.Now.Equal(p.now) || ci.Remote != p.srv.Remote() || ci.sess != p.srv {
			t.Fatalf("ConnInfo during the connection: %+v", ci)
		}
	}
	put("first")
	if p.srv.ci.up == nil || p.srv.Footprint() < ConnInfoSize+uploadFootprint {
		t.Fatalf("upload hasher %p, footprint %d", p.srv.ci.up, p.srv.Footprint())
	}
	lent := p.srv.Lent()
	if n := p.srv.Shed(); n < ConnInfoSize+uploadFootprint || p.srv.ci != nil || p.srv.Lent() != lent-n {
		t.Fatalf("Shed released %d (lent %d → %d): ConnInfo %p", n, lent, p.srv.Lent(), p.srv.ci)
	}
	p.now = p.now.Add(time.Second)
	put("second")
	if p.srv.ci.up == nil {
		t.Fatal("no upload hasher after the second upload")
	}
	// Info lends one for a running connection that holds none.
	p.srv.Shed()
	if ci := p.srv.Info(); ci == nil || !ci.TLS || ci.Remote != p.srv.Remote() {
		t.Fatalf("Info after Shed: %+v", ci)
	}
}
