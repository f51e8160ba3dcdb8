package link

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Flag is the HDLC flag sequence that delimits PPP frames (RFC 1662).
const Flag = 0x7E

// MaxFaultFrame is the longest frame (escaped bytes, closing flag included)
// an Injector buffers. Longer runs between flags pass through whole: only
// bit errors apply to them, they are never dropped or duplicated.
const MaxFaultFrame = 8192

// Faults configures seeded, deterministic fault injection on an HDLC byte
// stream. Probabilities are in [0, 1]; zero values inject nothing.
type Faults struct {
	Seed      int64         // same seed and same input: same output
	DropFrame float64       // probability that a whole frame is dropped
	Dup       float64       // probability that a frame is sent twice
	BER       float64       // bit-error rate: probability that each bit is flipped
	Delay     time.Duration // FaultPort only: latency added to every frame
}

func (f Faults) active() bool { return f.DropFrame > 0 || f.Dup > 0 || f.BER > 0 }

// InjectorStats counts what an Injector did.
type InjectorStats struct {
	Frames      uint64 // frames seen (a run of bytes closed by a flag, not a bare flag)
	Dropped     uint64 // frames dropped
	Duplicated  uint64 // frames sent twice
	Corrupted   uint64 // pieces emitted with at least one flipped bit (frame copies, bare flags)
	BitsFlipped uint64 // bits flipped in total
	Bytes       uint64 // bytes taken in
}

// Injector injects faults into an HDLC byte stream, frame by frame. A frame
// is the bytes up to and including the next 0x7E flag; bytes of an
// unfinished frame are held until its flag arrives (see Flush). Frames are
// dropped or duplicated whole; bit errors hit every byte sent (flags too,
// as on a real line). Drop, Dup and BER use independent random streams
// derived from Seed, so the output is a pure function of Seed and the input
// byte sequence, however the input is split into Process calls.
//
// Process and Flush must not be called concurrently; Stats may be.
type Injector struct {
	f         Faults
	drop, dup *rand.Rand
	ber       *rand.Rand
	logq      float64 // log(1-BER), for geometric skips
	skip      uint64  // error-free bits left before the next flip
	frame     []byte  // the unfinished frame, cap MaxFaultFrame
	work      []byte  // a corrupted copy, cap MaxFaultFrame
	pass      bool    // the current frame overflowed: passing through
	inFrame   bool    // fast path: bytes seen since the last flag

	frames, dropped, duplicated, corrupted, flipped, nbytes atomic.Uint64
}

// NewInjector returns an Injector for f. All buffers are allocated here.
func NewInjector(f Faults) *Injector {
	s := uint64(f.Seed)
	in := &Injector{
		f:     f,
		drop:  rand.New(rand.NewPCG(s, 0x64726f70)),
		dup:   rand.New(rand.NewPCG(s, 0x00647570)),
		ber:   rand.New(rand.NewPCG(s, 0x00626572)),
		frame: make([]byte, 0, MaxFaultFrame),
		work:  make([]byte, MaxFaultFrame),
	}
	if f.BER > 0 && f.BER < 1 {
		in.logq = math.Log1p(-f.BER)
	}
	in.skip = in.nextSkip()
	return in
}

// nextSkip draws the number of error-free bits before the next flipped bit:
// geometric with parameter BER, so a low BER costs one draw per error,
// not one per bit.
func (in *Injector) nextSkip() uint64 {
	switch {
	case in.f.BER <= 0:
		return math.MaxUint64
	case in.f.BER >= 1:
		return 0
	}
	u := 1 - in.ber.Float64() // (0, 1]
	k := math.Floor(math.Log(u) / in.logq)
	if k >= 1<<62 {
		return 1 << 62
	}
	return uint64(k)
}

// Stats returns the counters so far.
func (in *Injector) Stats() InjectorStats {
	return InjectorStats{
		Frames:      in.frames.Load(),
		Dropped:     in.dropped.Load(),
		Duplicated:  in.duplicated.Load(),
		Corrupted:   in.corrupted.Load(),
		BitsFlipped: in.flipped.Load(),
		Bytes:       in.nbytes.Load(),
	}
}

// Process takes the next bytes of the stream and calls emit with the bytes
// to pass on, in order, zero or more times. The slice given to emit is only
// valid during the call (it may alias in or the Injector's buffers); emit
// must not modify it. in is never modified.
func (in *Injector) Process(b []byte, emit func([]byte)) {
	in.nbytes.Add(uint64(len(b)))
	if !in.f.active() {
		in.countFrames(b)
		if len(b) > 0 {
			emit(b)
		}
		return
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, Flag)
		if i < 0 {
			in.add(b, emit)
			return
		}
		in.add(b[:i+1], emit)
		b = b[i+1:]
		in.endFrame(emit)
	}
}

// countFrames keeps Frames current on the fault-free path.
func (in *Injector) countFrames(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, Flag)
		if i < 0 {
			in.inFrame = true
			return
		}
		if i > 0 || in.inFrame {
			in.frames.Add(1)
		}
		in.inFrame = false
		b = b[i+1:]
	}
}

// add appends part of the current frame, passing it through if it
// overflows the frame buffer.
func (in *Injector) add(b []byte, emit func([]byte)) {
	if !in.pass && len(in.frame)+len(b) > cap(in.frame) {
		in.pass = true
		if len(in.frame) > 0 {
			in.send(in.frame, emit)
			in.frame = in.frame[:0]
		}
	}
	if in.pass {
		for len(b) > 0 {
			n := min(len(b), cap(in.frame))
			in.send(b[:n], emit)
			b = b[n:]
		}
		return
	}
	in.frame = append(in.frame, b...)
}

// endFrame handles a frame whose closing flag has just been added.
func (in *Injector) endFrame(emit func([]byte)) {
	if in.pass {
		in.pass = false
		in.frames.Add(1)
		return
	}
	fr := in.frame
	in.frame = in.frame[:0]
	if len(fr) <= 1 { // a bare flag: inter-frame fill or an opening flag
		in.send(fr, emit)
		return
	}
	in.frames.Add(1)
	if in.f.DropFrame > 0 && in.drop.Float64() < in.f.DropFrame {
		in.dropped.Add(1)
		return
	}
	in.send(fr, emit)
	if in.f.Dup > 0 && in.dup.Float64() < in.f.Dup {
		in.duplicated.Add(1)
		in.send(fr, emit)
	}
}

// send emits b after applying bit errors to a copy of it.
func (in *Injector) send(b []byte, emit func([]byte)) {
	nbits := uint64(len(b)) * 8
	if in.skip >= nbits {
		in.skip -= nbits
		emit(b)
		return
	}
	w := in.work[:len(b)]
	copy(w, b)
	var flips uint64
	pos := uint64(0)
	for in.skip < nbits-pos {
		pos += in.skip
		w[pos>>3] ^= 1 << (pos & 7)
		pos++
		flips++
		in.skip = in.nextSkip()
	}
	in.skip -= nbits - pos
	in.flipped.Add(flips)
	in.corrupted.Add(1)
	emit(w)
}

// Flush emits the bytes of an unfinished frame (with bit errors, never
// dropped), for the end of a stream.
func (in *Injector) Flush(emit func([]byte)) {
	if len(in.frame) > 0 {
		in.send(in.frame, emit)
		in.frame = in.frame[:0]
	}
	in.pass = false
}
