package host

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netcard/link"
	"netcard/ppp"
)

// noisyPort writes a burst of junk (random bytes closed by an HDLC flag, so
// that the receiver's PPP sees one bad frame and drops it: RFC 1662 §4.3)
// before every few writes: line noise in both directions while the line is
// full.
type noisyPort struct {
	link.Port
	mu  sync.Mutex
	rng *rand.Rand
	buf []byte
	n   atomic.Int64 // junk bytes written
}

func (p *noisyPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.rng.IntN(4) == 0 {
		k := 1 + p.rng.IntN(len(p.buf)-1)
		for i := range p.buf[:k] {
			p.buf[i] = byte(p.rng.Uint32())
		}
		p.buf[k-1] = 0x7e
		p.mu.Unlock()
		if _, err := p.Port.Write(p.buf[:k]); err != nil {
			return 0, err
		}
		p.n.Add(int64(k))
	} else {
		p.mu.Unlock()
	}
	return p.Port.Write(b)
}

// TestDriverLineSaturated is issue 13 item 8 (b) for host.Driver: two
// Drivers (our PPP in both roles, each bridged to a gVisor netstack) on a
// paced in-memory line of the demo's buffer size, at 9600 and 115200 baud
// and at unlimited speed. TCP streams fill both directions at once while
// junk frames are written onto the line both ways; afterwards a clean
// request/answer on a new connection succeeds and both Drivers close
// within a bound. Window: 4 s per rate; NETCARD_LONG=1: 3 min per rate.
func TestDriverLineSaturated(t *testing.T) {
	for _, baud := range []int{9600, 115200, 0} {
		t.Run(fmt.Sprint(baud), func(t *testing.T) {
			window := 4 * time.Second
			if os.Getenv("NETCARD_LONG") != "" {
				window = 3 * time.Minute
			}
			a, b := link.Pipe(link.DefaultPipeBuf)
			var pa, pb link.Port = a, b
			if baud > 0 {
				pa, pb = link.Pace(a, baud), link.Pace(b, baud)
			}
			na := &noisyPort{Port: pa, rng: rand.New(rand.NewPCG(1, uint64(baud))), buf: make([]byte, 64)}
			nb := &noisyPort{Port: pb, rng: rand.New(rand.NewPCG(2, uint64(baud))), buf: make([]byte, 64)}
			h, err := NewNetstack(na, Config{QueueBytes: LineQueueBytes(baud, 1500)})
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewNetstack(nb, Config{Card: true, QueueBytes: LineQueueBytes(baud, 1500),
				PPP: ppp.Config{LocalIP: DefaultPeerIP}})
			if err != nil {
				h.Close()
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					go h.Close()
					go c.Close()
				}
			})
			ctx := ctxFor(t, 60*time.Second)
			if err := h.WaitUp(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitUp(ctx); err != nil {
				t.Fatal(err)
			}

			// Port 80: each side sends as fast as it can and discards what
			// it gets. Port 81: one line in, the same line back.
			bulk, err := c.Net().ListenTCPAddrPort(netip.AddrPortFrom(c.LocalIP(), 80))
			if err != nil {
				t.Fatal(err)
			}
			defer bulk.Close()
			echo, err := c.Net().ListenTCPAddrPort(netip.AddrPortFrom(c.LocalIP(), 81))
			if err != nil {
				t.Fatal(err)
			}
			defer echo.Close()
			go func() {
				for {
					conn, err := echo.Accept()
					if err != nil {
						return
					}
					go func() {
						defer conn.Close()
						conn.SetDeadline(time.Now().Add(60 * time.Second))
						line, err := bufio.NewReader(conn).ReadString('\n')
						if err == nil {
							io.WriteString(conn, line)
						}
					}()
				}
			}()
			wctx, cancel := context.WithTimeout(context.Background(), window)
			defer cancel()
			var down, up atomic.Int64
			var wg sync.WaitGroup
			both := func(conn net.Conn, sent, got *atomic.Int64) {
				// Writes and reads at once until the window ends; the
				// window's end closes the connection to end them.
				stop := context.AfterFunc(wctx, func() { conn.Close() })
				defer stop()
				defer conn.Close()
				done := make(chan struct{})
				go func() {
					defer close(done)
					buf := make([]byte, 4096)
					for {
						n, err := conn.Read(buf)
						got.Add(int64(n))
						if err != nil {
							return
						}
					}
				}()
				buf := make([]byte, 4096)
				for {
					n, err := conn.Write(buf)
					sent.Add(int64(n))
					if err != nil {
						break
					}
				}
				<-done
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				conn, err := bulk.Accept()
				if err != nil {
					return
				}
				var discard atomic.Int64
				both(conn, &discard, &discard)
			}()
			go func() {
				defer wg.Done()
				conn, err := h.Net().DialContextTCPAddrPort(wctx, netip.AddrPortFrom(c.LocalIP(), 80))
				if err != nil {
					t.Errorf("bulk dial: %v", err)
					bulk.Close() // ends the Accept
					return
				}
				both(conn, &up, &down)
			}()
			s0, _ := h.Stats()
			start := time.Now()
			ended := make(chan struct{})
			go func() { wg.Wait(); close(ended) }()
			select {
			case <-ended:
			case <-time.After(window + 60*time.Second):
				t.Fatal("the bulk streams did not end within 60 s of their window")
			}
			el := time.Since(start)
			var s1 ppp.Stats
			var drops uint64
			within(t, 10*time.Second, "the host Driver's lock", func() { s1, drops = h.Stats() })
			in, out := s1.BytesIn-s0.BytesIn, s1.BytesOut-s0.BytesOut
			use := "unlimited"
			if baud > 0 {
				capa := link.BytesPerSecond(baud) * el.Seconds()
				use = fmt.Sprintf("line use in %.0f%% out %.0f%%", 100*float64(in)/capa, 100*float64(out)/capa)
			}
			t.Logf("%d baud, %v: TCP received down %d B, up (written) %d B; host line in %d B, out %d B (%s); junk %d+%d B, bad FCS %d, queue drops %d",
				baud, el.Round(time.Millisecond), down.Load(), up.Load(), in, out, use, na.n.Load(), nb.n.Load(), s1.BadFCS, drops)
			if in == 0 || out == 0 {
				t.Errorf("the line did not carry traffic both ways: in %d, out %d", in, out)
			}

			// A clean request and answer on a new connection.
			start = time.Now()
			rctx := ctxFor(t, 60*time.Second)
			conn, err := h.Net().DialContextTCPAddrPort(rctx, netip.AddrPortFrom(c.LocalIP(), 81))
			if err != nil {
				t.Fatalf("clean request after the load: %v", err)
			}
			conn.SetDeadline(time.Now().Add(60 * time.Second))
			io.WriteString(conn, "still there?\n")
			line, err := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if err != nil || line != "still there?\n" {
				t.Fatalf("clean request after the load: %q %v", line, err)
			}

			t.Logf("clean request answered in %v", time.Since(start).Round(time.Millisecond))

			// Both Drivers close within a bound.
			start = time.Now()
			closed = true
			end := make(chan struct{})
			go func() {
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { h.Close(); wg.Done() }()
				go func() { c.Close(); wg.Done() }()
				wg.Wait()
				close(end)
			}()
			select {
			case <-end:
				t.Logf("closed in %v", time.Since(start).Round(time.Millisecond))
			case <-time.After(15 * time.Second):
				t.Fatal("the Drivers did not close within 15 s")
			}
		})
	}
}

// within runs f and fails the test if it does not return within d (a
// wedged Driver holds its lock for ever).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: not returned within %v", what, d)
	}
}
