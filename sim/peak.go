package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"netcard/card"
	"netcard/store"
	"netcard/tls"
)

// Peak RAM of one card over the scenario of issue 14 (MeasurePeakRAM).
//
// What is measured: the live heap the card holds — every object allocated by
// the card (card.New and the card's Input, Poll and Output, and the card's
// random source: see newCard) that is still reachable — sampled between the
// card's calls, at every point where it can reach a maximum.
//
// How the card's heap is told from the rest of the process (the host peer,
// its HTTPS clients, the line, the simulator, the store and the data the
// clients send): with runtime.MemProfileRate = 1 every allocation is recorded
// with its call stack, and after three collections runtime.MemProfile gives
// the live bytes per stack exactly (slot sizes, i.e. with Go's size-class
// rounding, which is what the heap really spends). An object is the card's
// when its allocation stack passes through the card package or sim.newCard
// (cardFrame). A profile record keeps only the innermost 32 frames of a
// stack: a stack cut there that shows no card frame is counted as the card's
// too (Truncated reports those bytes), so the figure is an upper bound of the
// card's heap, never an under-count. What existed before the card was built
// (process-wide caches a warm-up run created, e.g. Go's crypto tables) is
// subtracted per stack. The card keeps no object it did not allocate except
// the store (its non-volatile memory, shared with the warm-up run, as the
// cards of MeasureRAM share one): the simulator hands it byte slices that it
// copies.
//
// When it is sampled: the card's live heap grows only when the card
// allocates, i.e. inside one of its calls; between two of its calls it can
// only stay or shrink. So its maximum between calls is reached right after a
// call that allocated: each call is bracketed by runtime.ReadMemStats (which
// flushes the allocators' counters, so one allocation is seen), and after a
// call that allocated the heap is attributed as above. The between-calls peak
// found this way is exact, not a sample. Objects a call allocates and drops
// before it returns (the ECDSA signer's temporaries, for example) are not
// live between calls; InCallBound bounds them: the card's heap before the
// call plus every byte allocated during it.
//
// The scenario (one connection at a time, each after a quiet second): a TLS
// handshake then IdleBeforeRAM of quiet (Idle is measured there); GET / on
// that connection; GET of a 64 KiB file; PUT of a 1 MiB body sent in full
// records of 16 KiB plaintext, as curl sends a body — or, for a profile that
// announces record_size_limit (Tiny: 1,003), in records of that limit, the
// client honouring it (RFC 8449; 1,002 plaintext bytes, as the limit counts
// TLS 1.3's content-type byte, §4); then IdleBeforeRAM of quiet (End). The
// line runs at 12 Mbit/s. MeasurePeakRAM checks that the upload went in
// full records.

// PeakRAM is the result of MeasurePeakRAM.
type PeakRAM struct {
	Profile string
	// Bytes is the card's peak live heap between calls; Phase the part of
	// the scenario it was reached in.
	Bytes int64
	Phase string
	// InCallBound is an upper bound of the card's heap inside a call: the
	// largest (heap before the call + bytes allocated during the call).
	InCallBound int64
	// Idle is the card's heap after the handshake and IdleBeforeRAM of
	// quiet; End after the whole scenario and IdleBeforeRAM of quiet.
	Idle, End int64
	// Truncated is the part of Bytes from stacks cut at 32 frames with no
	// card frame left (counted as the card's).
	Truncated int64
	// Record is the plaintext size of the upload's records.
	Record int
	// Upload is the peak once the upload's body flows (its connection's
	// handshake done; records streamed through the store, or opened whole
	// in a large receive buffer).
	Upload int64
	// Calls is the card calls made; Samples the heap attributions.
	Calls, Samples int
	Wall           time.Duration
}

// PeakUploadBytes and PeakDownloadBytes are the sizes of the scenario's
// transfers.
const (
	PeakUploadBytes   = 1 << 20
	PeakDownloadBytes = 64 << 10
)

// MeasurePeakRAM runs the scenario once for a card of profile p (seeded)
// and returns the card's peak live heap. It sets runtime.MemProfileRate to
// 1 while it runs (restored after). Other goroutines may run meanwhile:
// their allocations only cause extra attributions (time) and may raise
// InCallBound, never Bytes.
func MeasurePeakRAM(p card.Profile, seed uint64) (PeakRAM, error) {
	return measurePeakRAM(p, seed)
}

// measurePeakRAM is MeasurePeakRAM with GETs of extra paths after the upload.
func measurePeakRAM(p card.Profile, seed uint64, extra ...string) (PeakRAM, error) {
	start := time.Now()
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()

	// A first, unobserved run pays for process-wide state the card's code
	// creates once (crypto tables, caches) before the baseline.
	// It uses the same store (the card's non-volatile memory, not its RAM),
	// so state kept per store or per key (the signing key's precomputation
	// that Go's crypto caches for the key's lifetime) is not counted, as in
	// MeasureRAM, where cards share one store.
	st, err := NewStore(seed, 0, map[string][]byte{"f": RandomFile(seed, PeakDownloadBytes)})
	if err != nil {
		return PeakRAM{}, err
	}
	if _, err := peakScenario(p, st, seed+1000, 64<<10, nil, extra...); err != nil {
		return PeakRAM{}, fmt.Errorf("sim: warm-up: %w", err)
	}
	detachStore(st) // the warm-up's card is freed before the baseline, not during the run
	h := &cardHeap{kind: map[[32]uintptr]uint8{}, mark: cardFrame}
	h.base = h.snapshot()
	r, err := peakScenario(p, st, seed, PeakUploadBytes, h, extra...)
	r.Wall = time.Since(start)
	return r, err
}

// peakScenario runs the scenario; h (nil: not observed) attributes the heap.
func peakScenario(p card.Profile, st *store.Store, seed uint64, upload int, h *cardHeap, extra ...string) (PeakRAM, error) {
	r := PeakRAM{Profile: p.Name}
	body := RandomFile(seed+1, upload)
	o := Options{Profile: p, Store: st, Seed: seed, Baud: 12_000_000, Chunk: time.Millisecond,
		HostSendBuf: 32 << 10, ClientRecordOut: 16384}
	if p.RecordSizeLimit > 0 {
		o.ClientRecordSizeLimit = 16385 // the client announces it too, so it honours the card's
	}
	phase := "start"
	var cur *Client // the exchange running
	var ms runtime.MemStats
	var last int64 // the card's heap at the latest attribution
	sample := func() int64 {
		if h == nil {
			return 0
		}
		live, trunc := h.card()
		r.Samples++
		last = live
		if phase == "1 MiB upload" && cur != nil && cur.sent > 0 && live > r.Upload {
			r.Upload = live
		}
		if live > r.Bytes {
			r.Bytes, r.Phase, r.Truncated = live, phase, trunc
			if os.Getenv("NETCARD_PEAKDUMP") != "" {
				h.dump(os.Stderr, phase)
			}
			if cur != nil && cur.eng != nil && cur.eng.State() == tls.Handshaking && phase != "handshake" {
				r.Phase += ", its TLS handshake"
			}
		}
		return live
	}
	var m0, t0 uint64
	before := func() {
		if h != nil {
			runtime.ReadMemStats(&ms)
			m0, t0 = ms.Mallocs, ms.TotalAlloc
		}
	}
	after := func() {
		r.Calls++
		if h == nil {
			return
		}
		runtime.ReadMemStats(&ms)
		if b := last + int64(ms.TotalAlloc-t0); b > r.InCallBound {
			r.InCallBound = b
		}
		if ms.Mallocs != m0 {
			sample()
		}
	}
	w, err := New(o)
	if err != nil {
		return r, err
	}
	sample() // what card.New allocated (the world's New also builds the host: not bracketed)
	w.wrap = &cardCalls{
		input: func(b []byte, now time.Time) {
			before()
			w.card.Input(b, now)
			after()
		},
		poll: func(now time.Time) time.Time {
			before()
			next := w.card.Poll(now)
			after()
			return next
		},
		output: func(b []byte, now time.Time) int {
			before()
			n := w.card.Output(b, now)
			after()
			return n
		},
	}
	quiet := func() { w.Run(time.Second) }

	phase = "handshake"
	c, err := w.HandshakeIdle(10 * time.Second)
	if err != nil {
		return r, err
	}
	r.Idle = sample()

	phase = "GET /"
	c.SendRequest()
	if err := w.Wait(c, 10*time.Second); err != nil {
		return r, fmt.Errorf("GET /: %w", err)
	}
	if c.Status != 200 {
		return r, fmt.Errorf("GET /: status %d", c.Status)
	}
	quiet()

	phase = "64 KiB download"
	if c, err = w.StartGet("/f", time.Minute); err != nil {
		return r, err
	}
	cur = c
	if err := w.Wait(c, time.Minute); err != nil {
		return r, fmt.Errorf("download: %w", err)
	}
	if c.Status != 200 || c.Len != PeakDownloadBytes {
		return r, fmt.Errorf("download: status %d, %d bytes", c.Status, c.Len)
	}
	quiet()

	phase = "1 MiB upload"
	if c, err = w.StartPut("/upload", body, 5*time.Minute); err != nil {
		return r, err
	}
	cur = c
	if err := w.Wait(c, 5*time.Minute); err != nil {
		return r, fmt.Errorf("upload: %w", err)
	}
	r.Record = c.eng.MaxPlaintext() // the card's record_size_limit is known after the handshake
	if total := len(c.req) + len(body); c.records != (total+r.Record-1)/r.Record {
		return r, fmt.Errorf("upload: %d bytes in %d records, not in full records of %d", total, c.records, r.Record)
	}
	if c.Status != 200 || string(c.Body) != uploadJSONBody(body) {
		return r, fmt.Errorf("upload: status %d, %q", c.Status, c.Body)
	}

	for _, path := range extra {
		phase = "GET " + path
		if c, err = w.StartGet(path, time.Minute); err != nil {
			return r, err
		}
		cur, c.KeepBody = c, true
		if err := w.Wait(c, time.Minute); err != nil {
			return r, fmt.Errorf("GET %s: %w", path, err)
		}
		if b := string(c.Body); c.Status != 200 || !strings.HasSuffix(b, "</html>\n") && !strings.HasSuffix(b, "}\n") {
			return r, fmt.Errorf("GET %s: status %d, %d bytes ending %q", path, c.Status, len(b), b[max(0, len(b)-16):])
		}
		quiet()
	}

	phase = "idle after"
	w.Run(IdleBeforeRAM)
	r.End = sample()
	runtime.KeepAlive(w)
	return r, nil
}

// cardHeap attributes the live heap to the card (see MeasurePeakRAM).
type cardHeap struct {
	mark func(fn string) bool // a frame of the observed code (cardFrame)
	recs []runtime.MemProfileRecord
	kind map[[32]uintptr]uint8 // stack → kindCard, kindOther or kindCut
	base map[[32]uintptr]int64 // live bytes per stack before the card was built
}

const (
	kindOther = 1 + iota
	kindCard
	kindCut // no card frame in a stack cut at 32 frames: counted as the card's
)

// snapshot returns the live bytes per stack after three collections (a
// record may lag two collections behind the heap: runtime.MemProfile).
func (h *cardHeap) snapshot() map[[32]uintptr]int64 {
	h.read()
	m := make(map[[32]uintptr]int64, len(h.recs))
	for i := range h.recs {
		m[h.recs[i].Stack0] += h.recs[i].InUseBytes()
	}
	return m
}

func (h *cardHeap) read() {
	runtime.GC()
	runtime.GC()
	runtime.GC()
	for {
		n, ok := runtime.MemProfile(h.recs[:cap(h.recs)], false)
		if ok {
			h.recs = h.recs[:n]
			return
		}
		h.recs = make([]runtime.MemProfileRecord, n+n/4+64)
	}
}

// dump writes the card's live allocation sites, largest first, with four
// frames of each stack: set NETCARD_PEAKDUMP=1 and run TestPeakRAM -v to
// see what a new peak is made of.
func (h *cardHeap) dump(w io.Writer, phase string) {
	type site struct {
		b   int64
		stk string
	}
	var out []site
	for i := range h.recs {
		rec := &h.recs[i]
		if h.kind[rec.Stack0] == kindOther {
			continue
		}
		b := rec.InUseBytes() - h.base[rec.Stack0]
		if b <= 0 {
			continue
		}
		var sb strings.Builder
		frames := runtime.CallersFrames(rec.Stack())
		for n := 0; n < 4; {
			f, more := frames.Next()
			if !strings.HasPrefix(f.Function, "runtime.") {
				fmt.Fprintf(&sb, " < %s:%d", f.Function[strings.LastIndex(f.Function, "/")+1:], f.Line)
				n++
			}
			if !more {
				break
			}
		}
		out = append(out, site{b, sb.String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].b > out[j].b })
	fmt.Fprintf(w, "=== peak in %s\n", phase)
	for _, s := range out[:min(len(out), 30)] {
		fmt.Fprintf(w, "%7d%s\n", s.b, s.stk)
	}
}

// card returns the card's live bytes and the part of them from cut stacks.
func (h *cardHeap) card() (live, cut int64) {
	h.read()
	for i := range h.recs {
		rec := &h.recs[i]
		k := h.kind[rec.Stack0]
		if k == 0 {
			k = classify(rec.Stack(), h.mark)
			h.kind[rec.Stack0] = k
		}
		if k == kindOther {
			continue
		}
		b := rec.InUseBytes() - h.base[rec.Stack0]
		live += b
		if k == kindCut {
			cut += b
		}
	}
	return live, cut
}

// classify tells an allocation stack of the observed code from the others.
func classify(stk []uintptr, mark func(string) bool) uint8 {
	frames := runtime.CallersFrames(stk)
	for {
		f, more := frames.Next()
		if mark(f.Function) {
			return kindCard
		}
		if !more {
			break
		}
	}
	if len(stk) >= 32 {
		return kindCut
	}
	return kindOther
}

// cardFrame reports whether a function runs on the card's behalf: the card
// package (its constructor and its Input, Poll, Output and Start), and
// newCard, which also makes the card's random source.
func cardFrame(fn string) bool {
	return strings.HasPrefix(fn, "netcard/card.") || fn == "netcard/sim.newCard"
}

// uploadJSONBody is the card's answer to PUT /upload of b (the upload
// route: length and SHA-256).
func uploadJSONBody(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("{\"length\":%d,\"sha256\":\"%s\"}\n", len(b), hex.EncodeToString(s[:]))
}
