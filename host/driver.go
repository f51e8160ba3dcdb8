// Package host is the host side of a netcard link, never linked into the
// card: our PPP in host role on a serial line, bridged to gVisor's userspace
// netstack (NewNetstack: Go programs Dial and Listen over it, no root) or to
// a Linux TUN device (NewTUN: the kernel routes to the card). It also holds
// the goroutine Driver that runs any event-driven engine (a ppp.Link, the
// card) on a real byte stream.
package host

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// Engine is an event-driven protocol engine on a serial line, such as
// *ppp.Link: it owns no goroutines and takes no locks.
type Engine interface {
	Input(b []byte, now time.Time)
	Output(p []byte, now time.Time) int
	Poll(now time.Time) time.Time
}

// Driver runs an Engine on a byte stream: one goroutine reads the line,
// one loop owns the engine (under a mutex), feeds it, runs its timers and
// writes what it produces. Other goroutines reach the engine with Do and
// wait on its state with WaitFor.
type Driver struct {
	e    Engine
	port io.ReadWriteCloser
	now  func() time.Time

	mu      sync.Mutex
	changed *sync.Cond // broadcast after every loop iteration
	err     error
	stopped bool
	closing bool

	kick    chan struct{}
	quit    chan struct{}
	rx      chan []byte
	free    chan []byte
	out     []byte
	wg      sync.WaitGroup
	started bool
	once    sync.Once
}

// NewDriver prepares a driver; Start starts it. now may be nil (time.Now).
func NewDriver(port io.ReadWriteCloser, e Engine, now func() time.Time) *Driver {
	if now == nil {
		now = time.Now
	}
	d := &Driver{
		e: e, port: port, now: now,
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
		rx:   make(chan []byte, 64),
		free: make(chan []byte, 64),
		out:  make([]byte, 4096),
	}
	d.changed = sync.NewCond(&d.mu)
	return d
}

// Start launches the reader and the engine loop.
func (d *Driver) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	d.wg.Add(2)
	go d.readLoop()
	go d.loop()
}

func (d *Driver) fail(err error) {
	d.mu.Lock()
	if d.err == nil && !d.closing {
		d.err = err
	}
	d.mu.Unlock()
	d.once.Do(func() { close(d.quit) })
}

func (d *Driver) readLoop() {
	defer d.wg.Done()
	for {
		var b []byte
		select {
		case b = <-d.free:
		default:
			b = make([]byte, 4096)
		}
		n, err := d.port.Read(b)
		if n > 0 {
			select {
			case d.rx <- b[:n]:
			case <-d.quit:
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			d.fail(err)
			return
		}
	}
}

func (d *Driver) loop() {
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer func() {
		d.mu.Lock()
		d.stopped = true
		d.changed.Broadcast()
		d.mu.Unlock()
	}()
	for {
		d.mu.Lock()
		now := d.now()
		next := d.e.Poll(now)
		err := d.flushLocked(now)
		d.changed.Broadcast()
		d.mu.Unlock()
		if err != nil {
			d.fail(err)
			return
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), 0)
		}
		timer.Reset(wait)
		select {
		case <-d.quit:
			return
		case b := <-d.rx:
			d.mu.Lock()
			d.e.Input(b, d.now())
			d.recycle(b)
		more: // take whatever else has already arrived before answering
			for {
				select {
				case b := <-d.rx:
					d.e.Input(b, d.now())
					d.recycle(b)
				default:
					break more
				}
			}
			d.mu.Unlock()
		case <-d.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (d *Driver) recycle(b []byte) {
	select {
	case d.free <- b[:cap(b)]:
	default:
	}
}

// flushLocked writes everything the engine wants to send.
func (d *Driver) flushLocked(now time.Time) error {
	for {
		n := d.e.Output(d.out, now)
		if n == 0 {
			return nil
		}
		if _, err := d.port.Write(d.out[:n]); err != nil {
			return err
		}
	}
}

// Do runs f with the engine locked, then wakes the loop so that output f
// caused is sent at once.
func (d *Driver) Do(f func(now time.Time)) {
	d.mu.Lock()
	f(d.now())
	d.mu.Unlock()
	d.Kick()
}

// Kick wakes the loop (for example: an IP packet was queued for PullIP).
func (d *Driver) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// WaitFor blocks until cond (called with the engine locked, after each loop
// iteration) is true, the driver stops, or ctx ends.
func (d *Driver) WaitFor(ctx context.Context, cond func(now time.Time) bool) error {
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.changed.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for !cond(d.now()) {
		if d.stopped {
			if d.err != nil {
				return d.err
			}
			return ErrStopped
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		d.changed.Wait()
	}
	return nil
}

// ErrStopped is returned by WaitFor after Close.
var ErrStopped = errors.New("host: driver stopped")

// Err returns the error that stopped the driver (nil while running or
// after a plain Close).
func (d *Driver) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Close stops the loop, closes the port and waits for both goroutines.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	d.once.Do(func() { close(d.quit) })
	err := d.port.Close()
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	if started {
		d.wg.Wait()
	}
	return err
}
