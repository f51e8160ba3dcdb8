package link

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func TestWireTime(t *testing.T) {
	for _, c := range []struct {
		n, baud int
		want    time.Duration
	}{
		{11520, 115200, time.Second},
		{1, 115200, 86805 * time.Nanosecond}, // 10/115200 s, truncated
		{960, 9600, time.Second},
		{2000, 115200, 173611111 * time.Nanosecond},
		{1 << 30, 300, 35791394*time.Second + 133333333*time.Nanosecond}, // no int64 overflow
		{100, 0, 0},
		{0, 9600, 0},
	} {
		if got := WireTime(c.n, c.baud); got != c.want {
			t.Errorf("WireTime(%d, %d) = %v, want %v", c.n, c.baud, got, c.want)
		}
	}
	if BytesPerSecond(115200) != 11520 {
		t.Error("BytesPerSecond(115200) != 11520")
	}
}

func TestPaceUnlimited(t *testing.T) {
	a, b := Pipe(0)
	defer a.Close()
	defer b.Close()
	if Pace(a, 0) != a {
		t.Fatal("Pace(p, 0) must return p")
	}
}

// measure sends n bytes from w to r and returns how long until the last
// byte was read.
func measure(t *testing.T, w io.Writer, r io.Reader, n int) time.Duration {
	t.Helper()
	data := bytes.Repeat([]byte{0x7E, 0x01, 0xFF, 0x7D}, n/4)
	start := time.Now()
	go w.Write(data)
	got := make([]byte, len(data))
	readFull(t, r, got, 10*time.Second)
	el := time.Since(start)
	if !bytes.Equal(got, data) {
		t.Fatal("paced data corrupted")
	}
	return el
}

// TestPaceWrite: 2,000 bytes at 115200 baud take at least 2000/11520 s
// (0.1736 s) when paced on the writing side, and not much more.
func TestPaceWrite(t *testing.T) {
	a, b := Pipe(0)
	p := Pace(a, 115200)
	defer p.Close()
	defer b.Close()
	el := measure(t, p, b, 2000)
	t.Logf("2000 bytes at 115200 baud, paced write: %v (%.0f bytes/s)", el, 2000/el.Seconds())
	if el < 170*time.Millisecond {
		t.Fatalf("too fast: %v", el)
	}
	if el > 5*time.Second {
		t.Fatalf("too slow: %v", el)
	}
}

// TestPaceRead: pacing applies to the incoming direction as well, and
// independently: a burst already buffered on the line is released at the
// line rate.
func TestPaceRead(t *testing.T) {
	a, b := Pipe(0)
	p := Pace(a, 115200)
	defer p.Close()
	defer b.Close()
	el := measure(t, b, p, 2000)
	t.Logf("2000 bytes at 115200 baud, paced read: %v", el)
	if el < 170*time.Millisecond || el > 5*time.Second {
		t.Fatalf("paced read took %v", el)
	}
}

// TestPaceBothWays: each direction has its own line: two 2,000-byte
// transfers in opposite directions at once take about as long as one
// (the lower bound is the property; the upper bound only catches hangs,
// since a loaded CI machine stretches wall time).
func TestPaceBothWays(t *testing.T) {
	a, b := Pipe(0)
	p := Pace(a, 115200)
	defer p.Close()
	defer b.Close()
	start := time.Now()
	done := make(chan time.Duration)
	go func() { done <- measure(t, p, b, 2000) }()
	measure(t, b, p, 2000)
	<-done
	el := time.Since(start)
	t.Logf("2000 bytes each way at once: %v", el)
	if el < 170*time.Millisecond || el > 5*time.Second {
		t.Fatalf("full duplex took %v, want about 0.17 s", el)
	}
}

// TestPaceCloseInterrupts: Close ends a Write that is waiting for the line.
func TestPaceCloseInterrupts(t *testing.T) {
	a, b := Pipe(0)
	defer b.Close()
	go io.Copy(io.Discard, b)
	p := Pace(a, 300) // 30 bytes/s: 1,000 bytes would take 33 s
	errc := make(chan error, 1)
	go func() {
		_, err := p.Write(make([]byte, 1000))
		errc <- err
	}()
	p.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Write after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt a paced Write")
	}
}

// TestPaceSmallWrites: many small writes are paced like one big one, and
// an idle line banks at most paceSlack of credit.
func TestPaceSmallWrites(t *testing.T) {
	a, b := Pipe(0)
	p := Pace(a, 115200)
	defer p.Close()
	defer b.Close()
	go io.Copy(io.Discard, b)
	frame := make([]byte, 50)
	start := time.Now()
	for range 40 {
		if _, err := p.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	t.Logf("40 writes of 50 bytes: %v", el)
	if el < 170*time.Millisecond || el > 5*time.Second {
		t.Fatalf("2000 bytes in small writes took %v", el)
	}
	time.Sleep(50 * time.Millisecond) // the scenario: the line idles
	start = time.Now()
	if _, err := p.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	el = time.Since(start)
	if min := WireTime(1000, 115200) - paceSlack; el < min {
		t.Fatalf("1000 bytes after idle took %v, want ≥ %v", el, min)
	}
}
