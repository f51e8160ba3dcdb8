package http

import (
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
	"weak"
)

// TestHeadersOffsets: fields kept as offsets give back the same name and
// value slices (OWS trimmed, aliasing the parsed bytes) as before.
func TestHeadersOffsets(t *testing.T) {
	b := []byte("GET / HTTP/1.1\r\nHost: h\r\nX-A:  \t v 1 \t\r\nEmpty:   \r\nx-b:w\r\n\r\n")
	var r Request
	if _, err := ParseRequest(b, Limits{}, &r); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"Host", "h"}, {"X-A", "v 1"}, {"Empty", ""}, {"x-b", "w"}}
	if r.N != len(want) {
		t.Fatalf("%d fields", r.N)
	}
	for i, w := range want {
		f := r.Field(i)
		if string(f.Name) != w[0] || string(f.Value) != w[1] || cap(f.Value) != len(f.Value) {
			t.Fatalf("field %d: %q: %q (cap %d)", i, f.Name, f.Value, cap(f.Value))
		}
		if len(f.Name) > 0 && &f.Name[0] != &b[strings.Index(string(b), w[0])] {
			t.Fatalf("field %d does not alias the input", i)
		}
	}
	if string(r.Get("x-a")) != "v 1" || r.Get("empty") == nil || len(r.Get("empty")) != 0 || r.Get("nope") != nil || !r.Has("x-b") {
		t.Fatal("Get/Has")
	}
	if string(r.Host) != "h" {
		t.Fatalf("host %q", r.Host)
	}
}

// TestHeadersBeyond64K: offsets are 16 bits, so a header section reaching
// past 64 KiB is refused (431 for a request, a bad response for a client)
// instead of being misread.
func TestHeadersBeyond64K(t *testing.T) {
	long := "X-Pad: " + strings.Repeat("p", 70000) + "\r\n"
	var r Request
	_, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: h\r\n"+long+"\r\n"), Limits{MaxHeaderBytes: 1 << 20}, &r)
	if err != ErrHeaderTooLarge {
		t.Fatalf("request: %v", err)
	}
	var rs Response
	_, err = ParseResponse([]byte("HTTP/1.1 200 OK\r\n"+long+"Content-Length: 0\r\n\r\n"), &rs)
	if err != ErrBadResponse {
		t.Fatalf("response: %v", err)
	}
	// Just under the limit still parses.
	pad := "X-Pad: " + strings.Repeat("p", 65000) + "\r\n"
	if _, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: h\r\n"+pad+"\r\n"), Limits{MaxHeaderBytes: 1 << 20}, &r); err != nil || len(r.Get("x-pad")) != 65000 {
		t.Fatalf("65 KB head: %v", err)
	}
}

// TestInPlaceErrorPieces: an InPlace connection has no output buffer; its
// error response, composed again at each Output, comes out the same in
// any pieces, without allocating.
func TestInPlaceErrorPieces(t *testing.T) {
	bad := []byte("GET /x HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n")
	var want string
	for _, room := range []int{4096, 1, 7, 64} {
		c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: true})
		if c.Footprint() != 0 {
			t.Fatalf("footprint %d before a request", c.Footprint())
		}
		c.Input(bad, t0)
		if c.Footprint() != 512+reqStateSize {
			t.Fatalf("footprint %d", c.Footprint())
		}
		got := drainInPlace(c, room, t0.Add(5e9)) // Date is the time of the error, not of Output
		if want == "" {
			want = got
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "Date: Fri, 27 Nov 2026 08:49:37 GMT\r\n") {
				t.Fatalf("%q", got)
			}
		}
		if got != want || !c.Closed() {
			t.Fatalf("room %d: %q", room, got)
		}
	}
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: true})
	dst := make([]byte, 5)
	a := testing.AllocsPerRun(50, func() {
		c.Reset()
		c.Input(bad, t0)
		for c.Output(dst, t0) > 0 {
		}
	})
	if a != 0 {
		t.Fatalf("error response allocates %v", a)
	}
}

// TestInPlaceContinue: 100 Continue is sent from a constant.
func TestInPlaceContinue(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: true})
	c.Input([]byte("POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"), t0)
	if got := drainInPlace(c, 3, t0); got != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("%q", got)
	}
	if string(continue100) != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatal("the constant was written to")
	}
	c.Input([]byte("hi"), t0)
	if got := drainInPlace(c, 2048, t0); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("%q", got)
	}
}

// TestRedirectLongTarget: the Location line is composed in the body area;
// one that does not fit gets a 500, without allocating.
func TestRedirectLongTarget(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: RedirectHTTPS, OutBuf: 256})
	req := []byte("GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\nHost: h\r\n\r\n")
	c.Input(req, t0)
	if out := drain(c, t0); !strings.HasPrefix(out, "HTTP/1.1 500 ") {
		t.Fatalf("%q", out)
	}
	c = NewServerConn(ServerConfig{Handler: RedirectHTTPS, OutBuf: 256})
	a := testing.AllocsPerRun(20, func() {
		c.Reset()
		c.Input(req, t0)
		drainInto(c)
	})
	if a != 0 {
		t.Fatalf("allocates %v", a)
	}
}

// TestConnStatsWiden: the connection keeps every ConnStats counter, by
// name, in 32 bits, and Stats widens each one (a counter added to ConnStats
// alone fails here).
func TestConnStatsWiden(t *testing.T) {
	wide, narrow := reflect.TypeOf(ConnStats{}), reflect.TypeOf(connStats32{})
	if wide.NumField() != narrow.NumField() {
		t.Fatalf("ConnStats has %d counters, connStats32 %d", wide.NumField(), narrow.NumField())
	}
	c := NewServerConn(ServerConfig{})
	c.stats = connStats32{Requests: 1, Errors: 2, Timeouts: 1<<32 - 1}
	if st := c.Stats(); st != (ConnStats{Requests: 1, Errors: 2, Timeouts: 1<<32 - 1}) {
		t.Fatalf("%+v", st)
	}
	if a := testing.AllocsPerRun(10, func() { c.Stats() }); a != 0 {
		t.Fatalf("Stats allocates %v", a)
	}
}

// TestServerConnSize guards the struct's size class (176 bytes): the
// input buffer's slice header,
// parsed request, the response writer, the chunked decoder, the request
// body's sink and the response body still to send live in reqState, held
// only while a request is in progress (see Shed); packed flags, the
// counters, the parser limits (limits32), the timeouts (milliseconds) and
// the buffer offsets in 32 bits and the two
// instants as 8-byte stamps (internal/stamp) keep the rest small.
func TestServerConnSize(t *testing.T) {
	if n := unsafe.Sizeof(ServerConn{}); n > 176 {
		t.Fatalf("ServerConn takes %d bytes, past the 176-byte size class", n)
	}
}

// TestInPlaceBodySourceSmallRoom: without an output buffer a chunked
// BodySource body is filled in place; given less than minChunkRoom the
// connection waits (and says so with Waiting, so the transport does not
// take it for idle), then goes on with the same bytes.
func TestInPlaceBodySourceSmallRoom(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: true})
	c.Input([]byte("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
	var out []byte
	buf := make([]byte, 1024)
	waited := false
	for i := 0; ; i++ {
		room := 1024
		if i%3 == 1 {
			room = minChunkRoom - 1 // a nearly full send buffer
		}
		n := c.Output(buf[:room], t0)
		if n == 0 {
			if room < minChunkRoom && c.Waiting() {
				waited = true
				continue
			}
			break
		}
		out = append(out, buf[:n]...)
	}
	var r Response
	if _, err := ParseResponse(out, &r); err != nil || !r.Chunked || string(r.Body) != pattern(streamLen) || !waited {
		t.Fatalf("err %v chunked %v body %d bytes, waited %v", err, r.Chunked, len(r.Body), waited)
	}
	if c.Waiting() || !c.Idle() {
		t.Fatal("still waiting after the body")
	}
}

// TestInPlaceKeepsNoTransportBuffer: an InPlace response is composed in the
// transport's buffer (the TCP send buffer); once Output has returned, the
// connection keeps no reference to it — not in the request state it keeps
// for the next request, not after Reset (a new TCP connection in the slot) —
// so a buffer the transport sheds or frees is garbage, and the transport's
// next one is not a second buffer in RAM (issue 14's hard bound; found by
// sim.TestHostileRAMBound: a one-slot card held two TCP slot blocks).
func TestInPlaceKeepsNoTransportBuffer(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: true})
	c.Input([]byte("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"), t0)
	dst := make([]byte, 2048)
	n := c.Output(dst, t0)
	if !strings.HasPrefix(string(dst[:n]), "HTTP/1.1 200 ") || !strings.HasSuffix(string(dst[:n]), "hello") {
		t.Fatalf("%q", dst[:n])
	}
	wp := weak.Make(&dst[0])
	dst = nil
	runtime.GC()
	runtime.GC()
	if wp.Value() != nil {
		t.Fatal("the connection keeps the transport's buffer after the response")
	}
	runtime.KeepAlive(c)
	c.Reset()
	c.Input([]byte("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
	if n := c.Output(make([]byte, 2048), t0); n == 0 {
		t.Fatal("no response after Reset")
	}
}

// TestLimitsBeyond32Bits: limits past 32 bits are kept as their bounds
// (InBuf for the head and the body, 2^31-1 for the target), never
// truncated: a long target is served, a body past InBuf gets 413.
func TestLimitsBeyond32Bits(t *testing.T) {
	cfg := ServerConfig{Handler: testHandler, InBuf: 4096, OutBuf: 8192,
		Limits: Limits{MaxTarget: 1<<32 + 10, MaxHeaderBytes: 1 << 40, MaxBody: 1<<32 + 1}}
	c := NewServerConn(cfg)
	c.Input([]byte("GET /"+strings.Repeat("a", 2000)+" HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
	if out := drain(c, t0); !strings.HasPrefix(out, "HTTP/1.1 200 ") {
		t.Fatalf("long target: %.60q", out)
	}
	c = NewServerConn(cfg)
	c.Input([]byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"), t0)
	if out := drain(c, t0); !strings.HasPrefix(out, "HTTP/1.1 413 ") {
		t.Fatalf("body past InBuf: %.60q", out)
	}
}

// TestTimeoutsInMilliseconds: the timeouts a ServerConn keeps in 32-bit
// milliseconds round up (a sub-millisecond timeout is 1 ms, never 0) and
// saturate at 2^31-1 ms (a longer IdleTimeout is 24 days, not negative).
func TestTimeoutsInMilliseconds(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler, IdleTimeout: time.Microsecond, RequestTimeout: 1<<62 - 1})
	if c.cfg.idleMS != 1 || c.cfg.reqMS != math.MaxInt32 {
		t.Fatalf("idle %d ms, request %d ms", c.cfg.idleMS, c.cfg.reqMS)
	}
	if next := c.Poll(t0); !next.Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("idle deadline %v after start", next.Sub(t0))
	}
	c.Poll(t0.Add(time.Millisecond))
	if !c.Closed() {
		t.Fatal("not closed at the idle deadline")
	}
}
