package card

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// Machine is an event-driven protocol engine on a serial line: the card, or
// the host side of a link. It owns no goroutines and takes no locks.
type Machine interface {
	Input(b []byte, now time.Time)
	Output(p []byte, now time.Time) int
	Poll(now time.Time) time.Time
}

// Runner drives a Machine from a real byte stream with goroutines: one reads
// the line, one loop owns the machine. Everything that touches the machine
// from other goroutines (net.Conn adapters) goes through Do, which runs a
// function inside the loop's lock and wakes the loop afterwards.
type Runner struct {
	m    Machine
	port io.ReadWriter
	now  func() time.Time

	mu      sync.Mutex
	changed *sync.Cond // broadcast after every loop iteration
	kick    chan struct{}
	done    chan struct{}
	err     error
	closed  bool

	quit     chan struct{} // closed by Stop: the reader ends
	quitOnce sync.Once
	readOnce sync.Once

	rx   chan []byte
	free chan []byte
	out  []byte
}

// NewRunner prepares a runner; Run starts it. now may be nil (time.Now).
func NewRunner(m Machine, port io.ReadWriter, now func() time.Time) *Runner {
	if now == nil {
		now = time.Now
	}
	r := &Runner{
		m: m, port: port, now: now,
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
		quit: make(chan struct{}),
		rx:   make(chan []byte, 4),
		free: make(chan []byte, 4),
		out:  make([]byte, 4096),
	}
	r.changed = sync.NewCond(&r.mu)
	for i := 0; i < 4; i++ {
		r.free <- make([]byte, 2048)
	}
	return r
}

// Run drives the machine until ctx ends or the line fails. It returns nil
// when ctx ended it.
func (r *Runner) Run(ctx context.Context) error {
	// One reader for the life of the runner, even if Run is called again
	// (to flush a last LCP Terminate after the first run ended).
	r.readOnce.Do(func() { go r.readLoop() })
	r.mu.Lock()
	r.closed = false
	r.mu.Unlock()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer func() {
		r.mu.Lock()
		r.closed = true
		r.changed.Broadcast()
		r.mu.Unlock()
	}()
	for {
		r.mu.Lock()
		now := r.now()
		r.m.Poll(now)
		if err := r.flushLocked(now); err != nil {
			r.err = err
			r.mu.Unlock()
			return err
		}
		// Output starts timers (retransmission, persist): ask again.
		now = r.now()
		next := r.m.Poll(now)
		r.changed.Broadcast()
		r.mu.Unlock()

		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
			if wait < 0 {
				wait = 0
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-r.done:
			r.mu.Lock()
			err := r.err
			r.mu.Unlock()
			return err
		case b := <-r.rx:
			r.mu.Lock()
			r.m.Input(b, r.now())
			r.mu.Unlock()
			r.free <- b[:cap(b)]
			// Take whatever else has already arrived before producing output.
		drain:
			for {
				select {
				case b := <-r.rx:
					r.mu.Lock()
					r.m.Input(b, r.now())
					r.mu.Unlock()
					r.free <- b[:cap(b)]
				default:
					break drain
				}
			}
		case <-r.kick:
		case <-timer.C:
		}
	}
}

// flushLocked writes everything the machine wants to send. The lock is held
// while writing; a paced line makes this take wire time, which is the point.
func (r *Runner) flushLocked(now time.Time) error {
	for {
		n := r.m.Output(r.out, now)
		if n == 0 {
			return nil
		}
		if _, err := r.port.Write(r.out[:n]); err != nil {
			return err
		}
	}
}

func (r *Runner) readLoop() {
	for {
		var b []byte
		select {
		case b = <-r.free:
		case <-r.quit:
			return
		}
		n, err := r.port.Read(b)
		if n > 0 {
			select {
			case r.rx <- b[:n]:
			case <-r.quit:
				return
			}
		} else {
			r.free <- b
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
			close(r.done)
			return
		}
	}
}

// Stop ends the reader goroutine: call it after Run has returned and the
// port is closed, when the runner will not run again.
func (r *Runner) Stop() { r.quitOnce.Do(func() { close(r.quit) }) }

// Do runs f with the machine locked, then wakes the loop so that any output
// f caused is sent at once.
func (r *Runner) Do(f func(now time.Time)) {
	r.mu.Lock()
	f(r.now())
	r.mu.Unlock()
	r.Kick()
}

// Kick wakes the loop.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// WaitFor blocks until cond (called with the machine locked) is true, the
// runner stops, or ctx ends.
func (r *Runner) WaitFor(ctx context.Context, cond func(now time.Time) bool) error {
	if ctx.Done() != nil { // context.Background: no wake-up to arrange, no allocation
		stop := context.AfterFunc(ctx, r.Wake)
		defer stop()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond(r.now()) {
		if r.closed {
			if r.err != nil {
				return r.err
			}
			return io.ErrClosedPipe
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.changed.Wait()
	}
	return nil
}

// Wake makes every WaitFor re-evaluate its condition without running the
// loop: for changes the machine does not see, such as a net.Conn deadline
// passing or an adapter being closed.
func (r *Runner) Wake() {
	r.mu.Lock()
	r.changed.Broadcast()
	r.mu.Unlock()
}
