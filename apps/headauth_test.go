package apps

import (
	"bytes"
	"netcard/applet"
	"strings"
	"testing"
	"time"

	"netcard/http"
)

// headConn is an HTTP connection to app with the sessions' head call
// (askBody), as ServerSession wires it.
func headConn(app *App, ci *ConnInfo) *http.ServerConn {
	var hc *http.ServerConn
	hc = http.NewServerConn(http.ServerConfig{Handler: func(r *http.Request, w *http.ResponseWriter) {
		app.Serve(ci, r, w)
	}, Body: func(r *http.Request) (http.BodySink, int64) { return askBody(app.Serve, ci, r, hc.HeadWriter()) }})
	return hc
}

func drain(hc *http.ServerConn, now time.Time) string {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n := hc.Output(buf, now)
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

// TestAuthFromHead: a vault or admin request with a body and without the
// right credential is answered from its head — before any body byte
// arrives, a client awaiting 100 Continue gets the final status instead,
// the connection closes, and nothing is stored; with the right
// credential the body is asked for (100 Continue) and the request served.
func TestAuthFromHead(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	now := testNow
	for _, tc := range []struct {
		name, head string
		want       string
	}{
		{"vault no PIN", "PUT /vault/x HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 401 "},
		{"vault wrong PIN", "PUT /vault/x HTTP/1.1\r\nHost: c\r\n" + basic("9999") + "\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 401 "},
		{"vault PIN backoff", "PUT /vault/x HTTP/1.1\r\nHost: c\r\n" + basic("4711") + "\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 429 "},
		{"vault chunked", "PUT /vault/x HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 401 "},
		{"admin no token", "PUT /admin/files/a HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 401 "},
		{"admin wrong token", "PUT /admin/config/k HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer guess\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 403 "},
		{"unblock not blocked", "POST /vault/unblock HTTP/1.1\r\nHost: c\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 409 "},
		{"puk change no PIN", "POST /vault/puk HTTP/1.1\r\nHost: c\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 401 "},
	} {
		seq := s.Seq()
		ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: now}}
		hc := headConn(app, ci)
		hc.Reset()
		if n := hc.Input([]byte(tc.head), now); n != len(tc.head) {
			t.Fatalf("%s: head accepted %d of %d", tc.name, n, len(tc.head))
		}
		out := drain(hc, now)
		if !strings.HasPrefix(out, tc.want) || strings.Contains(out, "100 Continue") || !strings.Contains(out, "Connection: close") {
			t.Fatalf("%s: answered %q before the body, want %q and close", tc.name, out, tc.want)
		}
		if tc.name == "vault PIN backoff" && !strings.Contains(out, "Retry-After: 2\r\n") {
			t.Fatalf("%s: %q", tc.name, out)
		}
		// The body that follows is dropped, never stored.
		hc.Input(bytes.Repeat([]byte("x"), 4096), now)
		if s.Seq() != seq {
			t.Fatalf("%s: the store changed", tc.name)
		}
	}
	if s.PINTriesLeft() != 2 {
		t.Fatalf("one wrong PIN, %d tries left", s.PINTriesLeft())
	}
	// The right PIN, after the backoff: 100 Continue, then served.
	now = now.Add(time.Minute)
	ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: now}}
	hc := headConn(app, ci)
	hc.Reset()
	hc.Input([]byte("PUT /vault/x HTTP/1.1\r\nHost: c\r\n"+basic("4711")+"\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"), now)
	if out := drain(hc, now); out != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("right PIN: %q", out)
	}
	hc.Input([]byte("hello"), now)
	if out := drain(hc, now); !strings.HasPrefix(out, "HTTP/1.1 201 ") {
		t.Fatalf("right PIN, body sent: %q", out)
	}
	if f, ok := s.File("vault/x"); !ok || string(f.Data) != "hello" || s.PINTriesLeft() != 3 {
		t.Fatal("record not stored")
	}
	// The right admin token: served, and a request without a body on the
	// same connection is checked afresh (the head's verdict is not reused).
	hc.Input([]byte("PUT /admin/config/k HTTP/1.1\r\nHost: c\r\n"+adminAuthz+"Content-Length: 2\r\n\r\nv1"), now)
	if out := drain(hc, now); !strings.HasPrefix(out, "HTTP/1.1 200 ") {
		t.Fatalf("right token: %q", out)
	}
	hc.Input([]byte("DELETE /admin/config/k HTTP/1.1\r\nHost: c\r\n\r\n"), now)
	if out := drain(hc, now); !strings.HasPrefix(out, "HTTP/1.1 401 ") {
		t.Fatalf("no token after an authorised request: %q", out)
	}
}

// TestUnblockRoutes: unblocking needs a blocked PIN; a wrong PUK starts
// the backoff (429 with Retry-After, decided from the head); the right
// PUK after it unblocks; POST /vault/puk changes the PUK (PIN and old PUK).
func TestUnblockRoutes(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	h := newRouteHarness(app, true)
	form := "Content-Type: application/x-www-form-urlencoded"
	if r := h.do(t, "POST", "/vault/unblock", []string{form}, []byte("puk=31415926&pin=2580")); r.StatusCode != 409 || s.PUKFailures() != 0 {
		t.Fatalf("unblock while not blocked: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "POST", "/vault/puk", []string{basic("4711"), form}, []byte("puk=00000000&newpuk=27182818")); r.StatusCode != 403 || s.PUKFailures() != 1 {
		t.Fatalf("PUK change with a wrong PUK: %d %q", r.StatusCode, r.body)
	}
	h.ci.Now = h.ci.Now.Add(time.Minute)
	if r := h.do(t, "POST", "/vault/puk", []string{basic("4711"), form}, []byte("puk=31415926&newpuk=27182818")); r.StatusCode != 200 || s.PUKFailures() != 0 {
		t.Fatalf("PUK change: %d %q", r.StatusCode, r.body)
	}
	for i := 0; i < 3; i++ {
		h.ci.Now = h.ci.Now.Add(time.Minute)
		h.do(t, "GET", "/vault/", []string{basic("0000")}, nil)
	}
	hc := headConn(app, &h.ci)
	hc.Reset()
	hc.Input([]byte("POST /vault/unblock HTTP/1.1\r\nHost: c\r\n"+form+"\r\nContent-Length: 21\r\n\r\npuk=31415926&pin=2580"), h.ci.Now)
	if out := drain(hc, h.ci.Now); !strings.HasPrefix(out, "HTTP/1.1 403 ") || !strings.Contains(out, "next PUK try in 1m0s") {
		t.Fatalf("old PUK: %q", out)
	}
	hc.Reset()
	h.ci.Now = h.ci.Now.Add(30 * time.Second)
	hc.Input([]byte("POST /vault/unblock HTTP/1.1\r\nHost: c\r\nContent-Length: 21\r\n\r\n"), h.ci.Now)
	if out := drain(hc, h.ci.Now); !strings.HasPrefix(out, "HTTP/1.1 429 ") || !strings.Contains(out, "Retry-After: 30\r\n") {
		t.Fatalf("during the PUK backoff: %q", out)
	}
	h.ci.Now = h.ci.Now.Add(30 * time.Second)
	if r := h.do(t, "POST", "/vault/unblock", []string{form}, []byte("puk=27182818&pin=2580")); r.StatusCode != 200 {
		t.Fatalf("new PUK: %d %q", r.StatusCode, r.body)
	}
}
