package tcp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"netcard/ipv4"
)

// Interop with gVisor's netstack: raw IPv4 packets between a netcard TCP
// Stack (driven by an event loop in the test goroutine, real clock) and
// gVisor behind wireguard's netstack TUN device.

var (
	gvAddr   = ipv4.Addr{10, 9, 0, 1}
	cardAddr = ipv4.Addr{10, 9, 0, 2}
)

func ipChecksum(b []byte) uint16 { return ipv4.Checksum(b, 0) }

// cardLoop owns the Stack: it feeds packets from gVisor, writes segments
// back with a minimal IPv4 header and runs the app callback.
type cardLoop struct {
	t    *testing.T
	st   *Stack
	dev  tun.Device
	pkts chan []byte
	out  [1500]byte
	id   uint16
	loss float64 // fraction of packets dropped each way
	rng  *rand.Rand
	lost int
	// shed calls Stack.Shed before every Input and after every Output;
	// shedBytes adds up what it released.
	shed      bool
	shedBytes int
}

// maybeShed sheds the stack's empty buffers in shed mode.
func (l *cardLoop) maybeShed() {
	if l.shed {
		l.shedBytes += l.st.Shed()
	}
}

func newCardLoop(t *testing.T, mtu int) (*cardLoop, *netstack.Net) {
	return newCardLoopCfg(t, mtu, 16384, 0)
}

func newCardLoopCfg(t *testing.T, mtu, bufSize int, loss float64) (*cardLoop, *netstack.Net) {
	dev, tnet, err := netstack.CreateNetTUN([]netip.Addr{netip.AddrFrom4(gvAddr)}, nil, mtu)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{MaxConns: 4, RecvBuf: bufSize, SendBuf: bufSize, MSS: mtu - 40,
		Rand: newRand(7), MinRTO: 200 * time.Millisecond, TimeWait: time.Second}
	l := &cardLoop{t: t, st: NewStack(cfg), dev: dev, pkts: make(chan []byte, 512),
		loss: loss, rng: rand.New(rand.NewSource(11))}
	go func() {
		for {
			bufs := [][]byte{make([]byte, 2048)}
			sizes := []int{0}
			n, err := dev.Read(bufs, sizes, 0)
			if err != nil {
				close(l.pkts)
				return
			}
			if n > 0 {
				l.pkts <- bufs[0][:sizes[0]]
			}
		}
	}()
	t.Cleanup(func() { dev.Close() })
	return l, tnet
}

func (l *cardLoop) input(p []byte, now time.Time) {
	if l.loss > 0 && l.rng.Float64() < l.loss {
		l.lost++
		return
	}
	if len(p) < 20 || p[0]>>4 != 4 {
		return
	}
	ihl := int(p[0]&15) * 4
	tot := int(binary.BigEndian.Uint16(p[2:]))
	if ihl < 20 || tot < ihl || tot > len(p) || p[9] != 6 {
		return
	}
	var src, dst ipv4.Addr
	copy(src[:], p[12:16])
	copy(dst[:], p[16:20])
	l.maybeShed()
	l.st.Input(src, dst, p[ihl:tot], now)
}

func (l *cardLoop) flush(now time.Time) {
	for {
		n, remote := l.st.Output(l.out[20:], cardAddr, now)
		l.maybeShed()
		if n == 0 {
			return
		}
		h := l.out[:20]
		h[0], h[1] = 0x45, 0
		binary.BigEndian.PutUint16(h[2:], uint16(20+n))
		l.id++
		binary.BigEndian.PutUint16(h[4:], l.id)
		binary.BigEndian.PutUint16(h[6:], 0x4000)
		h[8], h[9] = 64, 6
		h[10], h[11] = 0, 0
		copy(h[12:16], cardAddr[:])
		copy(h[16:20], remote[:])
		binary.BigEndian.PutUint16(h[10:], ipChecksum(h))
		if l.loss > 0 && l.rng.Float64() < l.loss {
			l.lost++
			continue
		}
		pkt := make([]byte, 20+n) // gVisor keeps the buffer
		copy(pkt, l.out[:20+n])
		if _, err := l.dev.Write([][]byte{pkt}, 0); err != nil {
			l.t.Errorf("tun write: %v", err)
		}
	}
}

// run drives the stack until done() or the deadline.
func (l *cardLoop) run(app func(), done func() bool, limit time.Duration) {
	end := time.Now().Add(limit)
	for !done() {
		now := time.Now()
		if now.After(end) {
			l.t.Fatalf("interop timed out; stats %+v", l.st.Stats())
		}
		app()
		l.flush(now)
		next := l.st.Poll(now)
		wait := 5 * time.Millisecond
		if !next.IsZero() && next.Sub(now) < wait {
			wait = max(next.Sub(now), 0)
		}
		timer := time.NewTimer(wait)
		select {
		case p, ok := <-l.pkts:
			if !ok {
				l.t.Fatal("tun closed")
			}
			l.input(p, time.Now())
			for more := true; more; { // batch what is already queued
				select {
				case p := <-l.pkts:
					l.input(p, time.Now())
				default:
					more = false
				}
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// streamer is the card-side application: send src, hash what arrives.
type streamer struct {
	c      *Conn
	src    []byte
	sent   int
	closed bool
	hh     interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int
}

func (s *streamer) pump() {
	if s.c == nil {
		return
	}
	if s.sent < len(s.src) {
		s.sent += s.c.Write(s.src[s.sent:])
	} else if !s.closed {
		s.c.CloseWrite()
		s.closed = true
	}
	if p := s.c.Peek(); len(p) > 0 {
		s.hh.Write(p)
		s.n += len(p)
		s.c.Consume(len(p))
	}
}

type peerResult struct {
	sum [32]byte
	n   int
	err error
}

// peerStream writes src on conn, half-closes, and hashes everything read.
func peerStream(conn interface {
	io.ReadWriter
	CloseWrite() error
}, src []byte, res chan<- peerResult) {
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(src)
		if err == nil {
			err = conn.CloseWrite()
		}
		werr <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, conn)
	if e := <-werr; err == nil {
		err = e
	}
	var r peerResult
	copy(r.sum[:], h.Sum(nil))
	r.n, r.err = int(n), err
	res <- r
}

func interopData(seed int64) []byte {
	b := make([]byte, 1<<20)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestGVisorDialsCard(t *testing.T) {
	if testing.Short() {
		t.Skip("interop")
	}
	for _, tc := range []struct {
		name     string
		mtu, buf int
		loss     float64
		shed     bool
	}{
		{"mtu1500-16K", 1500, 16384, 0, false},
		{"mtu576-2K", 576, 2048, 0, false},
		{"mtu1500-16K-loss3%", 1500, 16384, 0.03, false},
		// Shed before every Input and after every Output: the buffers
		// come and go around each segment and the transfer is unchanged.
		{"mtu1500-16K-shed", 1500, 16384, 0, true},
		{"mtu576-2K-shed", 576, 2048, 0, true},
		{"mtu1500-16K-loss3%-shed", 1500, 16384, 0.03, true},
	} {
		t.Run(tc.name, func(t *testing.T) { gvisorDialsCard(t, tc.mtu, tc.buf, tc.loss, tc.shed) })
	}
}

func gvisorDialsCard(t *testing.T, mtu, buf int, loss float64, shed bool) {
	l, tnet := newCardLoopCfg(t, mtu, buf, loss)
	l.shed = shed
	ln, err := l.st.Listen(8080, 4)
	if err != nil {
		t.Fatal(err)
	}
	up, down := interopData(1), interopData(2)
	srv := &streamer{src: down, hh: sha256.New()}
	res := make(chan peerResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := tnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(netip.AddrFrom4(cardAddr), 8080))
		if err != nil {
			res <- peerResult{err: err}
			return
		}
		defer conn.Close()
		peerStream(conn, up, res)
	}()
	var r *peerResult
	start := time.Now()
	l.run(func() {
		if srv.c == nil {
			srv.c = ln.Accept()
		}
		srv.pump()
		if r == nil {
			select {
			case x := <-res:
				r = &x
			default:
			}
		}
	}, func() bool { return r != nil && srv.c != nil && srv.c.EOF() && srv.closed && srv.c.Queued() == 0 }, 60*time.Second)
	el := time.Since(start)
	if r.err != nil {
		t.Fatalf("gVisor side: %v", r.err)
	}
	if want := sha256.Sum256(down); r.n != len(down) || r.sum != want {
		t.Fatalf("card→gVisor: %d bytes, hash mismatch=%v", r.n, r.sum != want)
	}
	if want := sha256.Sum256(up); srv.n != len(up) || string(srv.hh.Sum(nil)) != string(want[:]) {
		t.Fatalf("gVisor→card: %d bytes", srv.n)
	}
	srv.c.Close()
	st := l.st.Stats()
	t.Logf("1 MiB each way in %v; lost %d; segs in/out %d/%d, rtx %d, fast %d, timeouts %d; %d bytes shed",
		el.Round(time.Millisecond), l.lost, st.SegsIn, st.SegsOut, st.Retransmits, st.FastRetransmits, st.Timeouts, l.shedBytes)
	if shed && l.shedBytes < 2*buf {
		t.Fatalf("only %d bytes shed", l.shedBytes)
	}
}

func TestCardDialsGVisor(t *testing.T) {
	if testing.Short() {
		t.Skip("interop")
	}
	l, tnet := newCardLoop(t, 1500)
	gl, err := tnet.ListenTCPAddrPort(netip.AddrPortFrom(netip.AddrFrom4(gvAddr), 9090))
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	up, down := interopData(3), interopData(4)
	res := make(chan peerResult, 1)
	go func() {
		conn, err := gl.Accept()
		if err != nil {
			res <- peerResult{err: err}
			return
		}
		defer conn.Close()
		peerStream(conn.(interface {
			io.ReadWriter
			CloseWrite() error
		}), down, res)
	}()
	c, err := l.st.Dial(cardAddr, gvAddr, 9090, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cl := &streamer{c: c, src: up, hh: sha256.New()}
	var r *peerResult
	l.run(func() {
		cl.pump()
		if r == nil {
			select {
			case x := <-res:
				r = &x
			default:
			}
		}
		if c.Err() != nil {
			t.Fatalf("card conn: %v", c.Err())
		}
	}, func() bool { return r != nil && c.EOF() && cl.closed && c.Queued() == 0 }, 60*time.Second)
	if r.err != nil {
		t.Fatalf("gVisor side: %v", r.err)
	}
	if want := sha256.Sum256(up); r.n != len(up) || r.sum != want {
		t.Fatalf("card→gVisor: %d bytes", r.n)
	}
	if want := sha256.Sum256(down); cl.n != len(down) || string(cl.hh.Sum(nil)) != string(want[:]) {
		t.Fatalf("gVisor→card: %d bytes", cl.n)
	}
	c.Close()
	t.Logf("stats %+v", l.st.Stats())
}

// TestGVisorRefused: RSTs both ways — gVisor dialing a closed card port gets
// ECONNREFUSED; the card dialing a closed gVisor port gets ErrRefused; an
// aborted card connection resets gVisor's socket.
func TestGVisorRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("interop")
	}
	l, tnet := newCardLoop(t, 1500)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := tnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(netip.AddrFrom4(cardAddr), 7))
		if err == nil {
			conn.Close()
		}
		errc <- err
	}()
	var derr error
	l.run(func() {}, func() bool {
		select {
		case derr = <-errc:
			return true
		default:
			return false
		}
	}, 20*time.Second)
	if derr == nil || !strings.Contains(derr.Error(), "refused") {
		t.Fatalf("gVisor dial to a closed port: %v", derr)
	}
	c, err := l.st.Dial(cardAddr, gvAddr, 9, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l.run(func() {}, func() bool { return c.Err() != nil }, 20*time.Second)
	if c.Err() != ErrRefused {
		t.Fatalf("card dial to a closed port: %v", c.Err())
	}
	c.Close()

	// abort: gVisor's blocked Read fails with a reset
	ln, _ := l.st.Listen(8081, 1)
	go func() {
		conn, err := tnet.DialContextTCPAddrPort(context.Background(), netip.AddrPortFrom(netip.AddrFrom4(cardAddr), 8081))
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = conn.Read(make([]byte, 10))
		errc <- err
	}()
	var sc *Conn
	l.run(func() {
		if sc == nil {
			if sc = ln.Accept(); sc != nil {
				sc.Abort()
			}
		}
	}, func() bool {
		select {
		case derr = <-errc:
			return true
		default:
			return false
		}
	}, 20*time.Second)
	if derr == nil || !strings.Contains(derr.Error(), "reset") {
		t.Fatalf("gVisor read after card abort: %v", derr)
	}
}
