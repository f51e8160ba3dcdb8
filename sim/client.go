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
// (or a PUT with a body, StartPut) with Connection: close. The response body
// is hashed (SHA-256) as it arrives and kept when KeepBody.
type Client struct {
	w        *World
	conn     *tcp.Conn
	eng      *tls.Engine
	req      []byte
	held     []byte // the request Handshake kept back (SendRequest)
	full     bool   // send only whole records of MaxPlaintext (Options.ClientRecordOut)
	records  int    // records the request (head and body) was sent in
	upload   []byte // request body sent after req (StartPut)
	sent     int
	head     []byte
	resp     http.Response
	headDone bool
	hash     hash.Hash
	// a chunked body: the decoder's state, the bytes left of the chunk,
	// the size's digits seen
	chunk       int
	chunkLeft   int64
	chunkDigits int

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
	// UploadStart is when the first byte of a PUT's body was queued, and
	// UploadEnd when its last was.
	UploadStart, UploadEnd time.Time
	// LineAtFirstByte are the line byte counters (down, up) when the first
	// response byte arrived, and at Start.
	LineAtStart, LineAtFirstByte [2]uint64

	deadline time.Time
	done     bool
	err      error

	// plain: no TLS (the card's plain-HTTP port). dripFrom and drip: after
	// the first dripFrom bytes of the request, send one byte every drip
	// (a slow client; each byte its own TLS record).
	plain    bool
	dripFrom int
	drip     time.Duration
	dripN    int // bytes per drip (0: 1)
	nextDrip time.Time
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
		Client: &tls.ClientConfig{ServerName: "netcard.local", Roots: roots}, ALPN: []string{"http/1.1"},
		RecordSizeLimit: uint16(w.opt.ClientRecordSizeLimit), MaxRecordOut: uint16(w.opt.ClientRecordOut),
		CipherSuites: w.opt.ClientSuites,
	}, nil
}

// StartGet opens a connection from the host to the card's HTTPS port and
// queues a GET for path. timeout bounds the whole exchange (virtual time).
func (w *World) StartGet(path string, timeout time.Duration) (*Client, error) {
	return w.start("GET", path, nil, timeout)
}

// StartPut is StartGet for a PUT of body (sent with Content-Length from
// where it lies; it must not change until the exchange is done). The
// response is kept (KeepBody).
func (w *World) StartPut(path string, body []byte, timeout time.Duration) (*Client, error) {
	c, err := w.start("PUT", path, body, timeout)
	if c != nil {
		c.KeepBody = true
	}
	return c, err
}

// StartPlainGet is StartGet on the card's plain-HTTP port (80), without
// TLS.
func (w *World) StartPlainGet(path string, timeout time.Duration) (*Client, error) {
	return w.startOn(80, "GET", path, nil, timeout)
}

func (w *World) start(method, path string, body []byte, timeout time.Duration) (*Client, error) {
	return w.startOn(443, method, path, body, timeout)
}

func (w *World) startOn(port uint16, method, path string, body []byte, timeout time.Duration) (*Client, error) {
	var eng *tls.Engine
	if port != 80 {
		cfg, err := w.ClientTLS()
		if err != nil {
			return nil, err
		}
		eng = tls.NewClient(cfg, tls.DefaultRecordBuf)
	}
	conn, err := w.host.TCP.Dial(HostIP, CardIP, port, w.now)
	if err != nil {
		return nil, err
	}
	c := &Client{w: w, conn: conn, eng: eng, plain: eng == nil, hash: sha256.New(),
		Start: w.now, deadline: w.now.Add(timeout), head: make([]byte, 0, 4096), full: w.opt.ClientRecordOut > 0}
	c.LineAtStart = [2]uint64{w.down.sent, w.up.sent}
	h := http.RequestHeader{Method: method, Target: path, Host: "netcard.local", ContentLength: -1,
		Close: true, Accept: "*/*", UserAgent: "netcard-sim"}
	if method != "GET" {
		h.ContentLength = int64(len(body))
	}
	c.req = http.AppendRequestHeader(nil, &h)
	c.upload = body
	w.clients = append(w.clients, c)
	return c, nil
}

// SendRequest sends the request a Handshake held back.
func (c *Client) SendRequest() {
	if len(c.req) == 0 {
		c.req, c.held = c.held, nil
	}
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
		if c.plain {
			return fmt.Errorf("sim: GET stuck at %v: %w (tcp %v)", w.Elapsed(), err, c.conn.State())
		}
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
	if !c.plain {
		c.eng.Close()
		c.flushTLS()
	}
	c.conn.Close()
}

func (c *Client) flushTLS() bool {
	if c.plain {
		return false
	}
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
		if total := len(c.req) + len(c.upload); (c.plain || c.eng.State() == tls.Established) && c.sent < total {
			hdr, tail, maxPT := 0, 0, 1<<16
			if !c.plain {
				hdr, tail = c.eng.Overhead()
				maxPT = c.eng.MaxPlaintext()
			}
			f := c.conn.Free()
			n := min(len(f)-hdr-tail, maxPT, total-c.sent)
			if c.full && n < min(maxPT, total-c.sent) {
				n = 0 // wait for room for a whole record
			}
			if c.drip > 0 && c.sent >= c.dripFrom {
				if now.Before(c.nextDrip) {
					n = 0
				} else {
					n = min(n, max(c.dripN, 1))
					c.nextDrip = now.Add(c.drip)
				}
			} else if c.drip > 0 {
				n = min(n, c.dripFrom-c.sent)
			}
			if n > 0 {
				k := 0
				if c.sent < len(c.req) {
					k = copy(f[hdr:hdr+n], c.req[c.sent:])
				}
				if k < n {
					if c.UploadStart.IsZero() {
						c.UploadStart = now
					}
					off := c.sent + k - len(c.req)
					copy(f[hdr+k:hdr+n], c.upload[off:])
				}
				if c.plain {
					copy(f, f[hdr:hdr+n])
					c.conn.Commit(n)
				} else {
					c.conn.Commit(c.eng.Wrap(f, n))
				}
				c.records++
				c.sent += n
				if c.sent == total && len(c.upload) > 0 {
					c.UploadEnd = now
				}
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
	if c.plain {
		c.data(in, now)
		c.conn.Consume(len(in))
		return true
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
			c.chunk = chunkSize
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
	if c.chunk != 0 {
		c.chunked(p, now)
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

// The states of a chunked body (RFC 9112 §7.1): a chunk-size line (hex
// digits, then extensions up to CRLF), the chunk's data, the CRLF after
// it; after the last chunk (size 0), trailer lines up to an empty one.
const (
	chunkNone = iota
	chunkSize
	chunkExt
	chunkData
	chunkDataEnd
	chunkTrailer
	chunkTrailerLine
)

// chunked decodes a chunked body as it arrives and hands its data to body.
func (c *Client) chunked(p []byte, now time.Time) {
	for len(p) > 0 && !c.done {
		b := p[0]
		switch c.chunk {
		case chunkSize, chunkExt:
			p = p[1:]
			switch {
			case b == '\n':
				if c.chunkDigits == 0 {
					c.fail(errors.New("sim: chunk size line without a size"))
					return
				}
				c.chunk, c.chunkDigits = chunkData, 0
				if c.chunkLeft == 0 {
					c.chunk = chunkTrailer
				}
			case c.chunk == chunkSize && hexDigit(b) >= 0:
				if c.chunkLeft > 1<<40 {
					c.fail(errors.New("sim: chunk size too large"))
					return
				}
				c.chunkLeft = c.chunkLeft<<4 | int64(hexDigit(b))
				c.chunkDigits++
			default:
				c.chunk = chunkExt // extensions and the CR: skipped
			}
		case chunkData:
			n := int(min(int64(len(p)), c.chunkLeft))
			c.chunk = chunkNone // body() hands data on while chunk is 0
			c.body(p[:n], now)
			c.chunk = chunkData
			p, c.chunkLeft = p[n:], c.chunkLeft-int64(n)
			if c.chunkLeft == 0 {
				c.chunk = chunkDataEnd
			}
		case chunkDataEnd:
			p = p[1:]
			if b == '\n' {
				c.chunk = chunkSize
			}
		case chunkTrailer, chunkTrailerLine:
			p = p[1:]
			switch {
			case b == '\n' && c.chunk == chunkTrailer:
				c.complete() // the empty line after the last chunk
				return
			case b == '\n':
				c.chunk = chunkTrailer
			case b != '\r':
				c.chunk = chunkTrailerLine
			}
		}
	}
}

func hexDigit(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b-'a') + 10
	case b >= 'A' && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

func (c *Client) complete() {
	c.hash.Sum(c.Sum[:0])
	c.finish()
}

func (c *Client) eof() {
	switch {
	case !c.headDone:
		c.fail(errors.New("sim: connection closed before the response head"))
	case c.chunk != chunkNone:
		c.fail(fmt.Errorf("sim: connection closed inside a chunked body, after %d bytes", c.Len))
	case c.resp.ContentLength >= 0 && c.Len < c.resp.ContentLength:
		c.fail(fmt.Errorf("sim: connection closed after %d of %d body bytes", c.Len, c.resp.ContentLength))
	default:
		c.complete()
	}
}
