package link

import (
	"sync"
	"time"
)

// BitsPerByte is the number of bit times one byte takes on an 8N1 line:
// a start bit, 8 data bits and a stop bit.
const BitsPerByte = 10

// WireTime is how long n bytes take on an 8N1 serial line at baud bits per
// second (10 bits per byte); 0 if baud <= 0 (unlimited).
func WireTime(n, baud int) time.Duration {
	if baud <= 0 || n <= 0 {
		return 0
	}
	bits := int64(n) * BitsPerByte
	b := int64(baud)
	return time.Duration(bits/b)*time.Second + time.Duration(bits%b*int64(time.Second)/b)
}

// BytesPerSecond is the 8N1 line rate in bytes per second (baud/10).
func BytesPerSecond(baud int) float64 { return float64(baud) / BitsPerByte }

// paceQuantum is the pacing granularity: bytes move in chunks of about
// this much wire time.
const paceQuantum = 5 * time.Millisecond

// paceSlack: an operation that begins less than this after the previous
// one on the same direction returned continues the same transmission, and
// may start up to this much in the past, so that late wake-ups (a loaded
// machine oversleeps) do not lower the rate: a UART's FIFO would have kept
// the line busy meanwhile. It bounds the credit a line can accumulate.
const paceSlack = 10 * time.Millisecond

// Pace returns p paced to an 8N1 serial line at baud: at most baud/10 bytes
// per second each way, each direction independently. Written bytes are
// passed to p when they would have finished crossing the line; read bytes
// are returned when they would have finished arriving. Writes and reads
// move in chunks of about 5 ms of line time. A line never banks more than
// 10 ms of unused time, so no burst gets ahead of the line rate by more
// than 10 ms worth of bytes (115 bytes at 115200 baud). baud <= 0 returns
// p unchanged. Close interrupts pending waits and closes p.
func Pace(p Port, baud int) Port {
	if baud <= 0 {
		return p
	}
	chunk := max(1, int(BytesPerSecond(baud)*paceQuantum.Seconds()))
	pp := &pacedPort{p: p, baud: baud, chunk: chunk, closed: make(chan struct{})}
	pp.w.timer = stoppedTimer()
	pp.r.timer = stoppedTimer()
	return pp
}

type pacedPort struct {
	p      Port
	baud   int
	chunk  int
	w, r   lineClock
	closed chan struct{}
	once   sync.Once
}

// lineClock schedules one direction of the line.
type lineClock struct {
	mu    sync.Mutex
	free  time.Time // when the line finishes the bytes scheduled so far
	last  time.Time // when the previous operation returned
	timer *time.Timer
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// schedule puts n bytes on the line, starting when it is free and not
// before earliest, and returns when they are through.
func (c *lineClock) schedule(n, baud int, earliest time.Time) time.Time {
	start := c.free
	if earliest.After(start) {
		start = earliest
	}
	c.free = start.Add(WireTime(n, baud))
	return c.free
}

// sleepUntil waits until t or until the port is closed.
func (c *lineClock) sleepUntil(t time.Time, closed <-chan struct{}) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	c.timer.Reset(d)
	select {
	case <-c.timer.C:
		return nil
	case <-closed:
		c.timer.Stop()
		return ErrClosed
	}
}

func (pp *pacedPort) Write(b []byte) (int, error) {
	c := &pp.w
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.last = time.Now() }()
	total := 0
	for total < len(b) {
		n := min(pp.chunk, len(b)-total)
		// A chunk continues the transmission if it is not the first of
		// this Write or if the caller came straight back.
		now := time.Now()
		earliest := now.Add(-paceSlack)
		if total == 0 && now.Sub(c.last) >= paceSlack {
			earliest = now // the line was idle
		}
		done := c.schedule(n, pp.baud, earliest)
		if err := c.sleepUntil(done, pp.closed); err != nil {
			return total, err
		}
		m, err := pp.p.Write(b[total : total+n])
		total += m
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (pp *pacedPort) Read(b []byte) (int, error) {
	c := &pp.r
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(b) > pp.chunk {
		b = b[:pp.chunk]
	}
	called := time.Now()
	n, err := pp.p.Read(b)
	if n > 0 {
		// When did these bytes reach the line? If Read waited for them,
		// just now; if they were waiting and the caller came straight
		// back, they queued behind the previous bytes; otherwise they
		// have been waiting since at least the call.
		ret := time.Now()
		earliest := ret.Add(-paceSlack)
		switch {
		case ret.Sub(called) >= paceSlack:
			earliest = ret
		case called.Sub(c.last) >= paceSlack:
			earliest = called
		}
		done := c.schedule(n, pp.baud, earliest)
		if e := c.sleepUntil(done, pp.closed); e != nil {
			return 0, e
		}
	}
	c.last = time.Now()
	return n, err
}

func (pp *pacedPort) Close() error {
	err := error(ErrClosed)
	pp.once.Do(func() {
		close(pp.closed)
		err = pp.p.Close()
	})
	return err
}
