// Package netconn adapts the card's event-driven TCP to the standard
// net.Conn and net.Listener interfaces, so that unmodified Go code — a
// net/http server or client, io.Copy, bufio — runs on the card stack.
//
// The protocol packages stay lock-free: every access to a tcp.Conn or
// tcp.Listener happens inside the card.Runner's lock (Runner.Do, or the
// condition of Runner.WaitFor), and a blocked Read, Write or Accept sleeps in
// WaitFor until the loop's next iteration changes something, a deadline
// passes (Runner.Wake) or the adapter is closed.
//
// A tcp.Conn's slot is reused once it is closed, so an adapter touches its
// tcp.Conn only while it has not closed it itself; the tcp package keeps a
// slot the application has not released, even after a reset. A Conn or
// Listener dropped without Close is closed by a GC cleanup, so the card's
// few slots do not leak (as os.File does for descriptors).
package netconn

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"netcard/card"
	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/tcp"
)

// ErrWriteClosed is returned by Write after CloseWrite.
var ErrWriteClosed = errors.New("netconn: write after CloseWrite")

// errConnClosed is returned by Write once the connection can no longer
// send (the peer closed it completely, or it timed out without an error).
var errConnClosed = errors.New("netconn: connection closed")

// Conn is a net.Conn over one card TCP connection. It is safe for
// concurrent use: one Read and one Write may block at the same time (further
// readers or writers queue behind them), and Close unblocks both.
type Conn struct {
	r            *card.Runner
	c            *tcp.Conn // guarded by the runner; never touched once closed
	laddr, raddr *net.TCPAddr
	rmu, wmu     sync.Mutex // serialise readers, writers
	rd, wd       deadline
	st           *connState
}

// connState is the part of a Conn its GC cleanup needs: it must not refer
// to the Conn itself.
type connState struct {
	r             *card.Runner
	c             *tcp.Conn
	closed, wshut bool // guarded by the runner
}

// release closes a Conn its user dropped without closing (a GC cleanup, as
// the os package does for files): the card's few slots must not leak.
func (st *connState) release() {
	st.r.Do(func(time.Time) {
		if !st.closed {
			st.closed = true
			st.c.Close()
		}
	})
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ net.Listener = (*Listener)(nil)
)

func newConn(r *card.Runner, c *tcp.Conn) *Conn {
	la, lp := c.Local()
	ra, rp := c.Remote()
	st := &connState{r: r, c: c}
	nc := &Conn{r: r, c: c, laddr: tcpAddr6(la, lp), raddr: tcpAddr6(ra, rp), st: st}
	nc.rd.wake, nc.wd.wake = r.Wake, r.Wake
	runtime.AddCleanup(nc, (*connState).release, st)
	return nc
}

func tcpAddr(a ipv4.Addr, port uint16) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IP{a[0], a[1], a[2], a[3]}, Port: int(port)} // 4-byte form: AddrPort is IPv4
}

// tcpAddr6 is tcpAddr for a connection's address of either family (the
// 4-byte form for an IPv4-mapped one).
func tcpAddr6(a ipv6.Addr, port uint16) *net.TCPAddr {
	if a.Is4() {
		return tcpAddr(a.As4(), port)
	}
	return &net.TCPAddr{IP: net.IP(a[:]), Port: int(port)}
}

func (c *Conn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// Read reads received bytes into p. It blocks until at least one byte is
// available, the peer closed its side (io.EOF), the connection failed
// (tcp.ErrReset, tcp.ErrTimeout), the read deadline passed
// (os.ErrDeadlineExceeded) or the Conn was closed (net.ErrClosed).
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var (
		n   int
		err error
	)
	werr := c.r.WaitFor(context.Background(), func(time.Time) bool {
		switch {
		case c.st.closed:
			err = net.ErrClosed
		case c.rd.expired():
			err = os.ErrDeadlineExceeded
		case len(p) == 0:
		default:
			if n = c.c.Read(p); n > 0 {
				return true
			}
			if c.c.EOF() {
				err = io.EOF
			} else if e := c.c.Err(); e != nil {
				err = e
			} else if c.c.State() == tcp.Closed {
				err = io.EOF
			} else {
				return false
			}
		}
		return true
	})
	if n > 0 {
		c.r.Kick() // the window may have reopened
		return n, nil
	}
	if err == nil {
		err = werr
	}
	return 0, c.opErr("read", err)
}

// Write queues p for sending, blocking while the send buffer is full. It
// returns early with an error when the write deadline passes
// (os.ErrDeadlineExceeded), the connection fails, after CloseWrite
// (ErrWriteClosed) or when the Conn is closed (net.ErrClosed).
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	total := 0
	for {
		var (
			n   int
			err error
		)
		werr := c.r.WaitFor(context.Background(), func(time.Time) bool {
			switch {
			case c.st.closed:
				err = net.ErrClosed
			case c.wd.expired():
				err = os.ErrDeadlineExceeded
			case c.c.Err() != nil:
				err = c.c.Err()
			case c.st.wshut:
				err = ErrWriteClosed
			case total == len(p):
			default:
				if n = c.c.Write(p[total:]); n > 0 {
					return true
				}
				switch c.c.State() {
				case tcp.SynSent, tcp.SynReceived, tcp.Established, tcp.CloseWait:
					return false // the buffer is full: wait for ACKs
				}
				err = errConnClosed
			}
			return true
		})
		if n > 0 {
			total += n
			c.r.Kick() // send what was queued now
		}
		if err == nil {
			err = werr
		}
		if err != nil {
			return total, c.opErr("write", err)
		}
		if total == len(p) {
			return total, nil
		}
	}
}

// Close closes the connection: queued data is still sent, followed by a
// FIN, and the card's TCP frees the slot when the closing handshake ends.
// Unread received data turns the close into a reset (RFC 1122 §4.2.2.13).
// Blocked Read and Write calls return net.ErrClosed.
func (c *Conn) Close() error {
	already := false
	c.r.Do(func(time.Time) {
		if c.st.closed {
			already = true
			return
		}
		c.st.closed = true
		c.c.Close()
	})
	c.rd.stop()
	c.wd.stop()
	c.r.Wake()
	if already {
		return c.opErr("close", net.ErrClosed)
	}
	return nil
}

// Abort resets the connection (RST) and frees its slot at once.
func (c *Conn) Abort() error {
	already := false
	c.r.Do(func(time.Time) {
		if c.st.closed {
			already = true
			return
		}
		c.st.closed = true
		c.c.Abort()
	})
	c.rd.stop()
	c.wd.stop()
	c.r.Wake()
	if already {
		return c.opErr("abort", net.ErrClosed)
	}
	return nil
}

// CloseWrite shuts down the sending side (half-close): a FIN follows the
// queued data; reading continues until the peer closes.
func (c *Conn) CloseWrite() error {
	var err error
	c.r.Do(func(time.Time) {
		if c.st.closed {
			err = net.ErrClosed
			return
		}
		c.st.wshut = true
		c.c.CloseWrite()
	})
	c.r.Wake() // a blocked Write returns ErrWriteClosed
	return c.opErr("close", err)
}

// State returns the TCP state of the connection (tcp.Closed once the Conn
// was closed).
func (c *Conn) State() tcp.State {
	st := tcp.Closed
	c.r.Do(func(time.Time) {
		if !c.st.closed {
			st = c.c.State()
		}
	})
	return st
}

// LocalAddr returns the card's address and port (*net.TCPAddr).
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address and port (*net.TCPAddr).
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both the read and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the time after which Read fails with
// os.ErrDeadlineExceeded, including a Read already blocked; the zero time
// removes it.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the time after which Write fails with
// os.ErrDeadlineExceeded, including a Write already blocked; the zero time
// removes it.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is one direction's deadline. expired runs inside the runner's
// lock; the timer wakes the runner's waiters when the deadline passes.
type deadline struct {
	mu    sync.Mutex
	t     time.Time
	timer *time.Timer
	wake  func()
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.t = t
	now := false
	if !t.IsZero() {
		if dt := time.Until(t); dt > 0 {
			d.timer = time.AfterFunc(dt, d.wake)
		} else {
			now = true
		}
	}
	d.mu.Unlock()
	// A deadline already passed fails waiters at once. One moved later
	// needs no wake-up: waiters re-check it whenever they wake.
	if now {
		d.wake()
	}
}

func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.t.IsZero() && !time.Now().Before(d.t)
}

func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
}

// Listener is a net.Listener on one port of a card's TCP stack. The card's
// own listeners (HTTPS, HTTP) are unaffected: each accepts only its own
// connections. Connection slots are shared by the whole stack.
type Listener struct {
	r    *card.Runner
	l    *tcp.Listener
	addr *net.TCPAddr
	dl   deadline
	st   *listenerState
}

type listenerState struct {
	r      *card.Runner
	l      *tcp.Listener
	closed bool // guarded by the runner
}

// release closes a Listener its user dropped without closing.
func (st *listenerState) release() {
	st.r.Do(func(time.Time) {
		if !st.closed {
			st.closed = true
			st.l.Close()
		}
	})
}

// Listen opens a listener on port of the stack s driven by r, with at most
// backlog connections waiting for Accept (half-open ones included).
func Listen(r *card.Runner, s *tcp.Stack, port uint16, backlog int) (*Listener, error) {
	var (
		l   *tcp.Listener
		err error
	)
	r.Do(func(time.Time) { l, err = s.Listen(port, backlog) })
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(ipv4.Addr{}, port), Err: err}
	}
	st := &listenerState{r: r, l: l}
	nl := &Listener{r: r, l: l, addr: tcpAddr(ipv4.Addr{}, port), st: st}
	nl.dl.wake = r.Wake
	runtime.AddCleanup(nl, (*listenerState).release, st)
	return nl, nil
}

// SetDeadline sets the time after which Accept fails with
// os.ErrDeadlineExceeded, including an Accept already blocked; the zero
// time removes it.
func (l *Listener) SetDeadline(t time.Time) error { l.dl.set(t); return nil }

// Accept waits for the next established connection. After Close it returns
// net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP is Accept returning the concrete *Conn.
func (l *Listener) AcceptTCP() (*Conn, error) {
	var (
		tc  *tcp.Conn
		err error
	)
	werr := l.r.WaitFor(context.Background(), func(time.Time) bool {
		if l.st.closed {
			err = net.ErrClosed
			return true
		}
		if l.dl.expired() {
			err = os.ErrDeadlineExceeded
			return true
		}
		tc = l.l.Accept()
		return tc != nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		if tc != nil {
			l.r.Do(func(time.Time) { tc.Abort() })
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: err}
	}
	return newConn(l.r, tc), nil
}

// Close stops listening: connections not yet accepted are reset, accepted
// ones are unaffected, and a blocked Accept returns net.ErrClosed.
func (l *Listener) Close() error {
	already := false
	l.r.Do(func(time.Time) {
		if l.st.closed {
			already = true
			return
		}
		l.st.closed = true
		l.l.Close()
	})
	l.dl.stop()
	l.r.Wake()
	if already {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	return nil
}

// Addr returns the listening address: 0.0.0.0 and the port (the card has
// one address, learned when the link comes up).
func (l *Listener) Addr() net.Addr { return l.addr }

// Dial opens a connection from local to remote:port on the stack s driven
// by r and waits until it is established, refused, timed out (the stack's
// SYN retries) or ctx ends (the attempt is then reset).
func Dial(ctx context.Context, r *card.Runner, s *tcp.Stack, local, remote ipv4.Addr, port uint16) (*Conn, error) {
	var (
		tc  *tcp.Conn
		err error
	)
	raddr := tcpAddr(remote, port)
	r.Do(func(now time.Time) { tc, err = s.Dial(local, remote, port, now) })
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err}
	}
	werr := r.WaitFor(ctx, func(time.Time) bool {
		if err = tc.Err(); err != nil {
			return true
		}
		switch tc.State() {
		case tcp.SynSent, tcp.SynReceived:
			return false
		case tcp.Closed:
			err = tcp.ErrRefused
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		r.Do(func(time.Time) { tc.Abort() })
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err}
	}
	return newConn(r, tc), nil
}

// Dialer dials from a card stack with the address form net/http uses, for
// http.Transport.DialContext.
type Dialer struct {
	Runner *card.Runner
	Stack  *tcp.Stack
	// Local returns the card's address; it is called inside the runner
	// (e.g. card.Link().LocalIP).
	Local func() ipv4.Addr
}

// DialContext dials address ("a.b.c.d:port"; network "tcp" or "tcp4").
// Names are not resolved.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	ap, err := netAddrPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var local ipv4.Addr
	d.Runner.Do(func(time.Time) { local = d.Local() })
	c, err := Dial(ctx, d.Runner, d.Stack, local, ap.Addr().As4(), ap.Port())
	if err != nil {
		return nil, err
	}
	return c, nil
}

func netAddrPort(address string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return ap, err
	}
	if !ap.Addr().Unmap().Is4() || ap.Port() == 0 {
		return ap, &net.AddrError{Err: "not an IPv4 address and port", Addr: address}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
