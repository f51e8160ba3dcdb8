package netconn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	nethttp "net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"netcard/ipv4"
	"netcard/tcp"
)

func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	_, _ = r.Read(b)
	return b
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// connect returns a connected pair of Conns: a dialed from host a, b
// accepted on host b's port.
func connect(t testing.TB, p *pair, port uint16) (ca, cb *Conn) {
	t.Helper()
	l, err := Listen(p.rb, p.b.tcp, port, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   *Conn
		err error
	}
	acc := make(chan res, 1)
	go func() {
		c, err := l.AcceptTCP()
		acc <- res{c, err}
	}()
	ca, err = Dial(ctxFor(t, 10*time.Second), p.ra, p.a.tcp, addrA, addrB, port)
	if err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { ca.Close(); r.c.Close() })
	return ca, r.c
}

// TestHTTP runs an unmodified net/http server on one card TCP stack
// through Listener and an unmodified net/http client on the other through
// Dialer: GET and POST 1 MiB each way, SHA-256 equal.
func TestHTTP(t *testing.T) {
	p := newPair(t, tcp.Config{RecvBuf: 16384, SendBuf: 4096})
	l, err := Listen(p.rb, p.b.tcp, 8000, 4)
	if err != nil {
		t.Fatal(err)
	}
	body := payload(1<<20, 7)
	srv := &nethttp.Server{Handler: echoHandler(body), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	d := &Dialer{Runner: p.ra, Stack: p.a.tcp, Local: func() ipv4.Addr { return addrA }}
	cl := &nethttp.Client{Timeout: 30 * time.Second, Transport: &nethttp.Transport{DialContext: d.DialContext}}
	defer cl.CloseIdleConnections()
	checkHTTP(t, cl, "http://10.0.0.2:8000", body)
}

// echoHandler serves body on GET /blob and echoes a POST body.
func echoHandler(body []byte) nethttp.Handler {
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

func checkHTTP(t testing.TB, cl *nethttp.Client, base string, body []byte) {
	t.Helper()
	want := sha256.Sum256(body)
	resp, err := cl.Get(base + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != int64(len(body)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("GET: %d bytes, err %v, sha256 equal %v", n, err, bytes.Equal(h.Sum(nil), want[:]))
	}
	resp, err = cl.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err = io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != int64(len(body)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("POST echo: status %d, %d bytes, err %v", resp.StatusCode, n, err)
	}
}

func TestReadDeadline(t *testing.T) {
	p := newPair(t, tcp.Config{})
	a, b := connect(t, p, 7)
	// A deadline in the future expires while Read is blocked: not before
	// it (measured from the deadline itself, not from after it was set —
	// issue 13: a loaded machine may run Read well after SetReadDeadline),
	// and within a bound generous enough for a loaded machine.
	dl := time.Now().Add(50 * time.Millisecond)
	a.SetReadDeadline(dl)
	buf := make([]byte, 16)
	n, err := a.Read(buf)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a timeout net.Error", err)
	}
	if late := time.Since(dl); late < 0 || late > 10*time.Second {
		t.Fatalf("deadline fired %v after it passed", late)
	}
	// A passed deadline fails at once, even with data waiting.
	if _, err := b.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline = %d, %v", n, err)
	}
	// Clearing it makes the data readable: a timeout does not break the conn.
	a.SetReadDeadline(time.Time{})
	if n, err := io.ReadFull(a, buf[:5]); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	// Moving the deadline into the past unblocks a Read already waiting
	// (net/http's abortPendingRead depends on it).
	errc := make(chan error, 1)
	go func() { _, err := a.Read(buf); errc <- err }()
	waitReading(t, a)
	a.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("aborted Read = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read not unblocked by a past deadline")
	}
	// Extending a deadline while blocked keeps the Read waiting for data
	// past the old deadline. The extension must happen before the old
	// deadline: on a machine too loaded for that, try again with a later
	// one rather than fail by luck.
	var old time.Time
	for try := 0; ; try++ {
		old = time.Now().Add(50 * time.Millisecond << try)
		a.SetReadDeadline(old)
		go func() { _, err := io.ReadFull(a, buf[:3]); errc <- err }()
		waitReading(t, a)
		a.SetReadDeadline(time.Now().Add(time.Hour))
		if time.Now().Before(old) {
			break
		}
		a.SetReadDeadline(time.Unix(1, 0)) // end this Read, whichever deadline it saw
		if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v", err)
		}
		if try == 6 {
			t.Fatal("could not extend a deadline before it passed in 7 tries")
		}
	}
	time.Sleep(time.Until(old) + 20*time.Millisecond) // a wall-clock instant, not a state
	select {
	case err := <-errc:
		t.Fatalf("Read ended at the old deadline: %v", err)
	default:
	}
	b.Write([]byte("abc"))
	if err := <-errc; err != nil || string(buf[:3]) != "abc" {
		t.Fatalf("extended Read = %q, %v", buf[:3], err)
	}
}

func TestWriteDeadline(t *testing.T) {
	p := newPair(t, tcp.Config{RecvBuf: 4096, SendBuf: 4096})
	a, b := connect(t, p, 7)
	// b never reads: a fills its send buffer and b's receive buffer, then
	// blocks; a deadline set then expires and ends the Write. (Waiting for
	// the full buffer, not guessing how long filling it takes: a deadline
	// set before Write may pass before a loaded machine queues a byte.)
	big := payload(64<<10, 1)
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() { n, err := a.Write(big); res <- result{n, err} }()
	if err := p.ra.WaitFor(ctxFor(t, 10*time.Second), func(time.Time) bool { return !a.c.Writable() }); err != nil {
		t.Fatalf("the send buffer never filled: %v", err)
	}
	dl := time.Now().Add(100 * time.Millisecond)
	a.SetWriteDeadline(dl)
	var n int
	select {
	case r := <-res:
		n = r.n
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write = %d, %v; want os.ErrDeadlineExceeded", r.n, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write not ended by its deadline")
	}
	if late := time.Since(dl); late < 0 {
		t.Fatalf("Write ended %v before its deadline", -late)
	}
	if n < 4096 || n >= len(big) {
		t.Fatalf("Write queued %d bytes before the deadline", n)
	}
	// The bytes Write reported are delivered, and the conn still works.
	a.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(big[n:])
		done <- err
	}()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("data differs")
	}
	// SetDeadline in the past unblocks a blocked Write.
	go func() {
		_, err := a.Write(big)
		done <- err
	}()
	waitWriting(t, a)
	a.SetDeadline(time.Unix(1, 0))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write not unblocked")
	}
}

// TestConcurrent moves 1 MiB each way at once with one reader and one
// writer goroutine per side (run with -race).
func TestConcurrent(t *testing.T) {
	p := newPair(t, tcp.Config{RecvBuf: 16384, SendBuf: 4096})
	a, b := connect(t, p, 7)
	da, db := payload(1<<20, 3), payload(1<<20, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var ga, gb []byte
	send := func(c *Conn, d []byte) {
		defer wg.Done()
		for off := 0; off < len(d); off += 3000 { // odd chunks
			if _, err := c.Write(d[off:min(off+3000, len(d))]); err != nil {
				errs <- err
				return
			}
		}
		errs <- c.CloseWrite()
	}
	recv := func(c *Conn, dst *[]byte) {
		defer wg.Done()
		b, err := io.ReadAll(c)
		*dst = b
		errs <- err
	}
	wg.Add(4)
	go send(a, da)
	go send(b, db)
	go recv(a, &ga)
	go recv(b, &gb)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if sha256.Sum256(ga) != sha256.Sum256(db) || sha256.Sum256(gb) != sha256.Sum256(da) {
		t.Fatalf("data differs: a got %d bytes, b got %d", len(ga), len(gb))
	}
}

func TestCloseUnblocks(t *testing.T) {
	p := newPair(t, tcp.Config{})
	a, _ := connect(t, p, 7)
	errc := make(chan error, 1)
	go func() { _, err := a.Read(make([]byte, 8)); errc <- err }()
	waitReading(t, a)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}

	l, err := Listen(p.rb, p.b.tcp, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(p.rb, p.b.tcp, 9, 1); err == nil {
		t.Fatal("second listener on a port")
	}
	l.SetDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept past its deadline = %v", err)
	}
	l.SetDeadline(time.Time{})
	go func() { _, err := l.Accept(); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
}

// TestHalfCloseAndReset: CloseWrite delivers EOF while the other way still
// works; a peer's reset reaches Read and Write as tcp.ErrReset.
func TestHalfCloseAndReset(t *testing.T) {
	p := newPair(t, tcp.Config{})
	a, b := connect(t, p, 7)
	if a.LocalAddr().String() != "10.0.0.1:"+strconv.Itoa(a.LocalAddr().(*net.TCPAddr).Port) ||
		a.RemoteAddr().String() != "10.0.0.2:7" || b.LocalAddr().String() != "10.0.0.2:7" ||
		b.RemoteAddr().String() != a.LocalAddr().String() {
		t.Fatalf("addresses: a %v→%v, b %v→%v", a.LocalAddr(), a.RemoteAddr(), b.LocalAddr(), b.RemoteAddr())
	}
	a.Write([]byte("request"))
	a.CloseWrite()
	if _, err := a.Write([]byte("x")); !errors.Is(err, ErrWriteClosed) {
		t.Fatalf("Write after CloseWrite = %v", err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "request" {
		t.Fatalf("b read %q, %v", got, err)
	}
	b.Write([]byte("response"))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "response" {
		t.Fatalf("a read %q, %v", buf, err)
	}
	b.Abort()
	if _, err := a.Read(buf); !errors.Is(err, tcp.ErrReset) {
		t.Fatalf("Read after peer reset = %v", err)
	}
}

func TestDialRefusedAndCancelled(t *testing.T) {
	p := newPair(t, tcp.Config{})
	_, err := Dial(ctxFor(t, 10*time.Second), p.ra, p.a.tcp, addrA, addrB, 99)
	if !errors.Is(err, tcp.ErrRefused) {
		t.Fatalf("Dial to a closed port = %v", err)
	}
	// Nobody answers 10.0.0.3: the context ends the attempt and frees the slot.
	_, err = Dial(ctxFor(t, 50*time.Millisecond), p.ra, p.a.tcp, addrA, ipv4.Addr{10, 0, 0, 3}, 80)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial to nowhere = %v", err)
	}
	inUse := 0
	p.ra.Do(func(time.Time) {
		for i := range p.a.tcp.Config().MaxConns {
			if _, ok := p.a.tcp.Conn(i); ok {
				inUse++
			}
		}
	})
	if inUse != 0 {
		t.Fatalf("%d slots in use after failed dials", inUse)
	}
}

// BenchmarkTransfer moves 1 MiB one way between two card TCP stacks through
// the adapters on an unlimited in-memory line.
func BenchmarkTransfer(b *testing.B) {
	for _, bufs := range []struct {
		name       string
		recv, send int
	}{{"card", 16384 + 261, 4096}, {"host", 32768, 32768}} {
		b.Run(bufs.name, func(b *testing.B) {
			p := newPair(b, tcp.Config{RecvBuf: bufs.recv, SendBuf: bufs.send, MSS: 1460})
			x, y := connect(b, p, 7)
			data := payload(1<<20, 5)
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				done := make(chan error, 1)
				go func() { _, err := x.Write(data); done <- err }()
				for got := 0; got < len(data); {
					n, err := y.Read(buf)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAllocs: a Write and the Read that receives it allocate nothing.
func TestAllocs(t *testing.T) {
	p := newPair(t, tcp.Config{})
	a, b := connect(t, p, 7)
	msg := payload(1000, 9)
	buf := make([]byte, len(msg))
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(b, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Write+Read", allocs)
	}
}

// TestDroppedConnReleased: a Conn dropped without Close is closed by the
// garbage collector, so the card's few connection slots do not leak.
func TestDroppedConnReleased(t *testing.T) {
	p := newPair(t, tcp.Config{MaxConns: 1})
	l, err := Listen(p.rb, p.b.tcp, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan *Conn, 1)
	go func() { c, _ := l.AcceptTCP(); acc <- c }()
	func() {
		a, err := Dial(ctxFor(t, 10*time.Second), p.ra, p.a.tcp, addrA, addrB, 7)
		if err != nil {
			t.Fatal(err)
		}
		a.Write([]byte("bye"))
	}()
	b := <-acc
	defer b.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				runtime.GC()
			}
		}
	}()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "bye" {
		t.Fatalf("peer read %q, %v; want the dropped conn's data and EOF", got, err)
	}
	// Host a's single slot becomes reusable (free, or released in
	// TIME-WAIT) once the FIN exchange ends.
	b.Close()
	err = p.ra.WaitFor(ctxFor(t, 10*time.Second), func(time.Time) bool {
		c, inUse := p.a.tcp.Conn(0)
		return !inUse || c.State() == tcp.TimeWait
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(ctxFor(t, 10*time.Second), p.ra, p.a.tcp, addrA, addrB, 99); !errors.Is(err, tcp.ErrRefused) {
		t.Fatalf("dial after the dropped conn = %v (want refused: a slot was free)", err)
	}
}

// waitReading returns once a Read on c is under way (it holds the read
// lock for as long as it waits), so that what the test does next reaches
// a Read already blocked. Bounded; it polls, yielding, without sleeping.
func waitReading(t *testing.T, c *Conn) { t.Helper(); waitHeld(t, &c.rmu, "Read") }

// waitWriting is waitReading for Write.
func waitWriting(t *testing.T, c *Conn) { t.Helper(); waitHeld(t, &c.wmu, "Write") }

func waitHeld(t *testing.T, mu *sync.Mutex, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for mu.TryLock() {
		mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s under way within 10 s", what)
		}
		runtime.Gosched()
	}
}
