package http

import (
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestServerConnShedIdle: a new connection holds no input buffer and sheds
// nothing; after a request has been answered, Shed releases the input
// buffer and the request state (InBuf + reqStateSize), a second Shed
// releases nothing, and the next request is answered the same.
func TestServerConnShedIdle(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 2048, OutBuf: 1024, InPlace: inPlace})
		out := 0
		if !inPlace {
			out = 1024
		}
		if n := c.Shed(); n != 0 || c.Footprint() != out {
			t.Fatalf("inPlace=%v: a new connection shed %d, footprint %d", inPlace, n, c.Footprint())
		}
		req := []byte("GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
		c.Input(req, t0)
		first := drainInPlace(c, 1024, t0)
		if !c.Idle() {
			t.Fatal("not idle after the response")
		}
		if n := c.Shed(); n != 2048+reqStateSize {
			t.Fatalf("inPlace=%v: Shed released %d, want %d", inPlace, n, 2048+reqStateSize)
		}
		if n := c.Shed(); n != 0 || c.Footprint() != out {
			t.Fatalf("inPlace=%v: second Shed released %d, footprint %d", inPlace, n, c.Footprint())
		}
		c.Input(req, t0)
		if again := drainInPlace(c, 1024, t0); again != first {
			t.Fatalf("after Shed: %q, before: %q", again, first)
		}
	}
}

// TestServerConnShedKeepsRequest: Shed in the middle of a request (part of
// its head, a streamed body, a parsed request waiting for room, a response
// being output) releases nothing, and the request completes as without it.
func TestServerConnShedKeepsRequest(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 2048, OutBuf: 1024, InPlace: true})
	c.Input([]byte("GET /a HTTP/1.1\r\nHo"), t0)
	if n := c.Shed(); n != 0 {
		t.Fatalf("Shed with half a head released %d", n)
	}
	c.Input([]byte("st: h\r\n\r\n"), t0)
	if !c.Waiting() {
		t.Fatal("the request does not wait for room")
	}
	if n := c.Shed(); n != 0 {
		t.Fatalf("Shed with a parsed request waiting released %d", n)
	}
	if got := drainInPlace(c, 1024, t0); !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "<p>/a</p>") {
		t.Fatalf("%q", got)
	}

	// a streamed body: the head stays in the input buffer until the answer
	sink := &hashSink{}
	c = NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024,
		Body: func(r *Request) (BodySink, int64) { return sink, 100 }})
	c.Input([]byte("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234"), t0)
	if !c.Streaming() || c.Shed() != 0 {
		t.Fatal("Shed while a body streams released bytes")
	}
	c.Input([]byte("56789"), t0)
	if got := drain(c, t0); !strings.HasPrefix(got, "HTTP/1.1 200 ") || sink.n != 10 {
		t.Fatalf("%q, sink %d bytes", got, sink.n)
	}

	// a response from a BodySource being output
	c = NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024})
	c.Input([]byte("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
	buf := make([]byte, 100)
	first := string(buf[:c.Output(buf, t0)])
	if c.Shed() != 0 {
		t.Fatal("Shed while a response is output released bytes")
	}
	var r Response
	if _, err := ParseResponse([]byte(first+drain(c, t0)), &r); err != nil || string(r.Body) != pattern(streamLen) {
		t.Fatalf("%v: %d bytes", err, len(r.Body))
	}
}

// shedScript is a pipelined exchange: keep-alive, HEAD, chunked and
// Content-Length bodies, a Range, 100-continue, a streamed upload, and
// errors (a bad header, an oversized head) that close the connection.
var shedScript = []string{
	"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /file HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
		"GET /file HTTP/1.1\r\nHost: h\r\nRange: bytes=-4\r\n\r\n" +
		"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" +
		"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789" +
		"GET /stream HTTP/1.1\r\nHost: h\r\n\r\nGET /old HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	"GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n",
	"GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 600) + "\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\nabc",
	"GET /slow HTTP/1.1\r\nHost: h\r\n", // the head never ends: 408
}

// shedScriptRun feeds in to a connection in pieces of piece bytes, drains
// the output in rooms of room bytes and advances the clock, with Shed before
// every call when shed is set; it returns the output.
func shedScriptRun(in string, piece, room int, inPlace, shed bool) (string, int) {
	released := 0
	sink := &hashSink{}
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 512, OutBuf: 1024, InPlace: inPlace,
		Body: func(r *Request) (BodySink, int64) {
			if string(r.Path) == "/up" {
				return sink, 100
			}
			return nil, 0
		}})
	maybeShed := func() {
		if shed {
			// What Shed drops is overwritten at once (the input bytes
			// with 0xA5, the request state zeroed): a view of it kept
			// across the Shed would change the output.
			in, rq := c.inb(), c.rq
			released += c.Shed()
			if in != nil && c.inb() == nil {
				in = in[:cap(in)]
				for i := range in {
					in[i] = 0xa5
				}
			}
			if rq != nil && c.rq == nil {
				*rq = reqState{}
			}
		}
	}
	var out []byte
	buf := make([]byte, room)
	now := t0
	for off := 0; off < len(in) && !c.Closed(); {
		maybeShed()
		off += c.Input([]byte(in[off:min(off+piece, len(in))]), now)
		for {
			maybeShed()
			n := c.Output(buf, now)
			if n == 0 {
				break
			}
			out = append(out, buf[:n]...)
		}
		maybeShed()
		now = now.Add(300 * time.Millisecond)
		c.Poll(now)
	}
	for i := 0; i < 100 && !c.Closed(); i++ {
		maybeShed()
		n := c.Output(buf, now)
		out = append(out, buf[:n]...)
		now = now.Add(time.Second)
		maybeShed()
		c.Poll(now)
	}
	return string(out) + "|" + string(rune('0'+sink.n%10)), released
}

// TestServerConnShedSameBytes: with Shed before every Input, Output and
// Poll call (and what it drops overwritten at once) the connection answers
// every script in the same bytes (errors and limits included), in any
// piece and room sizes, buffered or InPlace.
func TestServerConnShedSameBytes(t *testing.T) {
	released := 0
	for _, in := range shedScript {
		for _, inPlace := range []bool{false, true} {
			for _, piece := range []int{1, 7, 64, 4096} {
				room := 1024
				if !inPlace {
					room = 13
				}
				want, _ := shedScriptRun(in, piece, room, inPlace, false)
				got, n := shedScriptRun(in, piece, room, inPlace, true)
				released += n
				if got != want {
					t.Fatalf("inPlace=%v piece %d: with Shed\n%q\nwithout\n%q", inPlace, piece, got, want)
				}
				if !strings.HasPrefix(want, "HTTP/1.1 ") {
					t.Fatalf("no response: %q", want)
				}
			}
		}
	}
	if released == 0 {
		t.Fatal("nothing was ever shed")
	}
	t.Logf("Sheds released %d bytes in all", released)
}

// TestServerConnShedAllocs: without Shed a keep-alive request allocates
// nothing; after a Shed, the next request allocates the input buffer and
// the request state (2), and the rest of the burst nothing.
func TestServerConnShedAllocs(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler, InBuf: 2048, OutBuf: 1024, InPlace: true})
	req := []byte("GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
	buf := make([]byte, 1024)
	round := func() {
		c.Input(req, t0)
		for c.Output(buf, t0) > 0 {
		}
	}
	round()
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Fatalf("%v allocations per request", a)
	}
	if a := testing.AllocsPerRun(50, func() {
		c.Shed()
		for i := 0; i < 4; i++ {
			round()
		}
	}); a != 2 {
		t.Fatalf("a burst after Shed: %v allocations, want 2", a)
	}
}

// TestReqStateSize guards the request state's size class (888 bytes with
// the input buffer's slice header, the chunked decoder's line counters in
// 32 bits, and the allocator's 8-byte header within 896).
func TestReqStateSize(t *testing.T) {
	if n := unsafe.Sizeof(reqState{}) + 8; n > 896 {
		t.Fatalf("reqState takes %d bytes, past the 896-byte size class", n)
	}
}
