package host

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"netcard/host/peers"
)

// upper echoes its input upper-cased and ticks a timer every 10 ms.
type upper struct {
	pending []byte
	ticks   int
	next    time.Time
}

func (u *upper) Input(b []byte, now time.Time) {
	for _, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		u.pending = append(u.pending, c)
	}
}

func (u *upper) Output(p []byte, now time.Time) int {
	n := copy(p, u.pending)
	u.pending = u.pending[n:]
	return n
}

func (u *upper) Poll(now time.Time) time.Time {
	if !u.next.IsZero() && !now.Before(u.next) {
		u.ticks++
	}
	if u.next.IsZero() || !now.Before(u.next) {
		u.next = now.Add(10 * time.Millisecond)
	}
	return u.next
}

func TestDriver(t *testing.T) {
	a, b, err := peers.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e := &upper{}
	d := NewDriver(a, e, nil)
	d.Start()
	if _, err := b.Write([]byte("hello, line")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 11)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "HELLO, LINE" {
		t.Fatalf("echo %q %v", got, err)
	}
	// Timers run without input.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.WaitFor(ctx, func(time.Time) bool { return e.ticks >= 3 }); err != nil {
		t.Fatal(err)
	}
	// Do runs on the engine and its output is flushed at once.
	d.Do(func(time.Time) { e.pending = append(e.pending, "do"...) })
	if _, err := io.ReadFull(b, got[:2]); err != nil || string(got[:2]) != "do" {
		t.Fatalf("Do output %q %v", got[:2], err)
	}
	// The far end hanging up stops the driver with an error.
	b.Close()
	if err := d.WaitFor(ctx, func(time.Time) bool { return false }); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after hang-up: %v", err)
	}
	d.Close()
}

func TestDriverClose(t *testing.T) {
	a, b, err := peers.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d := NewDriver(a, &upper{}, nil)
	d.Start()
	d.Close()
	if err := d.WaitFor(context.Background(), func(time.Time) bool { return false }); !errors.Is(err, ErrStopped) {
		t.Fatalf("after Close: %v", err)
	}
	if d.Err() != nil {
		t.Fatalf("Err after a plain Close: %v", d.Err())
	}
}

// deafPort's Write never returns, even after Close: a port that does not
// unblock pending writes (none in this repository does that).
type deafPort struct {
	closed  chan struct{}
	forever chan struct{}
}

func (p *deafPort) Read(b []byte) (int, error)  { <-p.closed; return 0, io.EOF }
func (p *deafPort) Write(b []byte) (int, error) { <-p.forever; return 0, io.ErrClosedPipe }
func (p *deafPort) Close() error                { close(p.closed); return nil }

// TestDriverCloseBounded: Close returns within its bound even when the
// port ignores Close and a write is blocked for good, with ErrCloseTimeout;
// with a port that unblocks its writes, a blocked write does not delay
// Close at all.
func TestDriverCloseBounded(t *testing.T) {
	defer func(d time.Duration) { closeTimeout = d }(closeTimeout)
	closeTimeout = 200 * time.Millisecond
	p := &deafPort{closed: make(chan struct{}), forever: make(chan struct{})}
	defer close(p.forever)
	e := &upper{pending: []byte("to a line that never drains")}
	d := NewDriver(p, e, nil)
	d.Start()
	// Do answers while the write is blocked (the lock is not held across it).
	done := make(chan struct{})
	go func() { d.Do(func(time.Time) {}); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Do blocked behind a blocked write")
	}
	start := time.Now()
	if err := d.Close(); !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Close = %v, want ErrCloseTimeout", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("Close took %v", el)
	}
}
