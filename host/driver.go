// Package host is the host side of a netcard link, never linked into the
// card: our PPP in host role on a serial line, bridged to gVisor's userspace
// netstack (NewNetstack: Go programs Dial and Listen over it, no root) or to
// a Linux TUN device (NewTUN: the kernel routes to the card). Its Driver
// runs any event-driven engine (a ppp.Link, the card) on a real byte stream.
package host

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	nccard "netcard/card"
)

// Engine is an event-driven protocol engine on a serial line, such as
// *ppp.Link: it owns no goroutines and takes no locks.
type Engine = nccard.Machine

// Driver runs an Engine on a byte stream with the card's Runner (one
// goroutine reads the line and feeds the engine, one loop runs its timers
// and writes its output; neither holds the engine's lock across line I/O,
// so a full line never blocks the reader, Do or WaitFor) and owns its
// lifetime: Start launches it, Close stops it and closes the port. Other
// goroutines reach the engine with Do and wait on its state with WaitFor.
type Driver struct {
	r      *nccard.Runner
	port   io.ReadWriteCloser
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	err     error // what stopped the loop; nil after a plain Close
	started bool
	closing bool
}

// ErrStopped is returned by WaitFor after Close.
var ErrStopped = errors.New("host: driver stopped")

// NewDriver prepares a driver; Start starts it. now may be nil (time.Now).
func NewDriver(port io.ReadWriteCloser, e Engine, now func() time.Time) *Driver {
	ctx, cancel := context.WithCancel(context.Background())
	return &Driver{r: nccard.NewRunner(e, port, now), port: port, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Start launches the reader and the engine loop.
func (d *Driver) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	go func() {
		err := d.r.Run(d.ctx)
		d.mu.Lock()
		if !d.closing {
			d.err = err
		}
		d.mu.Unlock()
		close(d.done)
	}()
}

// Do runs f with the engine locked, then wakes the loop so that output f
// caused is sent at once.
func (d *Driver) Do(f func(now time.Time)) { d.r.Do(f) }

// Kick wakes the loop (for example: an IP packet was queued for PullIP).
func (d *Driver) Kick() { d.r.Kick() }

// WaitFor blocks until cond (called with the engine locked, after each loop
// iteration) is true, the driver stops, or ctx ends.
func (d *Driver) WaitFor(ctx context.Context, cond func(now time.Time) bool) error {
	err := d.r.WaitFor(ctx, cond)
	if err != nil && ctx.Err() == nil {
		d.mu.Lock()
		closing := d.closing
		d.mu.Unlock()
		if closing {
			return ErrStopped
		}
	}
	return err
}

// Err returns the error that stopped the driver (nil while running or
// after a plain Close).
func (d *Driver) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// CloseTimeout bounds how long Close waits for the loop to end after the
// port is closed. Every Port in this repository unblocks its pending Read
// and Write on Close, so this is only reached with a port that does not.
const CloseTimeout = 10 * time.Second

// ErrCloseTimeout is returned by Close when the loop did not end within
// CloseTimeout of the port being closed (the port's Write ignored Close);
// the driver is stopped for every caller but its goroutines may linger.
var ErrCloseTimeout = errors.New("host: driver loop did not end after the port was closed")

// closeTimeout is CloseTimeout; tests lower it.
var closeTimeout = CloseTimeout

// Close stops the loop, closes the port (which ends a write blocked on the
// line: the Runner never holds the engine's lock while it writes) and waits
// for the loop to end, at most CloseTimeout.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closing = true
	started := d.started
	d.mu.Unlock()
	d.cancel()
	err := d.port.Close()
	if started {
		t := time.NewTimer(closeTimeout)
		defer t.Stop()
		select {
		case <-d.done:
		case <-t.C:
			err = errors.Join(err, ErrCloseTimeout)
		}
	}
	d.r.Stop()
	return err
}
