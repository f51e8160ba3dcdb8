package http

import (
	"strings"
	"testing"
)

// TestRefuseBody: a head the Body hook refuses (RefuseBody) is answered at
// once by the Handler with r.BodyErr = ErrBodyRefused: no 100 Continue, the
// body already received and everything after it dropped unread, and the
// connection closes after the answer (RFC 9110 §10.1.1, RFC 9112 §9.6).
// Buffered and InPlace alike; a head the hook accepts still gets 100.
func TestRefuseBody(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		var seen []string
		cfg := ServerConfig{InBuf: 1024, OutBuf: 1024, InPlace: inPlace,
			Handler: func(r *Request, w *ResponseWriter) {
				seen = append(seen, string(r.Path))
				if r.BodyErr == ErrBodyRefused && len(r.Body) == 0 {
					w.Header.Status = 401
					w.WriteString("no\n")
					return
				}
				w.WriteString("ok " + string(r.Body))
			},
			Body: func(r *Request) (BodySink, int64) {
				if string(r.Path) == "/refuse" {
					return RefuseBody, 0
				}
				return nil, 0
			}}
		c := NewServerConn(cfg)
		c.Reset()
		in := "PUT /refuse HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\nxxxxx"
		if n := c.Input([]byte(in), t0); n != len(in) {
			t.Fatalf("input %d of %d", n, len(in))
		}
		out := drainInPlace(c, 2048, t0)
		if !strings.HasPrefix(out, "HTTP/1.1 401 ") || strings.Contains(out, "100 Continue") ||
			!strings.Contains(out, "Connection: close\r\n") || !strings.HasSuffix(out, "\r\n\r\nno\n") {
			t.Fatalf("InPlace %v: %q", inPlace, out)
		}
		// The rest of the body, and a request after it, are dropped.
		c.Input([]byte(strings.Repeat("x", 500)+"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"), t0)
		if out := drainInPlace(c, 2048, t0); out != "" || len(seen) != 1 || !c.Closed() {
			t.Fatalf("InPlace %v: after the refusal: %q, handler saw %v, closed %v", inPlace, out, seen, c.Closed())
		}
		// Accepted: 100 Continue, then the answer.
		c.Reset()
		c.Input([]byte("PUT /take HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"), t0)
		if out := drainInPlace(c, 2048, t0); out != "HTTP/1.1 100 Continue\r\n\r\n" {
			t.Fatalf("InPlace %v: accepted head: %q", inPlace, out)
		}
		c.Input([]byte("hi"), t0)
		if out := drainInPlace(c, 2048, t0); !strings.HasPrefix(out, "HTTP/1.1 200 ") || !strings.HasSuffix(out, "ok hi") {
			t.Fatalf("InPlace %v: accepted: %q", inPlace, out)
		}
	}
}
