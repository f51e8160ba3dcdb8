package http

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

const curlReq = "GET /index.html HTTP/1.1\r\nHost: 10.0.0.2\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"

func TestParseRequestBasic(t *testing.T) {
	var r Request
	b := []byte(curlReq)
	n, err := ParseRequest(b, Limits{}, &r)
	if err != nil || n != len(b) {
		t.Fatal(n, err)
	}
	if string(r.Method) != "GET" || string(r.Path) != "/index.html" || r.Query != nil || r.Minor != 1 ||
		string(r.Host) != "10.0.0.2" || r.N != 3 || r.Close || r.ContentLength != -1 || len(r.Body) != 0 {
		t.Fatalf("%+v", r)
	}
	if string(r.Get("user-agent")) != "curl/8.5.0" || r.Get("x-none") != nil || !r.Has("accept") {
		t.Fatal("Get")
	}
	// Every strict prefix is incomplete.
	for i := 0; i < len(b); i++ {
		if _, err := ParseRequest(b[:i], Limits{}, &r); err != ErrIncomplete {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
}

func TestParseRequestForms(t *testing.T) {
	cases := []struct{ in, path, query string }{
		{"GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\n\r\n", "/a/b", "x=1&y"},
		{"GET http://h:80/p?q HTTP/1.1\r\nHost: h\r\n\r\n", "/p", "q"},
		{"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", "/", ""},
		{"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*", ""},
		{"\r\nGET / HTTP/1.1\nHost: h\n\n", "/", ""}, // leading CRLF, bare LF
		{"GET /?q HTTP/1.1\r\nHost: h\r\n\r\n", "/", "q"},
	}
	for _, c := range cases {
		var r Request
		if _, err := ParseRequest([]byte(c.in), Limits{}, &r); err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if string(r.Path) != c.path || string(r.Query) != c.query {
			t.Errorf("%q: path %q query %q", c.in, r.Path, r.Query)
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	long := strings.Repeat("a", 2000)
	many := strings.Repeat("X-A: 1\r\n", 40)
	big := "X-Big: " + strings.Repeat("b", 5000) + "\r\n"
	cases := []struct {
		in     string
		status int
	}{
		{"GET / HTTP/1.1\r\n\r\n", 400},                        // no Host
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},  // two Hosts
		{"GET / HTTP/1.0\r\n\r\n", 0},                          // 1.0 without Host is fine
		{"GET /" + long + " HTTP/1.1\r\nHost: h\r\n\r\n", 414}, // long target
		{"GET /" + long, 414},                                  // long target, incomplete
		{"GET / HTTP/1.1\r\nHost: h\r\n" + many + "\r\n", 431}, // too many fields
		{"GET / HTTP/1.1\r\nHost: h\r\n" + big + "\r\n", 431},  // header too large
		{"GET / HTTP/1.1\r\nHost: h\r\n" + big, 431},           // ... incomplete
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999\r\n\r\n", 413},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400},
		{"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
		{"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
		{"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},             // space before colon
		{"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},   // obs-fold
		{"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},        // bare CR
		{"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400}, // NUL in value
		{"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},   // no colon
		{"G\x01T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},           // bad method
		{"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},          // bad target
		{"GET nohost HTTP/1.1\r\nHost: h\r\n\r\n", 400},         // not a target form
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX", 400},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n", 413},
	}
	for _, c := range cases {
		var r Request
		_, err := ParseRequest([]byte(c.in), Limits{}, &r)
		if c.status == 0 {
			if err != nil {
				t.Errorf("%.60q: %v", c.in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status {
			t.Errorf("%.60q: got %v, want %d", c.in, err, c.status)
		}
	}
}

func TestKeepAliveSemantics(t *testing.T) {
	cases := []struct {
		in          string
		close, ka10 bool
	}{
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", false, false},
		{"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", true, false},
		{"GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", true, false},
		{"GET / HTTP/1.0\r\n\r\n", true, false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, true},
	}
	for _, c := range cases {
		var r Request
		if _, err := ParseRequest([]byte(c.in), Limits{}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Close != c.close || r.KeepAlive10 != c.ka10 {
			t.Errorf("%q: close=%v ka10=%v", c.in, r.Close, r.KeepAlive10)
		}
	}
}

func TestPipelinedAndBodies(t *testing.T) {
	in := "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: h\r\n\r\n"
	b := []byte(in)
	var r Request
	var paths, bodies []string
	for len(b) > 0 {
		n, err := ParseRequest(b, Limits{}, &r)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, string(r.Path))
		bodies = append(bodies, string(r.Body))
		b = b[n:]
	}
	if strings.Join(paths, ",") != "/a,/b,/c" || strings.Join(bodies, ",") != "hello,abcdefg," {
		t.Fatal(paths, bodies)
	}
	// A chunked body that is incomplete leaves the buffer untouched.
	part := []byte("POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\nde")
	keep := string(part)
	if _, err := ParseRequest(part, Limits{}, &r); err != ErrIncomplete || string(part) != keep {
		t.Fatal("incomplete chunked parse modified the input", err)
	}
	// Content-Length body larger than what is present.
	if _, err := ParseRequest([]byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"), Limits{}, &r); err != ErrIncomplete {
		t.Fatal(err)
	}
	// Head is reported complete on ErrIncomplete (for 100-continue).
	if r.HeadLen == 0 || r.ContentLength != 10 {
		t.Fatal("HeadLen not set on incomplete body")
	}
}

func TestParseResponse(t *testing.T) {
	cases := []struct {
		in         string
		head       bool
		status     int
		body       string
		untilClose bool
		close      bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA", false, 200, "abc", false, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n", false, 200, "abc", false, false},
		{"HTTP/1.1 200 OK\r\n\r\nuntil close", false, 200, "until close", true, true},
		{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 200, "x", false, true},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, 304, "", false, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, 200, "", false, false},
		{"HTTP/1.1 204 No Content\r\n\r\n", false, 204, "", false, false},
		{"HTTP/1.1 100 Continue\r\n\r\n", false, 100, "", false, false},
		{"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false, 404, "", false, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", false, 200, "zz", true, true},
	}
	for _, c := range cases {
		var r Response
		n, err := ParseResponseFor([]byte(c.in), c.head, &r)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if r.Status != c.status || string(r.Body) != c.body || r.UntilClose != c.untilClose || r.Close != c.close {
			t.Errorf("%q: %d %q until=%v close=%v", c.in, r.Status, r.Body, r.UntilClose, r.Close)
		}
		if strings.HasSuffix(c.in, "EXTRA") && c.in[n:] != "EXTRA" {
			t.Errorf("n=%d", n)
		}
	}
	bad := []string{
		"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n", "HTTX/1.1 200 OK\r\n\r\n", "HTTP/1.1 700 X\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n",
	}
	for _, in := range bad {
		var r Response
		if _, err := ParseResponse([]byte(in), &r); err == nil || err == ErrIncomplete {
			t.Errorf("%q: %v", in, err)
		}
	}
	var r Response
	if _, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), &r); err != ErrIncomplete {
		t.Fatal(err)
	}
}

func TestAllocs(t *testing.T) {
	b := []byte(curlReq)
	var r Request
	lim := DefaultLimits()
	if a := testing.AllocsPerRun(100, func() { ParseRequest(b, lim, &r) }); a != 0 {
		t.Errorf("ParseRequest allocates %v", a)
	}
	chunked := []byte("POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	work := make([]byte, len(chunked))
	if a := testing.AllocsPerRun(100, func() { copy(work, chunked); ParseRequest(work, lim, &r) }); a != 0 {
		t.Errorf("chunked ParseRequest allocates %v", a)
	}
	dst := make([]byte, 0, 512)
	h := ResponseHeader{Status: 200, Date: t0, ContentType: "text/html", ContentLength: 1234, ETag: `"abc"`, KeepAlive: true}
	if a := testing.AllocsPerRun(100, func() { AppendResponseHeader(dst[:0], &h) }); a != 0 {
		t.Errorf("AppendResponseHeader allocates %v", a)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	var rs Response
	if a := testing.AllocsPerRun(100, func() { ParseResponse(resp, &rs) }); a != 0 {
		t.Errorf("ParseResponse allocates %v", a)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	buf := []byte(curlReq)
	var r Request
	lim := DefaultLimits()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseRequest(buf, lim, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResponseHeader(b *testing.B) {
	dst := make([]byte, 0, 512)
	h := ResponseHeader{Status: 200, Date: t0, ContentType: "text/html; charset=utf-8", ContentLength: 1234, ETag: `"0123456789abcdef"`}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = AppendResponseHeader(dst[:0], &h)
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkChunkedDecode(b *testing.B) {
	var enc []byte
	data := make([]byte, 1000)
	for i := 0; i < 16; i++ {
		enc = AppendChunk(enc, data)
	}
	enc = AppendLastChunk(enc)
	work := make([]byte, len(enc))
	var d ChunkedDecoder
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(work, enc)
		d.Reset()
		if _, _, done, err := d.Decode(work); !done || err != nil {
			b.Fatal(err)
		}
	}
}

// TestAbsoluteFormAuthority: an absolute-form target's authority is checked (RFC 3986 §3.2: a
// userinfo, characters outside reg-name, a bad IPv6 literal or port → 400) and becomes the
// request's Host, whatever the Host field says (RFC 9112 §3.2.2: the server MUST ignore it).
func TestAbsoluteFormAuthority(t *testing.T) {
	for _, c := range []struct{ target, host string }{
		{"http://card.example/p", "card.example"},
		{"http://card.example:8443/p?q", "card.example:8443"},
		{"https://10.0.0.1:443", "10.0.0.1:443"},
		{"http://[::1]:80/", "[::1]:80"},
		{"http://[2001:db8::7]/", "[2001:db8::7]"},
		{"http://[::ffff:10.0.0.1]/", "[::ffff:10.0.0.1]"},
		{"http://a-b_c~d!$&'()*+,;=/x", "a-b_c~d!$&'()*+,;="},
		{"http://h:/", "h:"},
	} {
		var r Request
		in := "GET " + c.target + " HTTP/1.1\r\nHost: other.example\r\n\r\n"
		if _, err := ParseRequest([]byte(in), Limits{}, &r); err != nil {
			t.Errorf("%q: %v", c.target, err)
			continue
		}
		if string(r.Host) != c.host {
			t.Errorf("%q: Host %q, want %q", c.target, r.Host, c.host)
		}
	}
	for _, target := range []string{
		"p://^", "http://user@h/", "http://u:p@h/", "http://h:x/", "http://h:80:81/", "http://a%41/",
		"http://[zz]/", "http://[::1/", "http://[]/", "http://[1:2:3:4:5:6:7:8:9]/", "http://[1::2::3]/",
		"http://[::1]x/", "http://[::1%25eth0]/", "http://h|/", "http://h\"/", "http://[1:2:3:4:5:6:7]/",
		"http://[::1.2.3.256]/", "http://[::01.2.3.4]/", "http://[:1::]/", "http://[1:]/",
	} {
		var r Request
		in := "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"
		if _, err := ParseRequest([]byte(in), Limits{}, &r); err != ErrBadRequest {
			t.Errorf("%q: %v, want 400", target, err)
		}
	}
	// CONNECT's authority-form (RFC 9112 §3.2.3) is checked the same way.
	for _, c := range []struct {
		target string
		ok     bool
	}{{"card.example:443", true}, {"[::1]:443", true}, {"^", false}, {"u@h:443", false}, {"h:x", false}} {
		var r Request
		_, err := ParseRequest([]byte("CONNECT "+c.target+" HTTP/1.1\r\nHost: h\r\n\r\n"), Limits{}, &r)
		if (err == nil) != c.ok {
			t.Errorf("CONNECT %q: %v", c.target, err)
		}
	}
}

// TestIPv6LiteralMatchesNetip: validIPv6Literal accepts exactly what net/netip parses as an IPv6
// address without a zone, over hand-picked and random strings of its alphabet.
func TestIPv6LiteralMatchesNetip(t *testing.T) {
	check := func(s string) {
		a, err := netip.ParseAddr(s)
		want := err == nil && a.Is6() && a.Zone() == ""
		if got := validIPv6Literal([]byte(s)); got != want {
			t.Fatalf("%q: ours %v, netip %v (%v)", s, got, want, err)
		}
	}
	for _, s := range []string{"::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4", "1::1.2.3.4", ":", ":::", "1:2", "12345::",
		"1.2.3.4", "::1.2.3", "::1.2.3.4.5", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1", "FE80::A", "::0.0.0.0"} {
		check(s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alpha = "0123456789abcdefABCDEF:."
	for i := 0; i < 200000; i++ {
		b := make([]byte, rng.IntN(24))
		for j := range b {
			b[j] = alpha[rng.IntN(len(alpha))]
			if rng.IntN(3) == 0 {
				b[j] = ':'
			}
		}
		check(string(b))
	}
}
