package apps

import (
	"netcard/applet"
	"sync/atomic"
	"testing"
	"time"

	"netcard/http"
)

// FuzzServe feeds arbitrary request bytes to the app behind an HTTP
// connection, over TLS and plain: it must answer or close, never panic.
func FuzzServe(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true)
	f.Add([]byte("PUT /admin/files/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH\r\nContent-Length: 1\r\n\r\nx"), true)
	f.Add([]byte("GET /vault/a HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTox\r\n\r\n"), true)
	f.Add([]byte("POST /vault/unblock HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\npuk=%zz&p"), true)
	f.Add([]byte("GET /x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), false)
	f.Add([]byte("PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), true)
	f.Add([]byte("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nabcde"), true)
	f.Add([]byte("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nabc"), true)
	app, s, _, _ := newTestApp(f)
	app.cfg.MaxUpload = 8
	var execs atomic.Int64
	f.Fuzz(func(t *testing.T, req []byte, tlsOn bool) {
		if s.PINTriesLeft() < 2 {
			s.VerifyPIN([]byte("0000"))
			s.UnblockPIN([]byte("31415926"), []byte("4711"))
		}
		// Each execution a minute later: past any PIN/PUK backoff, so
		// wrong and right PINs are compared, not only refused.
		now := testNow.Add(time.Duration(execs.Add(1)) * time.Minute)
		ci := ConnInfo{Conn: applet.Conn{TLS: tlsOn, Now: now}}
		var hw http.ResponseWriter
		hc := http.NewServerConn(http.ServerConfig{InBuf: 2048, OutBuf: 2048, Handler: func(r *http.Request, w *http.ResponseWriter) {
			app.Serve(&ci, r, w)
		}, Body: func(r *http.Request) (http.BodySink, int64) { return askBody(app.Serve, &ci, r, &hw) }})
		hc.Input(req, now)
		out := make([]byte, 512)
		for i := 0; i < 1000 && hc.Output(out, now) > 0; i++ {
		}
	})
}

// FuzzParseURL checks ParseURL is total and its result consistent.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://a/", "http://1.2.3.4:8080/x?y", "https://[::1]:443", "ftp://x", "https://u@h/", "https://h:0/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ParseURL(raw)
		if err != nil {
			return
		}
		if r.Host == "" || r.Port == 0 || len(r.Target) == 0 || r.Target[0] != '/' {
			t.Fatalf("%q: %+v", raw, r)
		}
		_ = r.HostPort()
	})
}

// FuzzClientResponse gives arbitrary server bytes to a plain ClientSession:
// it must finish with a result or an error, never panic or overrun.
func FuzzClientResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), true)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"), true)
	cs := NewClientSession(ClientConfig{Buf: make([]byte, 256)})
	f.Fuzz(func(t *testing.T, resp []byte, fin bool) {
		st := newMemStream(4096, 1024)
		req, _ := ParseURL("http://h/")
		if err := cs.Start(st, &req, nil, testNow); err != nil {
			t.Fatal(err)
		}
		cs.Service(testNow)
		for len(resp) > 0 && !cs.Done() {
			k := min(len(resp), 7)
			st.rx = append(st.rx, resp[:k]...)
			resp = resp[k:]
			cs.Service(testNow)
		}
		if fin {
			st.finRcvd = true
			cs.Service(testNow)
		}
		if cs.Done() {
			r := cs.Result()
			if (r.Err == "") == (r.Status == 0) {
				t.Fatalf("result %+v", r)
			}
		}
	})
}
