package tls

import (
	"errors"
	"io"
	"net"
	"time"
)

// Conn adapts an Engine to a net.Conn over a raw byte stream. It runs entirely on the caller's
// goroutine (no goroutines of its own) and is not safe for concurrent Read and Write: it is meant for
// tests and host tools, not for the card, which drives the Engine from its event loop.
type Conn struct {
	raw  net.Conn
	e    *Engine
	in   []byte // receive buffer: in[start:end] holds unprocessed bytes
	st   int
	end  int
	pend []byte // decrypted application data not yet returned by Read
	out  []byte // record buffer for Wrap and Output
}

// NewConn wraps raw with the engine e, whose recordBuf sizes the receive buffer.
func NewConn(raw net.Conn, e *Engine) *Conn {
	return &Conn{raw: raw, e: e, in: make([]byte, e.recordBuf),
		out: make([]byte, max(MaxOverhead+1+maxPlaintext, 4096))}
}

// Engine returns the underlying engine.
func (c *Conn) Engine() *Engine { return c.e }

// flush writes every pending engine record to the raw connection.
func (c *Conn) flush() error {
	for {
		n := c.e.Output(c.out)
		if n == 0 {
			return nil
		}
		if _, err := c.raw.Write(c.out[:n]); err != nil {
			return err
		}
	}
}

// step processes one record, reading from the raw connection if needed. It returns application data.
func (c *Conn) step() ([]byte, error) {
	for {
		n, plain, err := c.e.Unwrap(c.in[c.st:c.end])
		if ferr := c.flush(); ferr != nil && err == nil {
			err = ferr
		}
		if n > 0 || err != nil {
			c.st += n
			return plain, err
		}
		if c.st > 0 {
			c.end = copy(c.in, c.in[c.st:c.end])
			c.st = 0
		}
		if c.end == len(c.in) {
			return nil, errors.New("tls: record larger than the receive buffer")
		}
		m, rerr := c.raw.Read(c.in[c.end:])
		c.end += m
		if m == 0 && rerr != nil {
			return nil, rerr
		}
	}
}

// Handshake runs the handshake to completion.
func (c *Conn) Handshake() error {
	if err := c.flush(); err != nil {
		return err
	}
	for c.e.State() == Handshaking {
		if _, err := c.step(); err != nil {
			return err
		}
	}
	if c.e.State() == Failed {
		return c.e.Err()
	}
	return nil
}

// Read reads application data.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	for len(c.pend) == 0 {
		plain, err := c.step()
		if err != nil {
			return 0, err
		}
		c.pend = plain
	}
	n := copy(p, c.pend)
	c.pend = c.pend[n:]
	return n, nil
}

// Write writes application data in records of at most MaxPlaintext bytes.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	hdr, _ := c.e.Overhead()
	done := 0
	for done < len(p) {
		if err := c.flush(); err != nil {
			return done, err
		}
		n := min(len(p)-done, c.e.MaxPlaintext())
		copy(c.out[hdr:], p[done:done+n])
		rl := c.e.Wrap(c.out, n)
		if rl == 0 {
			if c.e.Err() != nil {
				return done, c.e.Err()
			}
			return done, net.ErrClosed
		}
		if _, err := c.raw.Write(c.out[:rl]); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// KeyUpdate sends a KeyUpdate (asking the peer to update too when requestPeer is set).
func (c *Conn) KeyUpdate(requestPeer bool) error {
	if err := c.e.KeyUpdate(requestPeer); err != nil {
		return err
	}
	return c.flush()
}

// CloseWrite sends close_notify without closing the raw connection.
func (c *Conn) CloseWrite() error {
	c.e.Close()
	return c.flush()
}

// Close sends close_notify and closes the raw connection.
func (c *Conn) Close() error {
	c.e.Close()
	ferr := c.flush()
	err := c.raw.Close()
	if ferr != nil && !errors.Is(ferr, io.ErrClosedPipe) {
		return ferr
	}
	return err
}

// LocalAddr returns the raw connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the raw connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the raw connection's deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline sets the raw connection's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the raw connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
