package http

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var requestSeeds = []string{
	curlReq,
	"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
	"GET http://h/p?q HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
	"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
	"HEAD /file HTTP/1.1\r\nHost: h\r\n\r\nGET /file HTTP/1.1\r\nHost: h\r\nRange: bytes=1-2\r\n\r\n",
}

// streamSeeds exercise streamed request bodies (FuzzServerConn's /up and
// /fail routes).
var streamSeeds = []string{
	"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabcPUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz",
	"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n",
	"PUT /fail HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabcdefgh",
	"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
}

var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nrest",
	"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
	"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
}

var chunkedSeeds = []string{
	"3\r\nabc\r\n0\r\n\r\n",
	"a;ext=\"v\"\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT",
	"1\r\nx\r\n0\r\n\r\n",
	"fffffffffffffffff\r\n",
	"0\r\n\r\n",
}

// TestWriteFuzzSeeds regenerates the committed seed corpora when
// NETCARD_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("NETCARD_WRITE_SEEDS") == "" {
		t.Skip("set NETCARD_WRITE_SEEDS=1 to regenerate seeds")
	}
	extra := map[string]string{"FuzzParseRequest": "", "FuzzDifferential": "", "FuzzResponseDifferential": "", "FuzzServerConn": "byte('\\x05')\n", "FuzzParseResponse": "bool(false)\n", "FuzzChunked": "byte('\\x03')\n"}
	for name, seeds := range map[string][]string{"FuzzParseRequest": requestSeeds, "FuzzDifferential": requestSeeds, "FuzzResponseDifferential": responseSeeds, "FuzzServerConn": requestSeeds, "FuzzParseResponse": responseSeeds, "FuzzChunked": chunkedSeeds} {
		dir := filepath.Join("testdata", "fuzz", name)
		os.MkdirAll(dir, 0o755)
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s) + extra[name]
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, s := range streamSeeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s) + extra["FuzzServerConn"]
		if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzServerConn", fmt.Sprintf("stream%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkErr(t *testing.T, err error) {
	if err == nil || err == ErrIncomplete {
		return
	}
	if e, ok := err.(*Error); !ok || e.Status < 400 || e.Status > 599 {
		t.Fatalf("error without a status: %v", err)
	}
}

// within fails unless s (when non-empty) aliases a part of b.
func within(t *testing.T, b, s []byte) {
	if len(s) == 0 {
		return
	}
	for i := 0; i+len(s) <= len(b); i++ {
		if &b[i] == &s[0] {
			return
		}
	}
	t.Fatal("slice does not alias the input")
}

// FuzzParseRequest: any bytes give a request or an error with a status;
// parsed slices alias the input; pipelined parsing always progresses.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		lim := Limits{MaxTarget: 64, MaxHeaderBytes: 512, MaxHeaders: 8, MaxBody: 256}
		for k := 0; len(b) > 0 && k < 100; k++ {
			n, err := ParseRequest(b, lim, &r)
			checkErr(t, err)
			if err != nil {
				return
			}
			if n <= 0 || n > len(b) || r.HeadLen > n || int64(len(r.Body)) > lim.MaxBody || r.N > lim.MaxHeaders {
				t.Fatalf("n=%d len=%d head=%d body=%d", n, len(b), r.HeadLen, len(r.Body))
			}
			within(t, b, r.Method)
			within(t, b, r.Target)
			within(t, b, r.Body)
			b = b[n:]
		}
	})
}

// FuzzParseResponse: any bytes give a response or an error.
func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, head bool) {
		var r Response
		n, err := ParseResponseFor(b, head, &r)
		checkErr(t, err)
		if err == nil {
			if n < r.HeadLen || n > len(b) || r.Status < 100 || r.Status > 599 {
				t.Fatalf("n=%d head=%d status=%d", n, r.HeadLen, r.Status)
			}
			within(t, b, r.Body)
		}
	})
}

// FuzzChunked: decoding in one piece and decoding the same bytes streamed in
// pieces give the same data, the same end and the same verdict.
func FuzzChunked(f *testing.F) {
	for _, s := range chunkedSeeds {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		one := append([]byte(nil), b...)
		var d ChunkedDecoder
		d.Max = 1 << 16
		n1, used1, done1, err1 := d.Decode(one)
		checkErr(t, err1)
		if n1 > used1 || used1 > len(b) {
			t.Fatalf("data %d > consumed %d", n1, used1)
		}
		// Streamed in pieces of step+1 bytes.
		var d2 ChunkedDecoder
		d2.Max = 1 << 16
		work := append([]byte(nil), b...)
		var data []byte
		used2, done2 := 0, false
		var err2 error
		for off := 0; off < len(work) && !done2 && err2 == nil; {
			end := min(off+int(step)+1, len(work))
			var k, c int
			k, c, done2, err2 = d2.Decode(work[off:end])
			data = append(data, work[off:off+k]...)
			used2 = off + c
			off = end
		}
		if (err1 == nil) != (err2 == nil) || done1 != done2 {
			t.Fatalf("one-shot done=%v err=%v, streamed done=%v err=%v", done1, err1, done2, err2)
		}
		if err1 == nil && !bytes.Equal(one[:n1], data) {
			t.Fatalf("data differs: %q vs %q", one[:n1], data)
		}
		if done1 && used1 != used2 {
			t.Fatalf("end at %d vs %d", used1, used2)
		}
		// Next, in the same pieces: the same data, end and verdict, read
		// where it lies.
		var d3 ChunkedDecoder
		d3.Max = 1 << 16
		var data3 []byte
		used3, done3 := 0, false
		var err3 error
		for off := 0; off < len(b) && !done3 && err3 == nil; {
			end := min(off+int(step)+1, len(b))
			piece := b[off:end]
			for len(piece) > 0 && !done3 && err3 == nil {
				var run []byte
				var c int
				run, c, done3, err3 = d3.Next(piece)
				within(t, piece, run)
				data3 = append(data3, run...)
				used3 = end - len(piece) + c
				piece = piece[c:]
			}
			off = end
		}
		if (err1 == nil) != (err3 == nil) || done1 != done3 {
			t.Fatalf("one-shot done=%v err=%v, Next done=%v err=%v", done1, err1, done3, err3)
		}
		if err1 == nil && !bytes.Equal(one[:n1], data3) {
			t.Fatalf("Next data differs: %q vs %q", one[:n1], data3)
		}
		if done1 && used1 != used3 {
			t.Fatalf("Next end at %d vs %d", used1, used3)
		}
	})
}

// FuzzServerConn drives a ServerConn with arbitrary bytes in arbitrary
// pieces, interleaving output and time: it must never panic, every response
// must parse, and a closed connection stays closed. The same input is run a
// second time with Shed between every step: the output must be the same
// bytes (Shed never changes what the connection does).
func FuzzServerConn(f *testing.F) {
	for _, s := range append(requestSeeds[:len(requestSeeds):len(requestSeeds)], streamSeeds...) {
		f.Add([]byte(s), uint8(5))
		f.Add([]byte(s), uint8(0x85))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		out, heads := fuzzServerConnRun(t, b, step, false)
		shedOut, _ := fuzzServerConnRun(t, b, step, true)
		if !bytes.Equal(out, shedOut) {
			t.Fatalf("with Shed between steps the output differs:\n%q\n%q", out, shedOut)
		}
		for len(out) > 0 {
			var r Response
			head := len(heads) > 0 && heads[0]
			n, err := ParseResponseFor(out, head, &r)
			if err == ErrIncomplete && len(heads) == 0 {
				// A parser error answered to HEAD: head only.
				n, err = ParseResponseFor(out, true, &r)
			}
			if err != nil {
				t.Fatalf("unparsable output %v: %q", err, out)
			}
			if r.Status >= 200 && len(heads) > 0 {
				heads = heads[1:]
			}
			out = out[n:]
		}
	})
}

// fuzzServerConnRun is one run of FuzzServerConn: the output, and per
// handled request whether it was HEAD. With shed, Shed runs after every
// Input, Output and Poll call.
func fuzzServerConnRun(t *testing.T, b []byte, step uint8, shed bool) ([]byte, []bool) {
	// /up streams bodies of up to 64 bytes, /fail stops them at 4.
	up, fail := &hashSink{}, &hashSink{failAt: 4}
	body := func(r *Request) (BodySink, int64) {
		switch string(r.Path) {
		case "/up":
			return up, 64
		case "/fail":
			return fail, 1 << 20
		}
		return nil, 0
	}
	var heads []bool // per handled request: was it HEAD
	h := func(r *Request, w *ResponseWriter) {
		heads = append(heads, r.IsHEAD())
		testHandler(r, w)
	}
	// The top bit of step selects InPlace composition (in a room of
	// OutBuf or more, or less once drained).
	inPlace := step&0x80 != 0
	c := NewServerConn(ServerConfig{Handler: h, Body: body, InBuf: 512, OutBuf: 512, RequestTimeout: 3 * time.Second, InPlace: inPlace})
	maybeShed := func() {
		if shed {
			c.Shed()
			if c.Shed() != 0 {
				t.Fatal("a second Shed released bytes")
			}
		}
	}
	now := t0
	var out []byte
	buf := make([]byte, 97)
	if inPlace {
		buf = make([]byte, 300+int(step&0x7f)*4)
		c.SetDrained(step&0x40 != 0)
	}
	for off := 0; off < len(b) && !c.Closed(); {
		end := min(off+int(step)+1, len(b))
		maybeShed()
		off += c.Input(b[off:end], now)
		for {
			maybeShed()
			n := c.Output(buf, now)
			if n == 0 {
				break
			}
			out = append(out, buf[:n]...)
		}
		now = now.Add(time.Second)
		maybeShed()
		c.Poll(now)
		if up.n > 64 {
			t.Fatalf("the sink got %d bytes, over the limit", up.n)
		}
	}
	for n := c.Output(buf, now); n > 0; n = c.Output(buf, now) {
		out = append(out, buf[:n]...)
	}
	return out, heads
}
