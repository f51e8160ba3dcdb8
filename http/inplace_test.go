package http

import (
	"strings"
	"testing"
	"time"
)

// drainInPlace takes output in rooms of size room (as a transport with
// that much free send space would), like drain.
func drainInPlace(c *ServerConn, room int, now time.Time) string {
	var out []byte
	buf := make([]byte, room)
	for {
		n := c.Output(buf, now)
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

// TestInPlaceSameBytes: an InPlace connection sends exactly what a buffered
// one sends for the same pipelined requests, given OutBuf of room.
func TestInPlaceSameBytes(t *testing.T) {
	in := "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /file HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
		"GET /file HTTP/1.1\r\nHost: h\r\nRange: bytes=-4\r\n\r\n" +
		"GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /old HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var want string
	{
		c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 2048, OutBuf: 1024})
		c.Input([]byte(in), now)
		want = drainInPlace(c, 1024, now)
	}
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 2048, OutBuf: 1024, InPlace: true})
	if got := c.Footprint(); got != 0 { // nothing before a request: no output buffer, no header scratch
		t.Fatalf("footprint %d", got)
	}
	c.Input([]byte(in), now)
	if got := c.Footprint(); got != 2048+reqStateSize { // the input buffer and the request state only
		t.Fatalf("footprint %d", got)
	}
	if !c.Waiting() {
		t.Fatal("a parsed request is not waiting for room")
	}
	got := drainInPlace(c, 1024, now)
	if got != want || !c.Closed() {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("in place (%d bytes) and buffered (%d) differ at %d: %.80q", len(got), len(want), i, got[i:])
	}
	if !strings.Contains(got, "500 Internal Server Error") { // /big overflows OutBuf in both
		t.Fatal("no 500 for /big")
	}
}

// TestInPlaceWaitsForRoom: the handler runs only when Output offers OutBuf
// bytes, or less once the transport is drained.
func TestInPlaceWaitsForRoom(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: true})
	c.Input([]byte("GET /abc HTTP/1.1\r\nHost: h\r\n\r\n"), now)
	small := make([]byte, 600)
	if n := c.Output(small, now); n != 0 || !c.Waiting() {
		t.Fatalf("answered in %d bytes of room: %d", len(small), n)
	}
	c.SetDrained(true)
	n := c.Output(small, now)
	if s := string(small[:n]); !strings.HasPrefix(s, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(s, "<p>/abc</p>") {
		t.Fatalf("response %q", s)
	}
	if c.Waiting() {
		t.Fatal("still waiting")
	}
	// A request that is never given room is closed by the idle timeout.
	c.Input([]byte("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"), now)
	c.SetDrained(false)
	if n := c.Output(small, now); n != 0 {
		t.Fatalf("answered: %d", n)
	}
	c.Poll(now.Add(30 * time.Second)) // no 408: the request is complete
	if c.Closed() || c.Output(small, now) != 0 {
		t.Fatal("408 for a complete request")
	}
	c.Poll(now.Add(61 * time.Second))
	if !c.Closed() {
		t.Fatal("not closed after the idle timeout")
	}
}

// TestInPlaceErrorsFit: every error response fits maxErrorResponse (it is
// composed on the stack at each Output of an InPlace connection).
func TestInPlaceErrorsFit(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for code := 400; code < 600; code++ {
		if StatusText(code) == "" {
			continue
		}
		c := NewServerConn(ServerConfig{Handler: testHandler, InPlace: true})
		c.errorResponse(code, now)
		if c.outEnd >= maxErrorResponse-16 || c.outEnd < 100 {
			t.Fatalf("%d: %d bytes, bound %d", code, c.outEnd, maxErrorResponse)
		}
	}
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 256, InPlace: true})
	c.Input([]byte("GET /"+strings.Repeat("a", 300)), now)
	if s := drainInPlace(c, 4096, now); !strings.HasPrefix(s, "HTTP/1.1 431 ") || !c.Closed() {
		t.Fatalf("%q", s)
	}
}

// TestInPlaceAllocs: keep-alive requests answered in place allocate nothing.
func TestInPlaceAllocs(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: true})
	req := []byte("GET /file HTTP/1.1\r\nHost: h\r\n\r\n")
	dst := make([]byte, 2048)
	allocs := testing.AllocsPerRun(100, func() {
		c.Input(req, now)
		if n := c.Output(dst, now); n == 0 {
			t.Fatal("no response")
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs %v", allocs)
	}
}
