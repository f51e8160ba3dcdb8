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

// Runner drives a Machine from a real byte stream with goroutines: one
// reads the line and feeds the machine, one loop runs its timers and writes
// what it has to send. Everything that touches the machine from other
// goroutines (net.Conn adapters) goes through Do, which runs a function
// inside the machine's lock and wakes the loop afterwards.
//
// No goroutine ever holds the lock while it waits for the line: the loop
// takes a frame from the machine under the lock and writes it without it,
// and the reader delivers what it read under the lock without waiting for
// the loop. So a line whose two directions are both full cannot wedge the
// machine (issue 13: two Runners on one in-memory line, each writing with
// its lock held toward a reader that waited for that lock), Do and WaitFor
// answer while a write is blocked, and closing the port ends a blocked
// write. Backpressure is kept: the loop asks the machine for the next
// frame only after the previous one is written, so a slow line slows
// Output, never Input.
type Runner struct {
	m    Machine
	port io.ReadWriter
	now  func() time.Time

	mu      sync.Mutex
	changed *sync.Cond // broadcast after every loop iteration and every Input
	kick    chan struct{}
	done    chan struct{} // closed when the reader ends on a line error
	err     error
	closed  bool

	quit     chan struct{} // closed by Stop: the reader ends
	quitOnce sync.Once
	readOnce sync.Once

	in  []byte // the reader's buffer
	out []byte // the loop's buffer
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
		in:   make([]byte, 2048),
		out:  make([]byte, 4096),
	}
	r.changed = sync.NewCond(&r.mu)
	return r
}

// Run drives the machine until ctx ends or the line fails. It returns nil
// when ctx ended it. A write blocked on the line does not see ctx: close
// the port to end it.
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
		if err := r.flush(); err != nil {
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
			return err
		}
		// Output starts timers (retransmission, persist): ask again.
		r.mu.Lock()
		now := r.now()
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
		case <-r.kick:
		case <-timer.C:
		}
	}
}

// flush runs the machine's timers and writes everything it wants to send,
// one Output at a time: the frame is taken under the lock and written
// without it, so a paced or full line delays the next Output (the wire
// time is the point) but never the reader, Do or WaitFor.
func (r *Runner) flush() error {
	r.mu.Lock()
	r.m.Poll(r.now())
	r.mu.Unlock()
	for {
		r.mu.Lock()
		n := r.m.Output(r.out, r.now())
		if n > 0 {
			// Waiters may be waiting for the room this Output made.
			r.changed.Broadcast()
		}
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		if _, err := r.port.Write(r.out[:n]); err != nil {
			return err
		}
	}
}

// readLoop feeds the machine what the line brings, as it arrives. It
// waits only for the line and, briefly, for the lock (never held across
// I/O), so the peer's writes always drain.
func (r *Runner) readLoop() {
	for {
		n, err := r.port.Read(r.in)
		select {
		case <-r.quit:
			return
		default:
		}
		if n > 0 {
			r.mu.Lock()
			r.m.Input(r.in[:n], r.now())
			r.changed.Broadcast()
			r.mu.Unlock()
			r.Kick() // answer what just arrived
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
