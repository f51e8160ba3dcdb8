package sim

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"netcard/http"
	"netcard/tcp"
	"netcard/tls"
)

// Client is one HTTPS request from the host peer to the card, run inside the
// simulation: TCP from the host stack, the tls package's client engine
// (verifying the card's certificate against the store's), an HTTP/1.1 GET
// with Connection: close. The body is hashed (SHA-256) as it arrives and kept
// when KeepBody.
type Client struct {
	w        *World
	conn     *tcp.Conn
	eng      *tls.Engine
	req      []byte
	sent     int
	head     []byte
	resp     http.Response
	headDone bool
	hash     hash.Hash

	// KeepBody keeps the body (Body); otherwise only Sum and Len are kept.
	KeepBody bool
	// NoHash skips hashing the body (Sum stays zero): bulk CPU measurements
	// compare with a peer that discards the body.
	NoHash bool
	// Status is the response status, Body the body (KeepBody), Len its
	// length, Sum its SHA-256.
	Status int
	Body   []byte
	Len    int64
	Sum    [32]byte

	// Start is when the connection was opened; FirstByte when the first
	// response byte (plaintext) reached the client; FirstBody the first
	// body byte; FirstBodyLen how many body bytes came with it; End when
	// the response was complete.
	Start, FirstByte, FirstBody, End time.Time
	FirstBodyLen                     int64
	// LineAtFirstByte are the line byte counters (down, up) when the first
	// response byte arrived, and at Start.
	LineAtStart, LineAtFirstByte [2]uint64

	deadline time.Time
	done     bool
	err      error
}

// ClientTLS returns the client configuration the simulation uses: trust the
// card's own certificate, name netcard.local, the virtual clock.
func (w *World) ClientTLS() (*tls.Config, error) {
	roots := x509.NewCertPool()
	chain := w.st.Certificate()
	if len(chain) == 0 {
		return nil, errors.New("sim: no certificate in the store")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, err
	}
	roots.AddCert(leaf)
	return &tls.Config{
		Rand: NewRand(w.opt.Seed+uint64(len(w.clients)), "client"), Time: w.Now,
		ServerName: "netcard.local", Roots: roots, ALPN: []string{"http/1.1"},
	}, nil
}

// StartGet opens a connection from the host to the card's HTTPS port and
// queues a GET for path. timeout bounds the whole exchange (virtual time).
func (w *World) StartGet(path string, timeout time.Duration) (*Client, error) {
	cfg, err := w.ClientTLS()
	if err != nil {
		return nil, err
	}
	conn, err := w.host.TCP.Dial(HostIP, CardIP, 443, w.now)
	if err != nil {
		return nil, err
	}
	c := &Client{w: w, conn: conn, eng: tls.NewClient(cfg, tls.DefaultRecordBuf), hash: sha256.New(),
		Start: w.now, deadline: w.now.Add(timeout), head: make([]byte, 0, 4096)}
	c.LineAtStart = [2]uint64{w.down.sent, w.up.sent}
	h := http.RequestHeader{Method: "GET", Target: path, Host: "netcard.local", ContentLength: -1,
		Close: true, Accept: "*/*", UserAgent: "netcard-sim"}
	c.req = http.AppendRequestHeader(nil, &h)
	w.clients = append(w.clients, c)
	return c, nil
}

// Done reports that the exchange ended (see Err).
func (c *Client) Done() bool { return c.done }

// Err returns why the exchange failed, or nil.
func (c *Client) Err() error { return c.err }

// Engine returns the client's TLS engine.
func (c *Client) Engine() *tls.Engine { return c.eng }

// Get runs an HTTPS GET of path to the card inside the simulation and
// returns the status and body. limit bounds it in virtual time.
func (w *World) Get(path string, limit time.Duration) (int, []byte, error) {
	c, err := w.StartGet(path, limit)
	if err != nil {
		return 0, nil, err
	}
	c.KeepBody = true
	if err := w.Wait(c, limit+time.Second); err != nil {
		return 0, nil, err
	}
	return c.Status, c.Body, nil
}

// Wait runs the simulation until c is done and returns its error.
func (w *World) Wait(c *Client, limit time.Duration) error {
	if err := w.RunUntil(c.Done, limit); err != nil {
		c.fail(err)
		return fmt.Errorf("sim: GET stuck at %v: %w (tcp %v, tls %v)", w.Elapsed(), err, c.conn.State(), c.eng.State())
	}
	w.forget(c)
	return c.err
}

func (w *World) forget(c *Client) {
	for i, x := range w.clients {
		if x == c {
			w.clients = append(w.clients[:i], w.clients[i+1:]...)
			return
		}
	}
}

func (c *Client) fail(err error) {
	if c.done {
		return
	}
	if c.err == nil {
		c.err = err
	}
	c.finish()
}

func (c *Client) finish() {
	if c.done {
		return
	}
	c.done = true
	c.End = c.w.now
	c.eng.Close()
	c.flushTLS()
	c.conn.Close()
}

func (c *Client) flushTLS() bool {
	p := false
	for c.eng.Pending() > 0 {
		f := c.conn.Free()
		if len(f) == 0 {
			break
		}
		c.conn.Commit(c.eng.Output(f))
		p = true
	}
	return p
}

// service advances the exchange; it reports progress.
func (c *Client) service(now time.Time) bool {
	if c.done {
		return false
	}
	if err := c.conn.Err(); err != nil {
		c.fail(fmt.Errorf("tcp: %w", err))
		return true
	}
	if !now.Before(c.deadline) {
		c.fail(errors.New("sim: GET timed out"))
		return true
	}
	progress := false
	for i := 0; i < 256 && !c.done; i++ {
		p := c.flushTLS()
		if c.eng.State() == tls.Established && c.sent < len(c.req) {
			hdr, tail := c.eng.Overhead()
			f := c.conn.Free()
			n := min(len(f)-hdr-tail, c.eng.MaxPlaintext(), len(c.req)-c.sent)
			if n > 0 {
				copy(f[hdr:], c.req[c.sent:c.sent+n])
				c.conn.Commit(c.eng.Wrap(f, n))
				c.sent += n
				p = true
			}
		}
		if c.input(now) {
			p = true
		}
		if !p {
			break
		}
		progress = true
	}
	return progress
}

func (c *Client) input(now time.Time) bool {
	in := c.conn.Peek()
	if len(in) == 0 {
		if c.conn.EOF() {
			c.eof()
			return true
		}
		return false
	}
	n, plain, err := c.eng.Unwrap(in)
	if err == nil && len(plain) > 0 {
		c.data(plain, now) // plain aliases the receive buffer: use it before Consume
	}
	if n > 0 {
		c.conn.Consume(n)
	}
	if err == io.EOF {
		c.eof()
		return true
	}
	if err != nil {
		c.fail(fmt.Errorf("tls: %w", err))
		return true
	}
	if n == 0 {
		if c.conn.EOF() {
			c.eof()
			return true
		}
		return false
	}
	return true
}

func (c *Client) data(p []byte, now time.Time) {
	if c.FirstByte.IsZero() {
		c.FirstByte = now
		c.LineAtFirstByte = [2]uint64{c.w.down.sent, c.w.up.sent}
	}
	if !c.headDone {
		take := min(len(p), cap(c.head)-len(c.head))
		c.head = append(c.head, p[:take]...)
		k, err := http.ParseResponseHead(c.head, false, &c.resp)
		if err == http.ErrIncomplete {
			if take < len(p) {
				c.fail(errors.New("sim: response head too large"))
			}
			return
		}
		if err != nil {
			c.fail(fmt.Errorf("http: %w", err))
			return
		}
		c.headDone = true
		c.Status = c.resp.Status
		if c.resp.Chunked {
			c.fail(errors.New("sim: chunked responses are not supported"))
			return
		}
		c.body(c.head[k:], now)
		p = p[take:]
	}
	c.body(p, now)
}

func (c *Client) body(p []byte, now time.Time) {
	if c.done {
		return
	}
	if len(p) == 0 {
		return
	}
	if c.FirstBody.IsZero() {
		c.FirstBody = now
		c.FirstBodyLen = int64(len(p))
	}
	if !c.NoHash {
		c.hash.Write(p)
	}
	c.Len += int64(len(p))
	if c.KeepBody {
		c.Body = append(c.Body, p...)
	}
	if c.resp.ContentLength >= 0 && c.Len >= c.resp.ContentLength {
		c.complete()
	}
}

func (c *Client) complete() {
	c.hash.Sum(c.Sum[:0])
	c.finish()
}

func (c *Client) eof() {
	switch {
	case !c.headDone:
		c.fail(errors.New("sim: connection closed before the response head"))
	case c.resp.ContentLength >= 0 && c.Len < c.resp.ContentLength:
		c.fail(fmt.Errorf("sim: connection closed after %d of %d body bytes", c.Len, c.resp.ContentLength))
	default:
		c.complete()
	}
}
