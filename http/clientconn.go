package http

import "errors"

// Client errors.
var (
	ErrBusy         = errors.New("http: a request is already in progress")
	ErrClosed       = errors.New("http: connection closed")
	ErrRequestSize  = errors.New("http: request does not fit the output buffer")
	ErrResponseSize = errors.New("http: response does not fit the input buffer")
)

// ClientConn is the client side of one HTTP/1.1 connection, I/O-free and
// without pipelining: Send a request, move Output bytes to the transport
// and received bytes to Input (and call InputEOF when the peer closes), then
// read the answer with Response. Interim 1xx responses are skipped. When the
// response is done, Next makes the connection ready for the next request if
// it may be reused (keep-alive). Buffers are allocated in NewClientConn; a
// whole response must fit in the input buffer.
type ClientConn struct {
	in       []byte
	inLen    int
	out      []byte
	outStart int
	outEnd   int
	ext      []byte // request body sent from the caller's memory
	resp     Response
	head     bool // the request is HEAD
	busy     bool // a request was sent and its response not yet released
	eof      bool
	closed   bool
	respN    int // bytes of the completed response, 0 if none yet
}

// NewClientConn allocates a client connection with the given buffer sizes
// (defaults 8192 and 2048).
func NewClientConn(inBuf, outBuf int) *ClientConn {
	if inBuf <= 0 {
		inBuf = 8192
	}
	if outBuf <= 0 {
		outBuf = 2048
	}
	return &ClientConn{in: make([]byte, inBuf), out: make([]byte, outBuf)}
}

// Send queues a request: the head described by h and, if not nil, body.
// With h.Chunked the body is sent as one chunk and the last chunk;
// otherwise Content-Length is set to len(body) when body is not nil. The
// body is sent from where it lies: it must stay unchanged until Output has
// returned it.
func (c *ClientConn) Send(h *RequestHeader, body []byte) error {
	if c.closed {
		return ErrClosed
	}
	if c.busy {
		return ErrBusy
	}
	hh := *h
	if body != nil && !hh.Chunked {
		hh.ContentLength = int64(len(body))
	}
	b := AppendRequestHeader(c.out[:0:len(c.out)], &hh)
	if len(b) > 0 && &b[0] != &c.out[0] {
		return ErrRequestSize // the head outgrew the buffer
	}
	c.ext = body
	if hh.Chunked {
		// The body goes out as one chunk, copied behind the head.
		c.ext = nil
		if len(b)+ChunkOverhead(len(body))+len(body)+5 > len(c.out) {
			return ErrRequestSize
		}
		b = AppendChunk(b, body)
		b = AppendLastChunk(b)
	}
	c.outStart, c.outEnd = 0, len(b)
	c.head = hh.Method == "HEAD"
	c.busy, c.respN = true, 0
	return nil
}

// Output writes pending request bytes into dst and returns the count.
func (c *ClientConn) Output(dst []byte) int {
	n := copy(dst, c.out[c.outStart:c.outEnd])
	c.outStart += n
	if c.outStart == c.outEnd && len(c.ext) > 0 {
		k := copy(dst[n:], c.ext)
		c.ext = c.ext[k:]
		n += k
	}
	return n
}

// Input takes received bytes and returns how many it accepted.
func (c *ClientConn) Input(b []byte) int {
	n := copy(c.in[c.inLen:], b)
	c.inLen += n
	return n
}

// InputEOF records that the server closed its side: a close-delimited
// response is then complete, and the connection cannot be reused.
func (c *ClientConn) InputEOF() { c.eof = true }

// Response returns the response to the request sent, once complete; it
// stays valid (its slices alias the input buffer) until Next. Before that
// it returns ErrIncomplete; a malformed response gives a *Error (502).
func (c *ClientConn) Response() (*Response, error) {
	if !c.busy {
		return nil, ErrClosed
	}
	if c.respN > 0 {
		return &c.resp, nil
	}
	for {
		n, err := ParseResponseFor(c.in[:c.inLen], c.head, &c.resp)
		if err == ErrIncomplete || err == nil && c.resp.UntilClose && !c.eof {
			if c.eof {
				c.closed = true
				return nil, ErrClosed
			}
			if c.inLen == len(c.in) {
				return nil, ErrResponseSize
			}
			return nil, ErrIncomplete
		}
		if err != nil {
			c.closed = true
			return nil, err
		}
		if c.resp.Status < 200 {
			// Interim response: drop it and read on.
			copy(c.in, c.in[n:c.inLen])
			c.inLen -= n
			continue
		}
		c.respN = n
		return &c.resp, nil
	}
}

// Next releases the completed response. It reports whether the connection
// can carry another request (keep-alive); if not, close the transport.
func (c *ClientConn) Next() bool {
	if !c.busy {
		return !c.closed
	}
	if c.respN > 0 {
		copy(c.in, c.in[c.respN:c.inLen])
		c.inLen -= c.respN
		if c.resp.Close || c.eof {
			c.closed = true
		}
	} else {
		c.closed = true // abandoned mid-response: framing lost
	}
	c.busy, c.respN = false, 0
	return !c.closed
}
