package card_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"netcard/card"
)

// stuckLine is a port whose Write blocks until Close (a peer that stopped
// reading; a full line) and whose Read returns what the test feeds it.
type stuckLine struct {
	feed    chan []byte
	closed  chan struct{}
	once    sync.Once
	writing chan struct{} // closed when the first Write blocks
	wonce   sync.Once
}

func newStuckLine() *stuckLine {
	return &stuckLine{feed: make(chan []byte, 16), closed: make(chan struct{}), writing: make(chan struct{})}
}

func (l *stuckLine) Write(p []byte) (int, error) {
	l.wonce.Do(func() { close(l.writing) })
	<-l.closed
	return 0, io.ErrClosedPipe
}

func (l *stuckLine) Read(p []byte) (int, error) {
	select {
	case b := <-l.feed:
		return copy(p, b), nil
	case <-l.closed:
		return 0, io.EOF
	}
}

func (l *stuckLine) Close() { l.once.Do(func() { close(l.closed) }) }

// chatty always has something to send and counts what it is given.
type chatty struct{ in int }

func (m *chatty) Input(b []byte, now time.Time)      { m.in += len(b) }
func (m *chatty) Output(p []byte, now time.Time) int { return copy(p, "chatter") }
func (m *chatty) Poll(now time.Time) time.Time       { return time.Time{} }

// within fails the test if f does not return within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: not done within %v", what, d)
	}
}

// TestRunnerReadsWhileWriteBlocked is the Runner's half of issue 13 item 8:
// with a write blocked on the line for good, what the line brings still
// reaches the machine, Do and WaitFor still answer, and closing the port
// ends Run. (Before, the loop wrote with the machine's lock held and was
// the only one to hand the reader's bytes to the machine: two Runners on
// one full line waited for each other for ever.)
func TestRunnerReadsWhileWriteBlocked(t *testing.T) {
	line := newStuckLine()
	m := &chatty{}
	r := card.NewRunner(m, line, nil)
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case <-line.writing:
	case <-time.After(10 * time.Second):
		t.Fatal("the runner never wrote")
	}
	line.feed <- []byte("hello")
	line.feed <- []byte(", line")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	within(t, 15*time.Second, "WaitFor with a write blocked", func() {
		if err := r.WaitFor(ctx, func(time.Time) bool { return m.in == 11 }); err != nil {
			t.Errorf("WaitFor: %v (got %d bytes)", err, m.in)
		}
	})
	within(t, 10*time.Second, "Do with a write blocked", func() { r.Do(func(time.Time) {}) })
	line.Close()
	within(t, 10*time.Second, "Run after the port closed", func() {
		if err := <-done; !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Run returned %v", err)
		}
	})
	r.Stop()
}

// echoLine is a port whose peer echoes every write back, synchronously.
type echoLine struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte
	n    int
	shut bool
}

func (l *echoLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.n != 0 && !l.shut {
		l.cond.Wait()
	}
	l.n = copy(l.buf, p)
	l.cond.Broadcast()
	return len(p), nil
}

func (l *echoLine) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.n == 0 && !l.shut {
		l.cond.Wait()
	}
	if l.shut {
		return 0, io.EOF
	}
	k := copy(p, l.buf[:l.n])
	l.n = 0
	l.cond.Broadcast()
	return k, nil
}

// pingPong sends one 64-byte packet each time the previous one came back.
type pingPong struct {
	pending bool
	rounds  int
	want    int
}

func (m *pingPong) Input(b []byte, now time.Time) { m.rounds++; m.pending = m.rounds < m.want }
func (m *pingPong) Output(p []byte, now time.Time) int {
	if !m.pending {
		return 0
	}
	m.pending = false
	return len(p[:64])
}
func (m *pingPong) Poll(now time.Time) time.Time { return time.Time{} }

// TestRunnerZeroAllocsPerPacket: in steady state the Runner allocates
// nothing per packet (reader, loop, lock, wake-up): the heap's allocation
// count over 2000 round trips stays below one per 20 packets (timers and
// the runtime's own background work are the slack).
func TestRunnerZeroAllocsPerPacket(t *testing.T) {
	run := func(rounds int) uint64 {
		l := &echoLine{buf: make([]byte, 4096)}
		l.cond = sync.NewCond(&l.mu)
		m := &pingPong{pending: true, want: rounds}
		r := card.NewRunner(m, l, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		go func() { done <- r.Run(ctx) }()
		wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer wcancel()
		if err := r.WaitFor(wctx, func(time.Time) bool { return m.rounds >= rounds }); err != nil {
			t.Fatalf("WaitFor: %v", err)
		}
		runtime.ReadMemStats(&ms)
		after := ms.Mallocs
		cancel()
		<-done
		l.mu.Lock()
		l.shut = true
		l.cond.Broadcast()
		l.mu.Unlock()
		r.Stop()
		return after - before
	}
	base := run(10) // start-up: goroutines, timer, context
	got := run(2010)
	per := float64(int64(got)-int64(base)) / 2000
	t.Logf("allocations: %d for 10 round trips, %d for 2010 (%.3f per packet)", base, got, per)
	if per > 0.05 {
		t.Errorf("%.3f allocations per packet, want 0", per)
	}
}
