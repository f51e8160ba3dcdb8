package http

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serveLoopback runs ServerConns behind a loopback listener: the test-only
// I/O loop around the I/O-free connection. conns counts the connections
// that sent a byte: net/http's Transport may dial a spare connection while
// the previous one is on its way back to its idle pool (a loaded machine
// makes that likely) and then leave it unused.
func serveLoopback(t *testing.T, cfg ServerConfig) (addr string, conns *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				c := NewServerConn(cfg)
				in := make([]byte, 1500)
				out := make([]byte, 1400)
				counted := false
				for !c.Closed() {
					nc.SetDeadline(time.Now().Add(10 * time.Second))
					n, err := nc.Read(in)
					if n > 0 && !counted {
						counted = true
						conns.Add(1)
					}
					b := in[:n]
					for len(b) > 0 || n > 0 {
						k := c.Input(b, t0)
						b = b[k:]
						n = 0
						for {
							m := c.Output(out, t0)
							if m == 0 {
								break
							}
							if _, err := nc.Write(out[:m]); err != nil {
								return
							}
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), conns
}

func TestNetHTTPClientAgainstServerConn(t *testing.T) {
	addr, conns := serveLoopback(t, ServerConfig{Handler: testHandler})
	tr := &nethttp.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &nethttp.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "http://" + addr
	do := func(req *nethttp.Request) (*nethttp.Response, string) {
		t.Helper()
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return res, string(body)
	}
	get := func(path string, hdr ...string) (*nethttp.Response, string) {
		req, _ := nethttp.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return do(req)
	}
	// Keep-alive: 1,000 requests, one connection.
	for i := 0; i < 1000; i++ {
		res, body := get(fmt.Sprintf("/p%d", i))
		if res.StatusCode != 200 || body != fmt.Sprintf("<p>/p%d</p>", i) || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatal(res.Status, body)
		}
		if d, err := nethttp.ParseTime(res.Header.Get("Date")); err != nil || !d.Equal(t0) {
			t.Fatal("Date", res.Header.Get("Date"))
		}
	}
	// HEAD: head only, with the length of the GET body.
	req, _ := nethttp.NewRequest("HEAD", base+"/file", nil)
	res, body := do(req)
	if res.StatusCode != 200 || res.ContentLength != int64(len(testFile)) || body != "" || res.Header.Get("ETag") != testETag {
		t.Fatal("HEAD", res.Status, res.ContentLength, body)
	}
	// Range.
	res, body = get("/file", "Range", "bytes=2-5")
	if res.StatusCode != 206 || body != "2345" || res.Header.Get("Content-Range") != "bytes 2-5/36" {
		t.Fatal("Range", res.Status, body)
	}
	res, _ = get("/file", "Range", "bytes=99-")
	if res.StatusCode != 416 || res.Header.Get("Content-Range") != "bytes */36" {
		t.Fatal("416", res.Status)
	}
	// A streamed (chunked) response of unknown length.
	if res, body = get("/stream"); res.StatusCode != 200 || body != pattern(streamLen) || len(res.TransferEncoding) != 1 {
		t.Fatal("stream", res.Status, len(body), res.TransferEncoding)
	}
	// Conditional GET.
	res, body = get("/file", "If-None-Match", testETag)
	if res.StatusCode != 304 || body != "" {
		t.Fatal("304", res.Status)
	}
	// Chunked POST (unknown length makes net/http use chunked).
	payload := strings.Repeat("chunked-body-", 100)
	req, _ = nethttp.NewRequest("POST", base+"/echo", io.MultiReader(strings.NewReader(payload)))
	req.ContentLength = -1
	res, body = do(req)
	if res.StatusCode != 200 || body != payload {
		t.Fatal("chunked POST", res.Status, len(body))
	}
	// Content-Length POST.
	req, _ = nethttp.NewRequest("POST", base+"/echo", strings.NewReader("short"))
	if res, body = do(req); body != "short" {
		t.Fatal("POST", res.Status, body)
	}
	// Redirect followed by the client.
	res, body = get("/old")
	if res.StatusCode != 200 || body != "<p>/new</p>" {
		t.Fatal("redirect", res.Status, body)
	}
	// One connection, unless net/http's Transport moved to a spare it dialled
	// while the first was on its way back to the idle pool (a loaded machine
	// makes that race likely): a server closing after each response would
	// need over 1,000.
	if n := conns.Load(); n < 1 || n > 10 {
		t.Fatalf("%d connections for keep-alive traffic", n)
	}
	// Limits: an oversized header field gets 431 and the connection closes.
	res, _ = get("/", "X-Big", strings.Repeat("b", 5000))
	if res.StatusCode != 431 || !res.Close {
		t.Fatal("431", res.Status)
	}
}

func TestPipelinedOverTCP(t *testing.T) {
	addr, _ := serveLoopback(t, ServerConfig{Handler: testHandler})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var reqs []byte
	for i := 0; i < 20; i++ {
		reqs = AppendRequestHeader(reqs, &RequestHeader{Method: "GET", Target: fmt.Sprintf("/r%d", i), Host: "card", ContentLength: -1})
	}
	if _, err := nc.Write(reqs); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	for i := 0; i < 20; i++ {
		res, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		if string(body) != fmt.Sprintf("<p>/r%d</p>", i) {
			t.Fatalf("response %d: %q", i, body)
		}
	}
}

// readResponse reads from nc until ParseResponseFor completes; leftover
// bytes stay in *buf.
func readResponse(t *testing.T, nc net.Conn, buf *[]byte, head bool, r *Response) {
	t.Helper()
	tmp := make([]byte, 512)
	for {
		n, err := ParseResponseFor(*buf, head, r)
		if err == nil && !r.UntilClose {
			// Keep the body: copy it out before consuming.
			body := append([]byte(nil), r.Body...)
			*buf = append((*buf)[:0], (*buf)[n:]...)
			r.Body = body
			return
		}
		if err != nil && err != ErrIncomplete {
			t.Fatal(err)
		}
		k, rerr := nc.Read(tmp)
		*buf = append(*buf, tmp[:k]...)
		if rerr == io.EOF && r.UntilClose {
			ParseResponseFor(*buf, head, r)
			r.Body = append([]byte(nil), r.Body...)
			return
		}
		if rerr != nil {
			t.Fatal(rerr)
		}
	}
}

func TestClientAgainstNetHTTPServer(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/cl":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		case "/chunked":
			for i := 0; i < 5; i++ {
				fmt.Fprintf(w, "part%d;", i)
				w.(nethttp.Flusher).Flush()
			}
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %v %d %s", r.Method, r.TransferEncoding, r.ContentLength, b)
		case "/redirect":
			nethttp.Redirect(w, r, "/cl", nethttp.StatusFound)
		case "/close":
			nc, bw, _ := w.(nethttp.Hijacker).Hijack()
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
			bw.Flush()
			nc.Close()
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	var r Response
	send := func(b []byte) {
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	send(AppendRequestHeader(nil, &RequestHeader{Method: "GET", Target: "/cl", Host: host, ContentLength: -1}))
	readResponse(t, nc, &buf, false, &r)
	if r.Status != 200 || string(r.Body) != "hello" || r.ContentLength != 5 {
		t.Fatal("cl", r.Status, string(r.Body))
	}
	send(AppendRequestHeader(nil, &RequestHeader{Method: "GET", Target: "/chunked", Host: host, ContentLength: -1}))
	readResponse(t, nc, &buf, false, &r)
	if !r.Chunked || string(r.Body) != "part0;part1;part2;part3;part4;" {
		t.Fatal("chunked", string(r.Body))
	}
	send(AppendRequestHeader(nil, &RequestHeader{Method: "HEAD", Target: "/cl", Host: host, ContentLength: -1}))
	readResponse(t, nc, &buf, true, &r)
	if r.Status != 200 || len(r.Body) != 0 {
		t.Fatal("head")
	}
	post := AppendRequestHeader(nil, &RequestHeader{Method: "POST", Target: "/echo", Host: host, ContentType: "text/plain", ContentLength: 4})
	send(append(post, "data"...))
	readResponse(t, nc, &buf, false, &r)
	if string(r.Body) != "POST [] 4 data" {
		t.Fatalf("post %q", r.Body)
	}
	post = AppendRequestHeader(nil, &RequestHeader{Method: "POST", Target: "/echo", Host: host, Chunked: true})
	post = AppendChunk(post, []byte("chunk1-"))
	post = AppendChunk(post, []byte("chunk2"))
	post = AppendLastChunk(post)
	send(post)
	readResponse(t, nc, &buf, false, &r)
	if string(r.Body) != "POST [chunked] -1 chunk1-chunk2" {
		t.Fatalf("chunked post %q", r.Body)
	}
	// Redirect: resolve Location and follow (the bounded count is ours).
	target := "/redirect"
	for hops := 0; ; hops++ {
		if hops > 5 {
			t.Fatal("too many redirects")
		}
		send(AppendRequestHeader(nil, &RequestHeader{Method: "GET", Target: target, Host: host, ContentLength: -1}))
		readResponse(t, nc, &buf, false, &r)
		if !IsRedirect(r.Status) {
			break
		}
		loc, ok := ParseLocation(r.Get("location"), target, nil)
		if !ok {
			t.Fatal("bad Location")
		}
		target = string(loc.Path)
	}
	if string(r.Body) != "hello" {
		t.Fatal("redirect target", string(r.Body))
	}
	// Close-delimited body.
	send(AppendRequestHeader(nil, &RequestHeader{Method: "GET", Target: "/close", Host: host, ContentLength: -1}))
	readResponse(t, nc, &buf, false, &r)
	if !r.UntilClose || !bytes.Equal(r.Body, []byte("until the end")) {
		t.Fatalf("close-delimited %q", r.Body)
	}
}

// Differential check: whatever ParseRequest accepts, Go's net/http reads
// as the same request (method, path, body).
func FuzzDifferential(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		work := append([]byte(nil), b...)
		n, err := ParseRequest(work, Limits{}, &r)
		if err != nil {
			return
		}
		// RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line;
		// we ignore up to 64 bytes of them, net/http none. Compare from the request line.
		lead := 0
		for lead < n && (b[lead] == '\r' || b[lead] == '\n') {
			lead++
		}
		req, err := nethttp.ReadRequest(bufio.NewReader(bytes.NewReader(b[lead:n])))
		if err != nil {
			t.Fatalf("we accept, net/http rejects (%v): %q", err, b[:n])
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("net/http body error %v: %q", err, b[:n])
		}
		if req.Method != string(r.Method) || req.RequestURI != string(r.Target) || string(body) != string(r.Body) {
			t.Fatalf("disagree: %q %q %q vs %q %q %q", req.Method, req.RequestURI, body, r.Method, r.Target, r.Body)
		}
	})
}

func TestClientConnAgainstNetHTTPServer(t *testing.T) {
	var accepted atomic.Int32
	srv := httptest.NewUnstartedServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/chunked":
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "c%d", i)
				w.(nethttp.Flusher).Flush()
			}
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %v %s", r.Method, r.TransferEncoding, b)
		case "/r1":
			nethttp.Redirect(w, r, "r2", nethttp.StatusSeeOther)
		case "/r2":
			nethttp.Redirect(w, r, "/final", nethttp.StatusMovedPermanently)
		case "/loop":
			nethttp.Redirect(w, r, "/loop", nethttp.StatusFound)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			io.WriteString(w, "path "+r.URL.Path)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s nethttp.ConnState) {
		if s == nethttp.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := NewClientConn(4096, 1024)
	buf := make([]byte, 300)
	roundTrip := func(h *RequestHeader, body []byte) *Response {
		t.Helper()
		if err := c.Send(h, body); err != nil {
			t.Fatal(err)
		}
		for {
			n := c.Output(buf)
			if n == 0 {
				break
			}
			nc.Write(buf[:n])
		}
		for {
			r, err := c.Response()
			if err == nil {
				return r
			}
			if err != ErrIncomplete {
				t.Fatal(err)
			}
			n, rerr := nc.Read(buf)
			c.Input(buf[:n])
			if rerr == io.EOF {
				c.InputEOF()
			} else if rerr != nil {
				t.Fatal(rerr)
			}
		}
	}
	get := func(target string) *RequestHeader {
		return &RequestHeader{Method: "GET", Target: target, Host: host, ContentLength: -1}
	}
	r := roundTrip(get("/a"), nil)
	if r.Status != 200 || string(r.Body) != "path /a" || !c.Next() {
		t.Fatal("GET", r.Status, string(r.Body))
	}
	if err := c.Send(get("/x"), nil); err != nil {
		t.Fatal(err)
	}
	if c.Send(get("/y"), nil) != ErrBusy {
		t.Fatal("second request while busy")
	}
	c.Next() // abandon: framing lost, connection unusable
	if c.Send(get("/z"), nil) != ErrClosed {
		t.Fatal("abandoned connection reused")
	}
	// Fresh connection for the rest.
	nc.Close()
	if nc, err = net.Dial("tcp", host); err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c = NewClientConn(4096, 1024)
	r = roundTrip(get("/chunked"), nil)
	if !r.Chunked || string(r.Body) != "c0c1c2" || !c.Next() {
		t.Fatal("chunked", string(r.Body))
	}
	r = roundTrip(&RequestHeader{Method: "POST", Target: "/echo", Host: host, Extra: "Expect: 100-continue\r\n"}, []byte("payload"))
	if string(r.Body) != "POST [] payload" || !c.Next() {
		t.Fatalf("post %q", r.Body)
	}
	r = roundTrip(&RequestHeader{Method: "POST", Target: "/echo", Host: host, Chunked: true}, []byte("chunky"))
	if string(r.Body) != "POST [chunked] chunky" || !c.Next() {
		t.Fatalf("chunked post %q", r.Body)
	}
	r = roundTrip(&RequestHeader{Method: "HEAD", Target: "/a", Host: host, ContentLength: -1}, nil)
	if r.Status != 200 || len(r.Body) != 0 || !c.Next() {
		t.Fatal("head")
	}
	// Redirects, followed with a bounded count.
	follow := func(target string) (*Response, int) {
		method := "GET"
		path := make([]byte, 0, 256)
		for hops := 0; hops <= 5; hops++ {
			r := roundTrip(&RequestHeader{Method: method, Target: target, Host: host, ContentLength: -1}, nil)
			if !IsRedirect(r.Status) {
				return r, hops
			}
			loc, ok := ParseLocation(r.Get("location"), target, path[:0])
			if !ok || len(loc.Host) > 0 && string(loc.Host) != host {
				t.Fatal("bad Location", string(r.Get("location")))
			}
			method, target = RedirectMethod(r.Status, method), string(loc.Path)
			c.Next()
		}
		return nil, 6
	}
	r, hops := follow("/r1")
	if r == nil || hops != 2 || string(r.Body) != "path /final" {
		t.Fatal("redirect chain", hops)
	}
	c.Next()
	if _, hops = follow("/loop"); hops != 6 {
		t.Fatal("redirect loop not bounded")
	}
	c.Next()
	r = roundTrip(get("/close"), nil)
	if string(r.Body) != "bye" || !r.Close || c.Next() {
		t.Fatal("Connection: close not honoured")
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (keep-alive reuse)", n)
	}
}

// Differential check for responses: whatever ParseResponse accepts as
// complete, net/http reads with the same status and body.
func FuzzResponseDifferential(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Response
		work := append([]byte(nil), b...)
		n, err := ParseResponse(work, &r)
		if err != nil || r.UntilClose {
			return
		}
		res, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(b[:n])), nil)
		if err != nil {
			t.Fatalf("we accept, net/http rejects (%v): %q", err, b[:n])
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("net/http body error %v: %q", err, b[:n])
		}
		if res.StatusCode != r.Status || string(body) != string(r.Body) {
			t.Fatalf("disagree: %d %q vs %d %q", res.StatusCode, body, r.Status, r.Body)
		}
	})
}
