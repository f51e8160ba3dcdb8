// Package applettest serves an applet.Host on a loopback TCP port, for
// testing applications with real clients (Go's net/http, curl): each
// connection runs netcard's http.ServerConn in front of the host, as on
// the card, minus TLS (Conn.TLS is reported true: the card's TLS is tested
// elsewhere). One lock stands for the card's single thread.
package applettest

import (
	"net"
	"sync"
	"testing"
	"time"

	"netcard/applet"
	"netcard/http"
)

// Server is a running harness.
type Server struct {
	URL  string // "http://127.0.0.1:PORT"
	Mu   sync.Mutex
	host *applet.Host
	now  func() time.Time
}

// Serve serves h until the test ends; now is the card's clock.
func Serve(t testing.TB, h *applet.Host, now func() time.Time) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), host: h, now: now}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); s.conn(c) }()
		}
	}()
	return s
}

// Do runs f under the harness lock (the card's thread).
func (s *Server) Do(f func()) { s.Mu.Lock(); defer s.Mu.Unlock(); f() }

func (s *Server) conn(nc net.Conn) {
	defer nc.Close()
	var ac applet.Conn
	var hc *http.ServerConn
	hc = http.NewServerConn(http.ServerConfig{
		Handler: func(r *http.Request, w *http.ResponseWriter) {
			ac.TLS, ac.Now, ac.Head = true, s.now(), false
			if !s.host.Serve(&ac, r, w) {
				applet.Text(w, 404, "not found\n")
			}
		},
		Body: func(r *http.Request) (http.BodySink, int64) {
			ac.TLS, ac.Now, ac.Head = true, s.now(), true
			*hc.HeadWriter() = http.ResponseWriter{}
			s.host.Serve(&ac, r, hc.HeadWriter())
			ac.Head = false
			sink, max := ac.Sink, ac.Max
			ac.Sink = nil
			return sink, max
		},
	})
	buf := make([]byte, 4096)
	out := make([]byte, 8192)
	for {
		_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := nc.Read(buf)
		in := buf[:n]
		for {
			s.Mu.Lock()
			k := hc.Input(in, s.now())
			in = in[k:]
			var o []byte
			for {
				m := hc.Output(out[len(o):], s.now())
				if m == 0 {
					break
				}
				o = out[:len(o)+m]
				if len(o) == len(out) {
					break
				}
			}
			closed := hc.Closed()
			s.Mu.Unlock()
			if len(o) > 0 {
				if _, err := nc.Write(o); err != nil {
					return
				}
			}
			if closed {
				return
			}
			if len(in) == 0 && len(o) == 0 {
				break
			}
		}
		if err != nil {
			return
		}
	}
}
