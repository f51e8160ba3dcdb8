package link

import (
	"io"
	"sync"
)

// DefaultPipeBuf is the per-direction buffer of Pipe when bufSize <= 0.
const DefaultPipeBuf = 4096

// Pipe returns the two ends of an in-memory serial line. Each direction is a
// bounded buffer of bufSize bytes (DefaultPipeBuf if bufSize <= 0): Write
// blocks while the buffer is full, Read blocks until at least one byte is
// buffered. Closing one end makes the other end's Read return the bytes
// still buffered and then io.EOF, and its Write return io.ErrClosedPipe;
// operations on the closed end itself return ErrClosed. Both ends are safe
// for concurrent use.
func Pipe(bufSize int) (Port, Port) {
	if bufSize <= 0 {
		bufSize = DefaultPipeBuf
	}
	ab := newRing(bufSize) // a writes, b reads
	ba := newRing(bufSize) // b writes, a reads
	return &pipeEnd{rx: ba, tx: ab}, &pipeEnd{rx: ab, tx: ba}
}

// ring is one direction of a Pipe.
type ring struct {
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	r, n    int  // read position, bytes buffered
	wclosed bool // the writing end closed: reader drains, then io.EOF
	rclosed bool // the reading end closed: writer gets io.ErrClosedPipe
}

func newRing(size int) *ring {
	r := &ring{buf: make([]byte, size)}
	r.cond.L = &r.mu
	return r
}

type pipeEnd struct {
	rx, tx *ring
	once   sync.Once
}

func (e *pipeEnd) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r := e.rx
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n == 0 && !r.wclosed && !r.rclosed {
		r.cond.Wait()
	}
	if r.rclosed {
		return 0, ErrClosed
	}
	if r.n == 0 {
		return 0, io.EOF
	}
	total := 0
	for total < len(p) && r.n > 0 {
		end := min(r.r+r.n, len(r.buf))
		c := copy(p[total:], r.buf[r.r:end])
		total += c
		r.r = (r.r + c) % len(r.buf)
		r.n -= c
	}
	if r.n == 0 {
		r.r = 0
	}
	r.cond.Broadcast()
	return total, nil
}

func (e *pipeEnd) Write(p []byte) (int, error) {
	w := e.tx
	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	for total < len(p) {
		for w.n == len(w.buf) && !w.wclosed && !w.rclosed {
			w.cond.Wait()
		}
		if w.wclosed {
			return total, ErrClosed
		}
		if w.rclosed {
			return total, io.ErrClosedPipe
		}
		for total < len(p) && w.n < len(w.buf) {
			pos := (w.r + w.n) % len(w.buf)
			end := len(w.buf)
			if pos < w.r {
				end = w.r
			}
			c := copy(w.buf[pos:end], p[total:])
			total += c
			w.n += c
		}
		w.cond.Broadcast()
	}
	return total, nil
}

func (e *pipeEnd) Close() error {
	err := error(ErrClosed)
	e.once.Do(func() {
		err = nil
		e.rx.mu.Lock()
		e.rx.rclosed = true
		e.rx.cond.Broadcast()
		e.rx.mu.Unlock()
		e.tx.mu.Lock()
		e.tx.wclosed = true
		e.tx.cond.Broadcast()
		e.tx.mu.Unlock()
	})
	return err
}
