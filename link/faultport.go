package link

import (
	"io"
	"sync"
	"time"
)

// FaultyPort is a Port with faults injected in both directions; see
// FaultPort.
type FaultyPort struct {
	p      Port
	tx, rx *Injector
	delay  time.Duration

	wmu  sync.Mutex
	werr error // first error writing to p
	wq   *delayLine

	pr, pw Port // the faulted incoming bytes, ready for Read
	rq     *delayLine
	rerr   error // why the incoming stream ended (set before pw is closed)

	closed chan struct{}
	once   sync.Once
}

// FaultPort wraps p so that the bytes written to it and the bytes read from
// it pass through fault injectors: frames dropped and duplicated, bits
// flipped, and (if f.Delay > 0) every frame delivered f.Delay later, order
// kept. Each direction has its own Injector: outgoing bytes use f.Seed,
// incoming bytes a seed derived from it; read their counters with Tx and
// Rx. A goroutine reads p continuously into an internal buffer. Bytes of an
// unfinished outgoing frame are held until its closing flag is written.
// Close closes p.
func FaultPort(p Port, f Faults) *FaultyPort {
	rf := f
	rf.Seed = f.Seed ^ 0x5EED0F0A17
	fp := &FaultyPort{
		p:      p,
		tx:     NewInjector(f),
		rx:     NewInjector(rf),
		delay:  f.Delay,
		closed: make(chan struct{}),
	}
	fp.pr, fp.pw = Pipe(2 * MaxFaultFrame)
	if f.Delay > 0 {
		fp.wq = newDelayLine(f.Delay, fp.closed, func(b []byte) error {
			_, err := fp.p.Write(b)
			return err
		})
		fp.rq = newDelayLine(f.Delay, fp.closed, func(b []byte) error {
			_, err := fp.pw.Write(b)
			return err
		})
	}
	go fp.pump()
	return fp
}

// Tx is the injector of the outgoing direction (bytes written).
func (fp *FaultyPort) Tx() *Injector { return fp.tx }

// Rx is the injector of the incoming direction (bytes read).
func (fp *FaultyPort) Rx() *Injector { return fp.rx }

// pump moves incoming bytes from p through the rx injector to pw.
func (fp *FaultyPort) pump() {
	buf := make([]byte, 4096)
	var werr error
	emit := func(b []byte) {
		if werr != nil {
			return
		}
		if fp.rq != nil {
			werr = fp.rq.put(b)
		} else {
			_, werr = fp.pw.Write(b)
		}
	}
	for werr == nil {
		n, err := fp.p.Read(buf)
		fp.rx.Process(buf[:n], emit)
		if err != nil {
			fp.rx.Flush(emit)
			if fp.rq != nil {
				fp.rq.drain()
			}
			fp.rerr = err
			fp.pw.Close()
			return
		}
	}
}

// Read returns faulted bytes received from the wrapped Port.
func (fp *FaultyPort) Read(b []byte) (int, error) {
	n, err := fp.pr.Read(b)
	if err == io.EOF && fp.rerr != nil {
		err = fp.rerr
	}
	return n, err
}

// Write passes b through the outgoing injector to the wrapped Port. It
// reports an error from an earlier delayed write, if any.
func (fp *FaultyPort) Write(b []byte) (int, error) {
	fp.wmu.Lock()
	defer fp.wmu.Unlock()
	select {
	case <-fp.closed:
		return 0, ErrClosed
	default:
	}
	if fp.wq != nil && fp.werr == nil {
		fp.werr = fp.wq.error()
	}
	if fp.werr != nil {
		return 0, fp.werr
	}
	fp.tx.Process(b, fp.emitTx)
	if fp.werr != nil {
		return 0, fp.werr
	}
	return len(b), nil
}

func (fp *FaultyPort) emitTx(b []byte) {
	if fp.werr != nil {
		return
	}
	if fp.wq != nil {
		fp.werr = fp.wq.put(b)
		return
	}
	_, fp.werr = fp.p.Write(b)
}

// Close closes the wrapped Port and stops the goroutines.
func (fp *FaultyPort) Close() error {
	err := error(ErrClosed)
	fp.once.Do(func() {
		close(fp.closed)
		err = fp.p.Close()
		fp.pr.Close()
	})
	return err
}

// delayLine delivers byte slices after a fixed delay, in order, from its
// own goroutine.
type delayLine struct {
	delay  time.Duration
	q      chan delayed
	closed <-chan struct{}
	done   chan struct{} // closed when the goroutine exits
	mu     sync.Mutex
	err    error
}

type delayed struct {
	at time.Time
	b  []byte
}

func newDelayLine(d time.Duration, closed <-chan struct{}, out func([]byte) error) *delayLine {
	l := &delayLine{delay: d, q: make(chan delayed, 1024), closed: closed, done: make(chan struct{})}
	go l.run(out)
	return l
}

// put queues a copy of b, blocking while the line is full.
func (l *delayLine) put(b []byte) error {
	if err := l.error(); err != nil {
		return err
	}
	select {
	case l.q <- delayed{time.Now().Add(l.delay), append([]byte(nil), b...)}:
		return nil
	case <-l.closed:
		return ErrClosed
	}
}

// drain ends the line after the queued slices are delivered.
func (l *delayLine) drain() {
	close(l.q)
	select {
	case <-l.done:
	case <-l.closed:
	}
}

func (l *delayLine) error() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *delayLine) run(out func([]byte) error) {
	defer close(l.done)
	t := stoppedTimer()
	for d := range l.q {
		if w := time.Until(d.at); w > 0 {
			t.Reset(w)
			select {
			case <-t.C:
			case <-l.closed:
				return
			}
		}
		if err := out(d.b); err != nil {
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			return
		}
	}
}
