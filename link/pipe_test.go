package link

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

func TestPipeRoundTrip(t *testing.T) {
	a, b := Pipe(16)
	defer a.Close()
	defer b.Close()
	msg := []byte{0x7E, 0xFF, 0x7D, 0x23, 0x00, 0x11, 0x13, 0x7E}
	go a.Write(msg)
	got := make([]byte, len(msg))
	readFull(t, b, got, 5*time.Second)
	if !bytes.Equal(got, msg) {
		t.Fatalf("a→b got % x", got)
	}
	go b.Write(msg[:3])
	readFull(t, a, got[:3], 5*time.Second)
	if !bytes.Equal(got[:3], msg[:3]) {
		t.Fatalf("b→a got % x", got[:3])
	}
}

// TestPipeBounded: Write blocks when the buffer is full and completes as
// the reader drains it; a large transfer arrives intact across wrap-around.
func TestPipeBounded(t *testing.T) {
	a, b := Pipe(7)
	defer a.Close()
	defer b.Close()
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	done := make(chan error, 1)
	go func() {
		// Writes of random sizes.
		for off := 0; off < len(data); {
			n := min(len(data)-off, 1+r.IntN(40))
			if _, err := a.Write(data[off : off+n]); err != nil {
				done <- err
				return
			}
			off += n
		}
		done <- a.Close()
	}()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data corrupted in transit")
	}
}

// TestPipeWriteBlocksWhenFull: a Write larger than the buffer stores what
// fits and waits; closing the reader then ends it with the count stored.
func TestPipeWriteBlocksWhenFull(t *testing.T) {
	a, b := Pipe(4)
	defer a.Close()
	type res struct {
		n   int
		err error
	}
	wrote := make(chan res, 1)
	go func() {
		n, err := a.Write([]byte("abcdefgh"))
		wrote <- res{n, err}
	}()
	// Wait on the ring's own condition (every Write broadcasts after
	// storing), bounded: no polling.
	ring := a.(*pipeEnd).tx
	var expired atomic.Bool
	tm := time.AfterFunc(5*time.Second, func() {
		expired.Store(true)
		ring.mu.Lock()
		ring.cond.Broadcast()
		ring.mu.Unlock()
	})
	ring.mu.Lock()
	for ring.n != 4 && !expired.Load() {
		ring.cond.Wait()
	}
	full := ring.n == 4
	ring.mu.Unlock()
	tm.Stop()
	if !full {
		t.Fatal("writer never filled the buffer")
	}
	b.Close()
	select {
	case r := <-wrote:
		if r.n != 4 || !errors.Is(r.err, io.ErrClosedPipe) {
			t.Fatalf("Write = %d, %v; want 4, io.ErrClosedPipe", r.n, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write did not return")
	}
}

func TestPipeClose(t *testing.T) {
	a, b := Pipe(4)
	// Buffered bytes survive the writer's Close, then EOF.
	if _, err := a.Write([]byte("xy")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "xy" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := b.Write([]byte("z")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Write to a closed peer: %v", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read on closed end: %v", err)
	}
	if _, err := a.Write([]byte("z")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write on closed end: %v", err)
	}
	if err := a.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	b.Close()
}

// TestPipeCloseUnblocks: Close on one end wakes a Read blocked on the other
// (io.EOF) and a Write blocked on the other (io.ErrClosedPipe), and a Read
// or Write blocked on the closing end itself (ErrClosed).
func TestPipeCloseUnblocks(t *testing.T) {
	a, b := Pipe(2)
	c, d := Pipe(2)
	defer d.Close()
	errs := make(chan error, 3)
	go func() { _, err := b.Read(make([]byte, 1)); errs <- err }()
	go func() { _, err := b.Write([]byte("12345")); errs <- err }() // more than fits
	go func() { _, err := c.Read(make([]byte, 1)); errs <- err }()
	a.Close()
	c.Close()
	want := map[error]int{io.EOF: 1, io.ErrClosedPipe: 1, ErrClosed: 1}
	for range 3 {
		select {
		case err := <-errs:
			if want[err] == 0 {
				t.Fatalf("unexpected error %v", err)
			}
			want[err]--
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock a pending call")
		}
	}
	b.Close()
}

func BenchmarkPipe(b *testing.B) {
	a, c := Pipe(8192)
	defer a.Close()
	go io.Copy(io.Discard, c)
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
