package http

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hashSink is a BodySink that counts and hashes what it gets; failAt > 0
// makes it stop the body once it has seen that many bytes.
type hashSink struct {
	n      int64
	sum    [32]byte // running sum of byte values (cheap, allocation-free)
	h      interface{ Write([]byte) (int, error) }
	failAt int64
	calls  int
}

var errSinkFull = errors.New("sink full")

func (s *hashSink) WriteBody(p []byte) error {
	s.calls++
	if s.h != nil {
		s.h.Write(p)
	}
	for _, c := range p {
		s.sum[s.n%32] += c
		s.n++
	}
	if s.failAt > 0 && s.n >= s.failAt {
		return errSinkFull
	}
	return nil
}

const upMax = 64

// streamConn returns a connection whose /up route streams bodies (up to
// upMax bytes) into sink and answers "n=<length>", /fail streams into a
// sink that stops at 4 bytes and answers 507; other routes are
// testHandler's (buffered bodies).
func streamConn(inPlace bool, sink *hashSink) *ServerConn {
	return NewServerConn(streamConfig(inPlace, sink))
}

// streamConfig is streamConn's configuration.
func streamConfig(inPlace bool, sink *hashSink) ServerConfig {
	fail := &hashSink{failAt: 4}
	return ServerConfig{InBuf: 512, OutBuf: 512, InPlace: inPlace,
		Handler: func(r *Request, w *ResponseWriter) {
			switch string(r.Path) {
			case "/up":
				if !r.BodyStreamed && len(r.Body) > 0 {
					w.Header.Status = 500
					return
				}
				w.Header.ContentType = "text/plain"
				w.WriteString("n=" + strconv.FormatInt(sink.n, 10))
				*sink = hashSink{h: sink.h}
			case "/fail":
				if r.BodyErr == errSinkFull {
					w.Header.Status = 507
				}
				w.WriteString("stopped")
				*fail = hashSink{failAt: 4}
			default:
				testHandler(r, w)
			}
		},
		Body: func(r *Request) (BodySink, int64) {
			switch string(r.Path) {
			case "/up":
				return sink, upMax
			case "/fail":
				return fail, 1 << 20
			}
			return nil, 0
		},
	}
}

// drainRoom drains c with Output rooms large enough for InPlace.
func drainRoom(c *ServerConn, now time.Time) string {
	var out []byte
	buf := make([]byte, 600)
	for {
		n := c.Output(buf, now)
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func okResp(body string) string {
	return "HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

const getA = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"

var getAResp = "HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n\r\n<p>/a</p>"

// streamCases are request sequences (each with a streamed body, followed by
// a pipelined request) and the exact output they must produce.
var streamCases = []struct{ name, in, want string }{
	{"content-length",
		"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789" + getA,
		okResp("n=10") + getAResp},
	{"chunked-ext-trailer",
		"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3;name=\"v;al\"\r\nabc\r\n10 ; x\r\n0123456789abcdef\r\n1\r\nZ\r\n0;last\r\nX-Sum: 1\r\nY: 2\r\n\r\n" + getA,
		okResp("n=20") + getAResp},
	{"chunked-empty",
		"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + getA,
		okResp("n=0") + getAResp},
	{"two-streams",
		"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
			"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" + getA,
		okResp("n=3") + okResp("n=2") + getAResp},
	{"buffered-route-unchanged",
		"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi" + getA,
		"HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 08:49:37 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\nhi" + getAResp},
}

// TestStreamedBodySplits feeds each case split in two at every byte
// boundary, and byte by byte, in both composition modes: the output is
// always the same, and the sink saw exactly the body bytes.
func TestStreamedBodySplits(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		for _, tc := range streamCases {
			run := func(pieces []string) {
				t.Helper()
				sink := &hashSink{}
				c := streamConn(inPlace, sink)
				var out strings.Builder
				for _, p := range pieces {
					b := []byte(p)
					for len(b) > 0 {
						k := c.Input(b, t0)
						b = b[k:]
						out.WriteString(drainRoom(c, t0))
						if k == 0 && len(b) > 0 {
							t.Fatalf("%s: input stalled", tc.name)
						}
					}
				}
				out.WriteString(drainRoom(c, t0))
				if out.String() != tc.want {
					t.Fatalf("%s inPlace=%v pieces %q:\ngot  %q\nwant %q", tc.name, inPlace, pieces, out.String(), tc.want)
				}
				if c.Closed() || c.Buffered() != 0 || !c.Idle() {
					t.Fatalf("%s: connection state after the exchange", tc.name)
				}
			}
			for i := 0; i <= len(tc.in); i++ {
				run([]string{tc.in[:i], tc.in[i:]})
			}
			var bytewise []string
			for i := range tc.in {
				bytewise = append(bytewise, tc.in[i:i+1])
			}
			run(bytewise)
		}
	}
}

// TestStreamedBodyNoCopy: body bytes reach the sink from the slice given
// to Input (no copy into the input buffer), which is left unmodified, and a
// large body in small pieces never needs the input buffer.
func TestStreamedBodyNoCopy(t *testing.T) {
	var got []byte
	inside := 0
	var piece []byte
	c := NewServerConn(ServerConfig{InBuf: 256, Handler: func(r *Request, w *ResponseWriter) {
		w.WriteString(strconv.Itoa(len(got)))
	}, Body: func(r *Request) (BodySink, int64) {
		return sinkFunc(func(p []byte) error {
			if len(piece) > 3 && &p[0] == &piece[3] && len(p) == 10 {
				inside++
			}
			got = append(got, p...)
			return nil
		}), 1 << 20
	}})
	c.Input([]byte("PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), t0)
	body := strings.Repeat("0123456789", 100)
	for i := 0; i < 100; i++ {
		piece = []byte("a\r\n" + body[i*10:i*10+10] + "\r\n")
		orig := string(piece)
		if k := c.Input(piece, t0); k != len(piece) {
			t.Fatalf("piece %d: took %d", i, k)
		}
		if string(piece) != orig {
			t.Fatal("Input modified its argument")
		}
	}
	c.Input([]byte("0\r\n\r\n"), t0)
	if out := drain(c, t0); !strings.HasSuffix(out, "\r\n\r\n1000") || string(got) != body || inside != 100 {
		t.Fatalf("%q, %d bytes, in place %v", out, len(got), inside)
	}
}

type sinkFunc func(p []byte) error

func (f sinkFunc) WriteBody(p []byte) error { return f(p) }

// TestStreamedBodyErrors: malformed chunk lines get 400, a body over the
// route's limit gets 413 (before the body when the length is declared),
// and every error closes the connection, discarding the rest.
func TestStreamedBodyErrors(t *testing.T) {
	cases := []struct {
		name, in, status string
		sunk             int64 // bytes the sink may have seen
	}{
		{"size-not-hex", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400", 0},
		{"size-empty", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "400", 0},
		{"size-overflow", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", "400", 0},
		{"size-negative", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "400", 0},
		{"size-bare-lf", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", "400", 0},
		{"data-too-long", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "400", 2},
		{"bad-trailer", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n folded\r\n\r\n", "400", 1},
		{"cl-over", "PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n" + strings.Repeat("x", 65), "413", 0},
		{"cl-over-expect", "PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n", "413", 0},
		{"chunked-over", "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + strings.Repeat("y", 32) +
			"\r\n21\r\n" + strings.Repeat("z", 33) + "\r\n0\r\n\r\n", "413", 32},
		{"buffered-over", "PUT /other HTTP/1.1\r\nHost: h\r\nContent-Length: 600\r\n\r\n", "413", 0},
	}
	for _, inPlace := range []bool{false, true} {
		for _, tc := range cases {
			sink := &hashSink{}
			c := streamConn(inPlace, sink)
			in := tc.in + getA
			c.Input([]byte(in), t0)
			out := drainRoom(c, t0)
			if !strings.HasPrefix(out, "HTTP/1.1 "+tc.status+" ") || strings.Contains(out, "100 Continue") ||
				!strings.Contains(out, "Connection: close") || strings.Contains(out, "/a") {
				t.Errorf("%s inPlace=%v: %q", tc.name, inPlace, out)
			}
			if !c.Closed() || sink.n != tc.sunk {
				t.Errorf("%s: closed %v, sink saw %d bytes", tc.name, c.Closed(), sink.n)
			}
			if k := c.Input([]byte(getA), t0); k != len(getA) || drainRoom(c, t0) != "" {
				t.Errorf("%s: input after close", tc.name)
			}
		}
	}
}

// TestStreamedBodyExpectContinue: 100 Continue goes out when a streaming
// route accepts the head, the final response after the body, and the
// connection stays usable.
func TestStreamedBodyExpectContinue(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		sink := &hashSink{}
		c := streamConn(inPlace, sink)
		c.Input([]byte("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"), t0)
		if out := drainRoom(c, t0); out != "HTTP/1.1 100 Continue\r\n\r\n" {
			t.Fatalf("inPlace=%v: %q", inPlace, out)
		}
		c.Input([]byte("ab"), t0)
		if out := drainRoom(c, t0); out != "" {
			t.Fatalf("response before the body ended: %q", out)
		}
		c.Input([]byte("cde"+getA), t0)
		if out := drainRoom(c, t0); out != okResp("n=5")+getAResp {
			t.Fatalf("%q", out)
		}
		// The body arrives while the 100 is half sent: the 100 is
		// finished first.
		c.Input([]byte("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"), t0)
		var part [10]byte
		n := c.Output(part[:], t0)
		c.Input([]byte("xy"), t0)
		if out := string(part[:n]) + drainRoom(c, t0); out != "HTTP/1.1 100 Continue\r\n\r\n"+okResp("n=2") {
			t.Fatalf("inPlace=%v: %q", inPlace, out)
		}
		// With the body already there, no 100 is sent.
		c.Input([]byte("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz"), t0)
		if out := drainRoom(c, t0); out != okResp("n=1") {
			t.Fatalf("%q", out)
		}
	}
}

// TestStreamedBodyEarlyResponse: a sink that stops the body has the
// handler answer at once, while the body is still in flight; the response
// closes the connection and what the client still sends is discarded.
func TestStreamedBodyEarlyResponse(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		c := streamConn(inPlace, &hashSink{})
		c.Input([]byte("PUT /fail HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nab"), t0)
		if out := drainRoom(c, t0); out != "" || !c.Streaming() {
			t.Fatalf("%q", out)
		}
		c.Input([]byte("cdef"), t0)
		out := drainRoom(c, t0)
		if !strings.HasPrefix(out, "HTTP/1.1 507 ") || !strings.Contains(out, "Connection: close\r\n") || !strings.HasSuffix(out, "stopped") {
			t.Fatalf("inPlace=%v: %q", inPlace, out)
		}
		if !c.Closed() {
			t.Fatal("not closed")
		}
		more := []byte(strings.Repeat("g", 5000))
		if k := c.Input(more, t0); k != len(more) {
			t.Fatalf("rest of the body not discarded: %d", k)
		}
	}
	// A streamed body that stalls gets 408 after BodyTimeout (3 minutes by
	// default, longer than IdleTimeout: TCP backoff on a lossy line) even
	// when it has earned more credit at MinRate.
	c := NewServerConn(ServerConfig{InBuf: 512, OutBuf: 512, MinRate: 1, Handler: testHandler,
		Body: func(*Request) (BodySink, int64) { return &hashSink{}, 1 << 20 }})
	c.Input([]byte("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nab"), t0)
	c.Input(make([]byte, 500), t0) // credit: ≈ 560 s at 1 B/s
	if dl := c.Poll(t0.Add(179 * time.Second)); c.Closed() || c.Idle() || !dl.Equal(t0.Add(180*time.Second)) {
		t.Fatal("streaming connection idle", dl)
	}
	c.Input([]byte("c"), t0.Add(179*time.Second))
	c.Poll(t0.Add(358 * time.Second))
	if out := drainRoom(c, t0); out != "" {
		t.Fatalf("%q", out)
	}
	c.Poll(t0.Add(359 * time.Second))
	if out := drainRoom(c, t0); !strings.HasPrefix(out, "HTTP/1.1 408 ") || !c.Closed() {
		t.Fatalf("%q", out)
	}
}

// TestStreamedBodyAllocs: streaming body pieces allocates nothing.
func TestStreamedBodyAllocs(t *testing.T) {
	sink := &hashSink{h: sha256.New()}
	for _, inPlace := range []bool{false, true} {
		c := streamConn(inPlace, sink)
		c.Input([]byte("PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), t0)
		piece := []byte("1;e\r\nx\r\n")
		n := 0
		a := testing.AllocsPerRun(50, func() {
			c.Input(piece, t0)
			n++
		})
		if a != 0 {
			t.Fatalf("%v allocations per body piece", a)
		}
		c.Input([]byte("0\r\n\r\n"), t0)
		if out := drainRoom(c, t0); out != okResp("n="+strconv.Itoa(n)) {
			t.Fatalf("%q", out)
		}
	}
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// shaSink hashes a streamed body with SHA-256 (for the interop tests,
// which send one request at a time).
type shaSink struct {
	h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
		Reset()
	}
	n int64
}

func (s *shaSink) WriteBody(p []byte) error { s.n += int64(len(p)); s.h.Write(p); return nil }

// uploadConfig answers PUT/POST /upload, streamed (up to limit bytes), with
// "<length> <sha256 hex>"; everything else as testHandler.
func uploadConfig(limit int64) ServerConfig {
	s := &shaSink{h: sha256.New()}
	return ServerConfig{InBuf: 2048, OutBuf: 1024,
		Handler: func(r *Request, w *ResponseWriter) {
			if string(r.Path) != "/upload" {
				testHandler(r, w)
				return
			}
			if !r.BodyStreamed {
				s.h.Write(r.Body)
				s.n += int64(len(r.Body))
			}
			w.Header.ContentType = "text/plain"
			w.WriteString(strconv.FormatInt(s.n, 10) + " " + hex.EncodeToString(s.h.Sum(nil)))
			s.h.Reset()
			s.n = 0
		},
		Body: func(r *Request) (BodySink, int64) {
			if string(r.Path) == "/upload" {
				return s, limit
			}
			return nil, 0
		},
	}
}

// testResponder is a Responder of two funcs.
type testResponder struct {
	h func(r *Request, w *ResponseWriter)
	b func(r *Request) (BodySink, int64)
}

func (x *testResponder) Respond(r *Request, w *ResponseWriter) { x.h(r, w) }
func (x *testResponder) BodyFor(r *Request) (BodySink, int64)  { return x.b(r) }

// TestResponder: a ServerConfig.Responder answers exactly as the Handler
// and Body it stands for (every streamed-body case, both modes), and
// Handler and Body are then ignored; a connection with none answers 404.
func TestResponder(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		for _, tc := range streamCases {
			sink := &hashSink{}
			cfg := streamConfig(inPlace, sink)
			cfg.Responder = &testResponder{cfg.Handler, cfg.Body}
			cfg.Handler = func(*Request, *ResponseWriter) { t.Fatal("Handler called beside a Responder") }
			cfg.Body = func(*Request) (BodySink, int64) { t.Fatal("Body called beside a Responder"); return nil, 0 }
			c := NewServerConn(cfg)
			var out strings.Builder
			for b := []byte(tc.in); len(b) > 0; {
				k := c.Input(b, t0)
				b = b[k:]
				out.WriteString(drainRoom(c, t0))
				if k == 0 && len(b) > 0 {
					t.Fatalf("%s: input stalled", tc.name)
				}
			}
			out.WriteString(drainRoom(c, t0))
			if out.String() != tc.want {
				t.Fatalf("%s inPlace=%v:\ngot  %q\nwant %q", tc.name, inPlace, out.String(), tc.want)
			}
		}
	}
	c := NewServerConn(ServerConfig{})
	c.Input([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), t0)
	if out := drainRoom(c, t0); !strings.HasPrefix(out, "HTTP/1.1 404 ") {
		t.Fatalf("no handler: %q", out)
	}
}
