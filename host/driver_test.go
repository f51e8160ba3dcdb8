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
