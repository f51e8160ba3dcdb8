package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	nethttp "net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/link"
	"netcard/ppp"
	"netcard/store"
)

// longRun reports whether the long soaks were asked for (NETCARD_LONG=1).
func longRun() bool { return os.Getenv("NETCARD_LONG") != "" }

// demoLine is the embedded demo's wiring, in process: the card on a
// card.Runner, a paced in-memory line of the demo's buffer size, and the
// host side (host.Netstack, on a host.Driver) with the demo's queue bound.
type demoLine struct {
	c      *card.Card
	r      *card.Runner
	ns     *host.Netstack
	cardIP netip.Addr
	roots  *x509.CertPool
	cardE  link.Port
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func newDemoLine(t *testing.T, baud int, files map[string][]byte) *demoLine {
	t.Helper()
	st, err := store.Create(filepath.Join(t.TempDir(), "card.img"), 256<<10, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := card.Personalise(st, card.DefaultPersonalisation(), rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	for p, b := range files {
		if err := st.PutFile(p, "application/octet-stream", b); err != nil {
			t.Fatal(err)
		}
	}
	c, err := card.New(card.Config{Profile: card.CardProfile, Store: st, Rand: rand.Reader, Clock: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, b := link.Pipe(link.DefaultPipeBuf)
	var ca, hb link.Port = a, b
	if baud > 0 {
		ca, hb = link.Pace(a, baud), link.Pace(b, baud)
	}
	d := &demoLine{c: c, cardE: ca, done: make(chan error, 1)}
	d.r = card.NewRunner(c, ca, nil)
	d.r.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- d.r.Run(ctx) }()
	d.ns, err = host.NewNetstack(hb, host.Config{QueueBytes: host.LineQueueBytes(baud, 1500)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.shutdown(10 * time.Second) })
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := d.ns.WaitUp(wctx); err != nil {
		t.Fatalf("link did not come up: %v", err)
	}
	if err := d.r.WaitFor(wctx, func(time.Time) bool { return c.Up() }); err != nil {
		t.Fatalf("the card's link did not come up: %v", err)
	}
	d.cardIP = d.ns.PeerIP()
	d.roots = x509.NewCertPool()
	leaf, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	d.roots.AddCert(leaf)
	return d
}

// client returns an HTTPS client over the netstack with its own
// connections.
func (d *demoLine) client(timeout time.Duration) *nethttp.Client {
	return &nethttp.Client{
		Timeout: timeout,
		Transport: &nethttp.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.ns.Net().DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &stdtls.Config{RootCAs: d.roots, ServerName: "netcard.local"},
			DisableKeepAlives: true,
		},
	}
}

func (d *demoLine) url(path string) string { return "https://" + d.cardIP.String() + path }

// shutdown does what the demo does on SIGTERM and reports whether it ended
// within bound: the host side closes (LCP Terminate, then the port), the
// card's runner is cancelled and its end of the line closed.
func (d *demoLine) shutdown(bound time.Duration) error {
	var err error
	d.once.Do(func() {
		end := make(chan error, 1)
		go func() {
			d.ns.Close()
			d.cancel()
			d.cardE.Close()
			end <- <-d.done
		}()
		t := time.NewTimer(bound)
		defer t.Stop()
		select {
		case <-end:
		case <-t.C:
			err = fmt.Errorf("shutdown did not finish within %v", bound)
		}
	})
	return err
}

// endless is an upload body: pseudo-random bytes until ctx ends.
type endless struct {
	ctx  context.Context
	rng  *mrand.ChaCha8
	sent *atomic.Int64
}

func (e endless) Read(p []byte) (int, error) {
	if e.ctx.Err() != nil {
		return 0, e.ctx.Err()
	}
	e.rng.Read(p)
	e.sent.Add(int64(len(p)))
	return len(p), nil
}

// saturate runs, for window, a bulk download (GET of a large file, again
// and again), a bulk upload (PUT /upload, 4 MB announced) and a stream of
// junk connections (random bytes, every other one behind a TLS handshake
// record header, then closed) at once, so that both directions of the line
// are full. It returns the bytes the clients moved each way.
func saturate(t *testing.T, d *demoLine, window time.Duration, seed uint64) (down, up, junk int64) {
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var wg sync.WaitGroup
	var downN, upN, junkN atomic.Int64
	wg.Add(3)
	go func() { // download
		defer wg.Done()
		cl := d.client(0)
		for ctx.Err() == nil {
			req, _ := nethttp.NewRequestWithContext(ctx, "GET", d.url("/big.bin"), nil)
			resp, err := cl.Do(req)
			if err != nil {
				continue
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			downN.Add(n)
			resp.Body.Close()
		}
	}()
	go func() { // upload
		defer wg.Done()
		cl := d.client(0)
		var seedb [32]byte
		binary.LittleEndian.PutUint64(seedb[:], seed)
		rng := mrand.NewChaCha8(seedb)
		for ctx.Err() == nil {
			body := io.LimitReader(endless{ctx, rng, &upN}, 4<<20)
			req, _ := nethttp.NewRequestWithContext(ctx, "PUT", d.url("/upload"), body)
			req.ContentLength = 4 << 20
			resp, err := cl.Do(req)
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	go func() { // junk
		defer wg.Done()
		rng := mrand.New(mrand.NewPCG(seed, 13))
		buf := make([]byte, 2048)
		for i := 0; ctx.Err() == nil; i++ {
			n := 6 + rng.IntN(len(buf)-6)
			for j := range buf[:n] {
				buf[j] = byte(rng.Uint32())
			}
			if i%2 == 0 {
				buf[0], buf[1], buf[2] = 0x16, 0x03, 0x01
				binary.BigEndian.PutUint16(buf[3:5], uint16(n-5))
			}
			c, err := d.ns.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(d.cardIP, 443))
			if err != nil {
				continue
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if k, _ := c.Write(buf[:n]); k > 0 {
				junkN.Add(int64(k))
			}
			c.Close()
		}
	}()
	// The three end with ctx (each of their waits is bounded by it); the
	// bound here only turns a hang into a failure.
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(window + 60*time.Second):
		t.Fatalf("the load did not end within 60 s of its window")
	}
	return downN.Load(), upN.Load(), junkN.Load()
}

// TestDemoLineSaturated is issue 13 item 8 (b) in the demo's wiring: at
// 9600 and 115200 baud and at unlimited speed, both directions of the line
// are saturated (bulk download and bulk upload at once) while junk
// connections come and go; afterwards a clean request is served and
// shutdown ends within a bound. Before the fix the two Runners wedged
// (each writing with its lock held toward a reader waiting for that lock):
// the clean request was never served and shutdown never ended. Window: 5 s
// per rate; NETCARD_LONG=1: 3 min per rate.
func TestDemoLineSaturated(t *testing.T) {
	big := bytes.Repeat([]byte("netcard saturation "), 64<<10/19)
	for _, baud := range []int{9600, 115200, 0} {
		t.Run(fmt.Sprint(baud), func(t *testing.T) {
			window := 5 * time.Second
			if longRun() {
				window = 3 * time.Minute
			}
			d := newDemoLine(t, baud, map[string][]byte{"big.bin": big})
			var s0 ppp.Stats
			d.r.Do(func(time.Time) { s0 = d.c.Link().Stats() })
			start := time.Now()
			down, up, junk := saturate(t, d, window, uint64(baud))
			el := time.Since(start)
			var s1 ppp.Stats
			d.r.Do(func(time.Time) { s1 = d.c.Link().Stats() })
			in, out := s1.BytesIn-s0.BytesIn, s1.BytesOut-s0.BytesOut
			capacity := "unlimited"
			if baud > 0 {
				c := link.BytesPerSecond(baud) * el.Seconds()
				capacity = fmt.Sprintf("line use in %.0f%% out %.0f%%", 100*float64(in)/c, 100*float64(out)/c)
			}
			t.Logf("%d baud, %v: downloaded %d B, upload bytes taken by net/http %d B, junk %d B; the card's line: in %d B, out %d B (%s)",
				baud, el.Round(time.Millisecond), down, up, junk, in, out, capacity)
			if in == 0 || out == 0 {
				t.Errorf("the line did not carry traffic both ways: in %d, out %d", in, out)
			}

			// A clean request, served within a bound after the load (the
			// card may still be ending the aborted transfers).
			cl := d.client(30 * time.Second)
			start = time.Now()
			deadline := start.Add(90 * time.Second)
			for {
				resp, err := cl.Get(d.url("/status"))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						t.Logf("clean request served in %v", time.Since(start).Round(time.Millisecond))
						break
					}
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				if time.Now().After(deadline) {
					t.Errorf("no clean request served within 90 s of the load: %v", err)
					break
				}
			}
			start = time.Now()
			if err := d.shutdown(10 * time.Second); err != nil {
				t.Error(err)
			} else {
				t.Logf("shut down in %v", time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
