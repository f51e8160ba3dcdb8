package e2e

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	nethttp "net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/ipv4"
	"netcard/link"
	"netcard/netconn"
	"netcard/store"
)

// Issue 3, acceptance 1, through the net.Conn adapters: card ⇄ PPP (host
// role) ⇄ gVisor, with unmodified net/http on both sides.

func netconnPayload(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// blobHandler serves body on GET /blob and echoes a POST /echo body.
func blobHandler(body []byte) nethttp.Handler {
	mux := nethttp.NewServeMux()
	mux.HandleFunc("GET /blob", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	mux.HandleFunc("POST /echo", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			nethttp.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	return mux
}

// getAndPost GETs body from base/blob and POSTs it to base/echo, checking
// SHA-256 both ways.
func getAndPost(t testing.TB, cl *nethttp.Client, base string, body []byte) {
	t.Helper()
	want := sha256.Sum256(body)
	resp, err := cl.Get(base + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != int64(len(body)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("GET %s/blob: status %d, %d bytes, err %v, sha256 equal %v", base, resp.StatusCode, n, err, bytes.Equal(h.Sum(nil), want[:]))
	}
	resp, err = cl.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err = io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != int64(len(body)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("POST %s/echo: status %d, %d bytes, err %v", base, resp.StatusCode, n, err)
	}
}

// newNetconnRig is newRig for benchmarks: a card (card profile) on an
// unlimited in-memory line to gVisor, without the HTTPS client.
func newNetconnRig(tb testing.TB) *rig {
	tb.Helper()
	st, err := store.Create(filepath.Join(tb.TempDir(), "card.img"), 64<<10, crand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := card.Personalise(st, card.DefaultPersonalisation(), crand.Reader, time.Now()); err != nil {
		tb.Fatal(err)
	}
	c, err := card.New(card.Config{Profile: cardProfile(), Store: st, Rand: crand.Reader, Clock: time.Now})
	if err != nil {
		tb.Fatal(err)
	}
	ca, hb := link.Pipe(8192)
	r := card.NewRunner(c, ca, nil)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	ns, err := host.NewNetstack(hb, host.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ns.Close()
		cancel()
		ca.Close()
		<-done
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := ns.WaitUp(wctx); err != nil {
		tb.Fatalf("link did not come up: %v", err)
	}
	return &rig{card: c, runner: r, ns: ns, store: st, cardIP: ns.PeerIP()}
}

// cardDialer dials from the card's TCP stack, for http.Transport.
func (rg *rig) cardDialer() *netconn.Dialer {
	return &netconn.Dialer{Runner: rg.runner, Stack: rg.card.TCP(), Local: func() ipv4.Addr { return rg.card.Link().LocalIP() }}
}

// TestNetconnGvisorHTTPServer: an unmodified net/http server runs on the
// card's stack (port 8000, beside the card's own HTTPS and HTTP services);
// gVisor's net/http client GETs and POSTs 1 MiB each way.
func TestNetconnGvisorHTTPServer(t *testing.T) {
	rg := newRig(t, cardProfile(), 0)
	l, err := netconn.Listen(rg.runner, rg.card.TCP(), 8000, 2)
	if err != nil {
		t.Fatal(err)
	}
	body := netconnPayload(1<<20, 1)
	srv := &nethttp.Server{Handler: blobHandler(body), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	cl := &nethttp.Client{Timeout: 60 * time.Second, Transport: &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return rg.ns.Net().DialContext(ctx, network, addr)
		},
	}}
	defer cl.CloseIdleConnections()
	// The card's own HTTPS service keeps working alongside, during the
	// transfers.
	own := make(chan error, 1)
	go func() {
		for i := 0; i < 3; i++ {
			resp, err := rg.client.Get(rg.url("/"))
			if err != nil {
				own <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !bytes.Contains(b, []byte("netcard")) {
				own <- fmt.Errorf("card's own GET / = %d, %v", resp.StatusCode, err)
				return
			}
		}
		own <- nil
	}()
	getAndPost(t, cl, "http://"+rg.cardIP.String()+":8000", body)
	if err := <-own; err != nil {
		t.Fatal(err)
	}
}

// TestNetconnGvisorHTTPClient: the card dials (netconn.Dialer) a net/http
// server listening on gVisor; an unmodified net/http client on the card
// GETs and POSTs 1 MiB each way.
func TestNetconnGvisorHTTPClient(t *testing.T) {
	rg := newRig(t, cardProfile(), 0)
	ln, err := rg.ns.Net().ListenTCPAddrPort(netip.AddrPortFrom(rg.ns.LocalIP(), 8080))
	if err != nil {
		t.Fatal(err)
	}
	body := netconnPayload(1<<20, 2)
	srv := &nethttp.Server{Handler: blobHandler(body), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cl := &nethttp.Client{Timeout: 60 * time.Second, Transport: &nethttp.Transport{DialContext: rg.cardDialer().DialContext}}
	defer cl.CloseIdleConnections()
	getAndPost(t, cl, "http://"+rg.ns.LocalIP().String()+":8080", body)
}

// TestNetconnGvisorPing: gVisor pings the card.
func TestNetconnGvisorPing(t *testing.T) {
	rg := newRig(t, cardProfile(), 0)
	retries := 0
	for seq := uint16(1); seq <= 3; seq++ {
		req := make([]byte, 8+24)
		req[0] = 8
		binary.BigEndian.PutUint16(req[6:], seq)
		copy(req[8:], "netconn ping from gVisor")
		// wireguard's PingConn.Read waits for a new-data notification, and
		// gVisor notifies only when the queue becomes non-empty: a reply
		// that arrives before Read is called is never returned, nor is any
		// later one. So start Read first, and if the reply was missed
		// anyway, retry on a fresh PingConn (an empty queue).
		var reply []byte
		for attempt := 0; reply == nil; attempt++ {
			if attempt == 10 {
				t.Fatalf("echo %d: no reply", seq)
			}
			pc, err := rg.ns.Net().DialPingAddr(netip.Addr{}, rg.cardIP)
			if err != nil {
				t.Fatal(err)
			}
			pc.SetReadDeadline(time.Now().Add(time.Second))
			got := make(chan []byte, 1)
			go func() {
				buf := make([]byte, 1500)
				n, err := pc.Read(buf)
				if err != nil {
					got <- nil
					return
				}
				got <- buf[:n]
			}()
			// A head start for Read, which cannot be observed to have
			// registered; correctness rests on the retries.
			time.Sleep(5 * time.Millisecond)
			if _, err := pc.Write(req); err != nil {
				t.Fatal(err)
			}
			reply = <-got
			pc.Close()
			if reply == nil {
				retries++
			}
		}
		if len(reply) < 8 || reply[0] != 0 || binary.BigEndian.Uint16(reply[6:]) != seq || !bytes.Equal(reply[8:], req[8:]) {
			t.Fatalf("echo %d: bad reply % x", seq, reply)
		}
	}
	var echoed uint64
	rg.runner.Do(func(time.Time) { echoed = rg.card.IP().Stats().ICMPEchoOut })
	if echoed < 3 {
		t.Fatalf("card sent %d echo replies", echoed)
	}
	t.Logf("3 echo replies, %d requests resent, card sent %d replies", retries, echoed)
}

// BenchmarkNetconnGvisor moves 1 MiB per op over a raw connection between
// gVisor and a netconn.Listener on the card (unlimited line, card profile).
func BenchmarkNetconnGvisor(b *testing.B) {
	rg := newNetconnRig(b)
	l, err := netconn.Listen(rg.runner, rg.card.TCP(), 8001, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			b.Error(err)
		}
		acc <- c
	}()
	gc, err := rg.ns.Net().DialContextTCPAddrPort(context.Background(), netip.AddrPortFrom(rg.cardIP, 8001))
	if err != nil {
		b.Fatal(err)
	}
	defer gc.Close()
	cc := <-acc
	if cc == nil {
		b.FailNow()
	}
	defer cc.Close()
	data := netconnPayload(1<<20, 3)
	run := func(b *testing.B, w, r net.Conn) {
		buf := make([]byte, 32<<10)
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		for range b.N {
			done := make(chan error, 1)
			go func() { _, err := w.Write(data); done <- err }()
			for got := 0; got < len(data); {
				n, err := r.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("card-to-gvisor", func(b *testing.B) { run(b, cc, gc) })
	b.Run("gvisor-to-card", func(b *testing.B) { run(b, gc, cc) })
}

// TestNetconnGvisorDuplex: gVisor dials a netconn.Listener on the card; the
// card's Conn reads and writes 1 MiB at the same time from two goroutines
// while gVisor does the same (run with -race).
func TestNetconnGvisorDuplex(t *testing.T) {
	rg := newRig(t, cardProfile(), 0)
	l, err := netconn.Listen(rg.runner, rg.card.TCP(), 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan *netconn.Conn, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gc, err := rg.ns.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(rg.cardIP, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	cc := <-acc
	if cc == nil {
		t.FailNow()
	}
	defer cc.Close()
	if got := cc.RemoteAddr().(*net.TCPAddr).AddrPort(); got != gc.LocalAddr().(*net.TCPAddr).AddrPort() {
		t.Fatalf("card sees peer %v, gVisor is %v", got, gc.LocalAddr())
	}
	fromCard, fromGvisor := netconnPayload(1<<20, 4), netconnPayload(1<<20, 5)
	type result struct {
		sum [32]byte
		err error
	}
	pump := func(w interface {
		net.Conn
		CloseWrite() error
	}, data []byte, out chan<- result) {
		go func() {
			_, err := w.Write(data)
			if err == nil {
				err = w.CloseWrite()
			}
			out <- result{err: err}
		}()
		go func() {
			h := sha256.New()
			_, err := io.Copy(h, w)
			var r result
			copy(r.sum[:], h.Sum(nil))
			r.err = err
			out <- r
		}()
	}
	cardRes, gvRes := make(chan result, 2), make(chan result, 2)
	cc.SetDeadline(time.Now().Add(30 * time.Second))
	pump(cc, fromCard, cardRes)
	pump(gc, fromGvisor, gvRes)
	var cardGot, gvGot [32]byte
	for i := 0; i < 2; i++ {
		r := <-cardRes
		if r.err != nil {
			t.Fatal("card:", r.err)
		}
		if r.sum != ([32]byte{}) {
			cardGot = r.sum
		}
		r = <-gvRes
		if r.err != nil {
			t.Fatal("gVisor:", r.err)
		}
		if r.sum != ([32]byte{}) {
			gvGot = r.sum
		}
	}
	if cardGot != sha256.Sum256(fromGvisor) || gvGot != sha256.Sum256(fromCard) {
		t.Fatal("SHA-256 differs")
	}
}

// TestNetconnGvisorTiny: the adapters on the tiny profile (one connection
// slot, 1 KiB receive and 512-byte send buffers, 256-byte MSS).
func TestNetconnGvisorTiny(t *testing.T) {
	rg := newRig(t, tinyProfile(), 0)
	l, err := netconn.Listen(rg.runner, rg.card.TCP(), 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	body := netconnPayload(256<<10, 6)
	srv := &nethttp.Server{Handler: blobHandler(body), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	cl := &nethttp.Client{Timeout: 60 * time.Second, Transport: &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return rg.ns.Net().DialContext(ctx, network, addr)
		},
	}}
	defer cl.CloseIdleConnections()
	getAndPost(t, cl, "http://"+rg.cardIP.String()+":8000", body)
}

// BenchmarkNetconnGvisorHTTP: gVisor's net/http client GETs 1 MiB from an
// unmodified net/http server on the card (netconn.Listener), and the card's
// net/http client (netconn.Dialer) GETs 1 MiB from a server on gVisor.
func BenchmarkNetconnGvisorHTTP(b *testing.B) {
	rg := newNetconnRig(b)
	body := netconnPayload(1<<20, 7)
	l, err := netconn.Listen(rg.runner, rg.card.TCP(), 8000, 2)
	if err != nil {
		b.Fatal(err)
	}
	srv := &nethttp.Server{Handler: blobHandler(body)}
	go srv.Serve(l)
	defer srv.Close()
	ln, err := rg.ns.Net().ListenTCPAddrPort(netip.AddrPortFrom(rg.ns.LocalIP(), 8080))
	if err != nil {
		b.Fatal(err)
	}
	gsrv := &nethttp.Server{Handler: blobHandler(body)}
	go gsrv.Serve(ln)
	defer gsrv.Close()
	get := func(b *testing.B, cl *nethttp.Client, url string) {
		defer cl.CloseIdleConnections()
		b.SetBytes(int64(len(body)))
		for range b.N {
			resp, err := cl.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n != int64(len(body)) {
				b.Fatalf("%d bytes, %v", n, err)
			}
		}
	}
	b.Run("gvisor-gets-from-card", func(b *testing.B) {
		get(b, &nethttp.Client{Transport: &nethttp.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return rg.ns.Net().DialContext(ctx, network, addr)
			},
		}}, "http://"+rg.cardIP.String()+":8000/blob")
	})
	b.Run("card-gets-from-gvisor", func(b *testing.B) {
		get(b, &nethttp.Client{Transport: &nethttp.Transport{DialContext: rg.cardDialer().DialContext}},
			"http://"+rg.ns.LocalIP().String()+":8080/blob")
	})
}

// TestNetconnGvisorSerial: the adapters on a 115200-baud line, where the
// runner holds the card for the wire time of every frame it writes: a
// net/http GET and POST of 16 KiB each way, and a read deadline that fires
// on time while the line is busy.
func TestNetconnGvisorSerial(t *testing.T) {
	rg := newRig(t, cardProfile(), 115200)
	l, err := netconn.Listen(rg.runner, rg.card.TCP(), 8000, 2)
	if err != nil {
		t.Fatal(err)
	}
	body := netconnPayload(16<<10, 8)
	srv := &nethttp.Server{Handler: blobHandler(body), ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	cl := &nethttp.Client{Timeout: 60 * time.Second, Transport: &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return rg.ns.Net().DialContext(ctx, network, addr)
		},
	}}
	defer cl.CloseIdleConnections()

	// A second connection that nobody writes to: its read deadline fires
	// while the GET keeps the line busy.
	l2, err := netconn.Listen(rg.runner, rg.card.TCP(), 8001, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	idle := make(chan error, 1)
	go func() {
		c, err := l2.Accept()
		if err != nil {
			idle <- err
			return
		}
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(start.Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		if el := time.Since(start); !errors.Is(err, os.ErrDeadlineExceeded) || el > 10*time.Second {
			idle <- fmt.Errorf("idle Read = %v after %v", err, el)
			return
		}
		idle <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gc, err := rg.ns.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(rg.cardIP, 8001))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	start := time.Now()
	getAndPost(t, cl, "http://"+rg.cardIP.String()+":8000", body)
	if err := <-idle; err != nil {
		t.Fatal(err)
	}
	t.Logf("16 KiB GET + 16 KiB POST echo at 115200 baud: %v", time.Since(start))
}
