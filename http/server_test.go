package http

import (
	"strings"
	"testing"
	"time"
)

var testFile = []byte("0123456789abcdefghijklmnopqrstuvwxyz")

const testETag = `"v1"`

// testHandler serves /file (ServeContent), echoes POST bodies, redirects
// /old, and writes a small page otherwise.
func testHandler(r *Request, w *ResponseWriter) {
	switch {
	case string(r.Path) == "/file":
		ServeContent(w, r, MIMEType("f.txt"), testETag, testFile)
	case string(r.Method) == "POST":
		w.Header.ContentType = "application/octet-stream"
		w.Write(r.Body)
	case string(r.Path) == "/old":
		w.Header.Status = 301
		w.Header.Location = "/new"
	case string(r.Path) == "/stream":
		w.Header.ContentType = "text/plain"
		w.SetBodySource(&patternSource{left: streamLen})
	case string(r.Path) == "/big":
		for i := 0; i < 10000; i++ {
			w.WriteString("x")
		}
	default:
		w.Header.ContentType = "text/html; charset=utf-8"
		w.WriteString("<p>")
		w.Write(r.Path)
		w.WriteString("</p>")
	}
}

func drain(c *ServerConn, now time.Time) string {
	var out []byte
	buf := make([]byte, 7) // small pieces exercise partial output
	for {
		n := c.Output(buf, now)
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func newTestConn() *ServerConn {
	return NewServerConn(ServerConfig{Handler: testHandler, InBuf: 2048, OutBuf: 1024})
}

func TestServerConnPipelining(t *testing.T) {
	c := newTestConn()
	in := "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /file HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
		"GET /file HTTP/1.1\r\nHost: h\r\nRange: bytes=-4\r\n\r\n" +
		"GET /file HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"v1\"\r\nConnection: close\r\n\r\n" +
		"GET /never HTTP/1.1\r\nHost: h\r\n\r\n"
	// Feed byte by byte.
	for i := 0; i < len(in); i++ {
		if c.Input([]byte{in[i]}, t0) != 1 {
			// Input buffer full while a response waits: drain and retry.
			t.Fatalf("input refused at %d", i)
		}
	}
	out := drain(c, t0)
	want := []string{
		"HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n\r\n<p>/a</p>",
		"HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\n\r\n",
		"HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 206 Partial Content\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\nContent-Range: bytes 32-35/36\r\n\r\nwxyz",
		"HTTP/1.1 304 Not Modified\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
	}
	if out != strings.Join(want, "") {
		t.Fatalf("got\n%q\nwant\n%q", out, strings.Join(want, ""))
	}
	if !c.Closed() || c.Stats().Requests != 5 {
		t.Fatal("connection not closed after Connection: close", c.Stats())
	}
}

func TestServerConnErrorsAndLimits(t *testing.T) {
	cases := []struct {
		in     string
		status string
	}{
		{"GET / HTTP/1.1\r\n\r\n", "400"},
		{"GET /" + strings.Repeat("a", 1500) + " HTTP/1.1\r\nHost: h\r\n\r\n", "414"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 2100) + "\r\n\r\n", "431"},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n", "413"},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br\r\n\r\n", "501"},
		{"GET / HTTP/3.0\r\nHost: h\r\n\r\n", "505"},
		{"GET /big HTTP/1.1\r\nHost: h\r\n\r\n", "500"},
	}
	for _, cs := range cases {
		c := newTestConn()
		c.Input([]byte(cs.in), t0)
		out := drain(c, t0)
		if !strings.HasPrefix(out, "HTTP/1.1 "+cs.status+" ") {
			t.Errorf("%.40q: %.60q", cs.in, out)
		}
		if cs.status != "500" && (!c.Closed() || !strings.Contains(out, "Connection: close")) {
			t.Errorf("%.40q: not closed", cs.in)
		}
	}
	// An error answer to HEAD has no body.
	c := newTestConn()
	c.Input([]byte("HEAD / HTTP/1.1\r\n\r\n"), t0)
	if out := drain(c, t0); !strings.HasPrefix(out, "HTTP/1.1 400 ") || !strings.HasSuffix(out, "\r\n\r\n") {
		t.Errorf("%q", out)
	}
	// A request bigger than the input buffer (chunked framing) gets 413.
	c = newTestConn()
	c.Input([]byte("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), t0)
	for i := 0; i < 1000 && !c.Closed(); i++ {
		c.Input([]byte("1\r\na\r\n"), t0)
		if out := drain(c, t0); out != "" && !strings.HasPrefix(out, "HTTP/1.1 413") {
			t.Fatal(out)
		}
	}
	if !c.Closed() {
		t.Fatal("overlong chunked request not rejected")
	}
}

func TestServerConnSlowloris(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler, RequestTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second})
	now := t0
	c.Input([]byte("GET / HTTP/1.1\r\n"), now)
	// One header byte per second keeps the connection "active" but must not
	// extend the request deadline.
	for i := 0; i < 4; i++ {
		now = now.Add(time.Second)
		c.Input([]byte("X"), now)
		if dl := c.Poll(now); !dl.Equal(t0.Add(5 * time.Second)) {
			t.Fatalf("deadline %v", dl)
		}
	}
	now = t0.Add(5 * time.Second)
	c.Poll(now)
	out := drain(c, now)
	if !strings.HasPrefix(out, "HTTP/1.1 408 Request Timeout\r\n") || !c.Closed() || c.Stats().Timeouts != 1 {
		t.Fatalf("%q", out)
	}

	// A body must keep MinRate after BodyGrace: one byte a second is cut
	// at start + BodyGrace + received/MinRate, not restarted by each byte.
	c = NewServerConn(ServerConfig{Handler: testHandler, RequestTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second})
	head := "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n"
	c.Input([]byte(head), t0)
	now = t0
	for i := 0; i < 19; i++ {
		now = now.Add(time.Second)
		c.Input([]byte("b"), now)
		c.Poll(now)
		if out := drain(c, now); out != "" {
			t.Fatalf("slow body cut at %d s: %q", i, out)
		}
	}
	want := t0.Add(DefaultBodyGrace + time.Duration(len(head)+19)*time.Second/DefaultMinRate)
	if dl := c.Poll(now); !dl.Equal(want) {
		t.Fatalf("body deadline %v, want %v", dl.Sub(t0), want.Sub(t0))
	}
	if c.Poll(want.Add(-time.Millisecond)); c.Stats().Timeouts != 0 {
		t.Fatal("timed out early")
	}
	c.Poll(want)
	if out := drain(c, want); !strings.HasPrefix(out, "HTTP/1.1 408 ") || !c.Closed() {
		t.Fatalf("lagging body: %q", out)
	}

	// Idle keep-alive connection closes silently.
	c = NewServerConn(ServerConfig{Handler: testHandler, RequestTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second})
	c.Input([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
	drain(c, t0.Add(time.Second))
	if dl := c.Poll(t0.Add(2 * time.Second)); !dl.Equal(t0.Add(31 * time.Second)) {
		t.Fatalf("idle deadline %v", dl)
	}
	if c.Poll(t0.Add(31 * time.Second)); !c.Closed() {
		t.Fatal("idle connection not closed")
	}
	// A client that connects and sends nothing is dropped.
	c.Reset()
	if dl := c.Poll(t0); !dl.Equal(t0.Add(30 * time.Second)) {
		t.Fatal("idle clock not started by Poll", dl)
	}
	if c.Poll(t0.Add(30 * time.Second)); !c.Closed() {
		t.Fatal("silent connection not closed")
	}
	// A client that sends garbage and never reads the error is dropped.
	c.Reset()
	c.Input([]byte("BAD\r\n\r\n"), t0)
	if c.Closed() || c.Poll(t0.Add(29*time.Second)).IsZero() {
		t.Fatal("closed before the idle timeout")
	}
	if c.Poll(t0.Add(30 * time.Second)); !c.Closed() {
		t.Fatal("unread error response holds the connection")
	}
	// Reset reuses the buffers.
	c.Reset()
	c.Input([]byte("GET /again HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
	if out := drain(c, t0); !strings.Contains(out, "<p>/again</p>") {
		t.Fatal(out)
	}
}

func TestServerConnExpectContinueAndHTTP10(t *testing.T) {
	c := newTestConn()
	c.Input([]byte("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"), t0)
	if out := drain(c, t0); out != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("%q", out)
	}
	c.Input([]byte("abc"), t0)
	if out := drain(c, t0); !strings.HasSuffix(out, "\r\n\r\nabc") {
		t.Fatalf("%q", out)
	}
	c = newTestConn()
	c.Input([]byte("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.0\r\n\r\n"), t0)
	out := drain(c, t0)
	if strings.Count(out, "Connection: keep-alive") != 1 || !strings.HasSuffix(out, "Connection: close\r\n\r\n<p>/y</p>") || !c.Closed() {
		t.Fatalf("%q", out)
	}
}

func TestServerConnAllocs(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler})
	req := []byte(curlReq + "GET /file HTTP/1.1\r\nHost: h\r\nRange: bytes=1-3\r\n\r\n")
	out := make([]byte, 4096)
	a := testing.AllocsPerRun(200, func() {
		c.Input(req, t0)
		for c.Output(out, t0) > 0 {
		}
	})
	if a != 0 {
		t.Fatalf("ServerConn allocates %v per request pair", a)
	}
}

func BenchmarkServerConn(b *testing.B) {
	c := NewServerConn(ServerConfig{Handler: testHandler})
	req := []byte(curlReq)
	out := make([]byte, 4096)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Input(req, t0)
		for c.Output(out, t0) > 0 {
		}
	}
}

func TestRedirectHTTPS(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: RedirectHTTPS})
	c.Input([]byte("GET /status?x=1 HTTP/1.1\r\nHost: 10.0.0.2:80\r\n\r\nPOST /v HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 0\r\n\r\n"), t0)
	out := drain(c, t0)
	if !strings.Contains(out, "HTTP/1.1 301 Moved Permanently\r\n") || !strings.Contains(out, "Location: https://10.0.0.2/status?x=1\r\n") ||
		!strings.Contains(out, "HTTP/1.1 308 Permanent Redirect\r\n") || !strings.Contains(out, "Location: https://[::1]/v\r\n") {
		t.Fatalf("%q", out)
	}
	// Input's bytes may reach a BodySink, so they escape: the request is
	// converted once, outside the measured loop.
	req := []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	a := testing.AllocsPerRun(50, func() {
		c.Input(req, t0)
		drainInto(c)
	})
	if a != 0 {
		t.Fatalf("redirect allocates %v", a)
	}
}

var sink = make([]byte, 4096)

func drainInto(c *ServerConn) {
	for c.Output(sink, t0) > 0 {
	}
}

func TestClientConnAllocs(t *testing.T) {
	c := NewClientConn(0, 0)
	h := &RequestHeader{Method: "GET", Target: "/status", Host: "example", ContentLength: -1}
	resp := []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	out := make([]byte, 512)
	a := testing.AllocsPerRun(100, func() {
		if c.Send(h, nil) != nil {
			t.Fatal("send")
		}
		c.Output(out)
		c.Input(resp)
		if r, err := c.Response(); err != nil || string(r.Body) != "ok" {
			t.Fatal("response", err)
		}
		if !c.Next() {
			t.Fatal("not reusable")
		}
	})
	if a != 0 {
		t.Fatalf("ClientConn allocates %v per round trip", a)
	}
}

func TestServerConnHeaderOverflow(t *testing.T) {
	c := NewServerConn(ServerConfig{OutBuf: 256, Handler: func(r *Request, w *ResponseWriter) {
		w.Header.Extra = "X-Long: " + strings.Repeat("x", 300) + "\r\n"
	}})
	c.Input([]byte(curlReq+curlReq), t0)
	if out := drain(c, t0); !strings.HasPrefix(out, "HTTP/1.1 500 ") || !c.Closed() {
		t.Fatalf("%q", out)
	}
}

// BenchmarkServeFile serves a 16 KiB stored file (ServeContent, no copy into
// the output buffer) and drains it in 1400-byte pieces.
func BenchmarkServeFile(b *testing.B) {
	file := make([]byte, 16<<10)
	c := NewServerConn(ServerConfig{Handler: func(r *Request, w *ResponseWriter) {
		ServeContent(w, r, "application/octet-stream", `"f"`, file)
	}})
	req := []byte(curlReq)
	out := make([]byte, 1400)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Input(req, t0)
		for c.Output(out, t0) > 0 {
		}
	}
}

// patternSource produces streamLen bytes of a repeating pattern.
type patternSource struct{ left, pos int }

const streamLen = 100000

func (p *patternSource) Fill(dst []byte) int {
	n := min(len(dst), p.left)
	for i := 0; i < n; i++ {
		dst[i] = byte('a' + (p.pos+i)%26)
	}
	p.left -= n
	p.pos += n
	return n
}

func pattern(n int) string {
	b := make([]byte, n)
	(&patternSource{left: n}).Fill(b)
	return string(b)
}

func TestServerConnBodySource(t *testing.T) {
	for _, minor := range []string{"1", "0"} {
		c := NewServerConn(ServerConfig{Handler: testHandler, OutBuf: 512})
		c.Input([]byte("GET /stream HTTP/1."+minor+"\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
		out := []byte(drain(c, t0)) // 7-byte pieces: mostly too small for a chunk
		var r Response
		n, err := ParseResponse(out, &r)
		if minor == "0" {
			if err != nil || !r.UntilClose || string(r.Body) != pattern(streamLen) || !c.Closed() {
				t.Fatalf("HTTP/1.0: %v until=%v len=%d closed=%v", err, r.UntilClose, len(r.Body), c.Closed())
			}
			continue
		}
		if err != nil || !r.Chunked || string(r.Body) != pattern(streamLen) {
			t.Fatalf("chunked stream: %v %d", err, len(r.Body))
		}
		if _, err := ParseResponse(out[n:], &r); err != nil || string(r.Body) != "<p>/a</p>" {
			t.Fatalf("next response after stream: %v", err)
		}
	}
	// Big output pieces, HEAD.
	c := NewServerConn(ServerConfig{Handler: testHandler})
	c.Input([]byte("HEAD /stream HTTP/1.1\r\nHost: h\r\n\r\nGET /stream HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
	var out []byte
	buf := make([]byte, 1400)
	for n := c.Output(buf, t0); n > 0; n = c.Output(buf, t0) {
		out = append(out, buf[:n]...)
	}
	var r Response
	n, err := ParseResponseFor(out, true, &r)
	if err != nil || !strings.Contains(string(out[:n]), "Transfer-Encoding: chunked") {
		t.Fatal("HEAD of a streamed body", err)
	}
	if _, err := ParseResponse(out[n:], &r); err != nil || len(r.Body) != streamLen {
		t.Fatal("stream after HEAD", err)
	}
	// Allocation-free with a long-lived source.
	src := &patternSource{}
	c = NewServerConn(ServerConfig{Handler: func(r *Request, w *ResponseWriter) {
		*src = patternSource{left: 5000}
		w.SetBodySource(src)
	}})
	req := []byte(curlReq)
	if a := testing.AllocsPerRun(50, func() {
		c.Input(req, t0)
		for c.Output(buf, t0) > 0 {
		}
	}); a != 0 {
		t.Fatalf("BodySource allocates %v", a)
	}
}
