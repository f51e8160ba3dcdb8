package http

import (
	nethttp "net/http"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 8, 49, 37, 0, time.UTC)

func TestHTTPDate(t *testing.T) {
	for _, tm := range []time.Time{t0, time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC), time.Date(2000, 2, 29, 23, 59, 59, 0, time.FixedZone("x", 3600))} {
		got := string(AppendHTTPDate(nil, tm))
		if want := tm.UTC().Format(nethttp.TimeFormat); got != want {
			t.Errorf("got %q want %q", got, want)
		}
	}
}

func TestMIMEType(t *testing.T) {
	for in, want := range map[string]string{
		"/index.html": "text/html; charset=utf-8", "a.CSS": "text/css; charset=utf-8", "x.js": "text/javascript; charset=utf-8",
		"s.json": "application/json", "p.png": "image/png", "i.svg": "image/svg+xml", "r.txt": "text/plain; charset=utf-8",
		"favicon.ico": "image/vnd.microsoft.icon", "noext": "application/octet-stream", "/dir.d/file": "application/octet-stream",
		"x.verylongext": "application/octet-stream",
	} {
		if got := MIMEType(in); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}

func TestMatchETag(t *testing.T) {
	e := `"abc"`
	for in, want := range map[string]bool{
		`"abc"`: true, `W/"abc"`: true, `"x", "abc"`: true, `*`: true, `"abd"`: false, `abc`: false, ``: false, `"x",W/"abc"`: true, `"ab`: false,
	} {
		if MatchETag([]byte(in), e) != want {
			t.Errorf("%q", in)
		}
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		in          string
		size        int64
		first, last int64
		res         RangeResult
	}{
		{"bytes=0-4", 10, 0, 4, RangeOK},
		{"bytes=2-", 10, 2, 9, RangeOK},
		{"bytes=-3", 10, 7, 9, RangeOK},
		{"bytes=-30", 10, 0, 9, RangeOK},
		{"bytes=5-100", 10, 5, 9, RangeOK},
		{"bytes=10-", 10, 0, 0, RangeUnsatisfiable},
		{"bytes=-0", 10, 0, 0, RangeUnsatisfiable},
		{"bytes=5-2", 10, 0, 0, RangeNone},
		{"bytes=0-1,3-4", 10, 0, 0, RangeNone},
		{"items=0-1", 10, 0, 0, RangeNone},
		{"bytes=x-1", 10, 0, 0, RangeNone},
		{"bytes=0-0", 0, 0, 0, RangeUnsatisfiable},
	}
	for _, c := range cases {
		f, l, r := ParseRange([]byte(c.in), c.size)
		if r != c.res || r == RangeOK && (f != c.first || l != c.last) {
			t.Errorf("%s/%d: %d-%d %v", c.in, c.size, f, l, r)
		}
	}
}

func TestParseLocation(t *testing.T) {
	cases := []struct{ loc, base, scheme, host, path string }{
		{"https://card.example/x?y#frag", "/a", "https", "card.example", "/x?y"},
		{"https://card.example", "/a", "https", "card.example", "/"},
		{"//other:8443/p", "/a", "", "other:8443", "/p"},
		{"/abs", "/a/b", "", "", "/abs"},
		{"rel", "/a/b", "", "", "/a/rel"},
		{"../up?q", "/a/b/c", "", "", "/a/up?q"},
		{"./x/../y", "/a/", "", "", "/a/y"},
		{"../../../z", "/a", "", "", "/z"},
	}
	for _, c := range cases {
		l, ok := ParseLocation([]byte(c.loc), c.base, make([]byte, 0, 64))
		if !ok || string(l.Scheme) != c.scheme || string(l.Host) != c.host || string(l.Path) != c.path {
			t.Errorf("%q: %q %q %q %v", c.loc, l.Scheme, l.Host, l.Path, ok)
		}
	}
	for _, bad := range []string{"", "https:/x", "http://", "a b"} {
		if _, ok := ParseLocation([]byte(bad), "/", nil); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if RedirectMethod(303, "POST") != "GET" || RedirectMethod(307, "POST") != "POST" || RedirectMethod(302, "POST") != "GET" || !IsRedirect(308) || IsRedirect(304) {
		t.Error("redirect helpers")
	}
}

func TestBasicAuthAndForm(t *testing.T) {
	buf := make([]byte, 64)
	u, p, ok := ParseBasicAuth([]byte("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), buf)
	if !ok || string(u) != "aladdin" || string(p) != "opensesame" {
		t.Fatal(u, p, ok)
	}
	for _, bad := range []string{"Bearer x", "Basic !!!", "Basic YWxhZGRpbg==", "Basic " + string(make([]byte, 200))} {
		if _, _, ok := ParseBasicAuth([]byte(bad), buf); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	form := []byte("pin=12%2034&x=&next=a+b&flag")
	for k, want := range map[string]string{"pin": "12 34", "x": "", "next": "a b", "flag": ""} {
		v, ok := FormValue(form, k, buf)
		if !ok || string(v) != want {
			t.Errorf("%s: %q %v", k, v, ok)
		}
	}
	if _, ok := FormValue(form, "none", buf); ok {
		t.Error("absent key found")
	}
	if _, ok := FormValue([]byte("a=%zz"), "a", buf); ok {
		t.Error("bad escape accepted")
	}
	if _, ok := FormValue([]byte("a=%4"), "a", buf); ok {
		t.Error("short escape accepted")
	}
	if a := testing.AllocsPerRun(50, func() { FormValue(form, "next", buf); ParseBasicAuth([]byte("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), buf) }); a != 0 {
		t.Errorf("allocs %v", a)
	}
}
