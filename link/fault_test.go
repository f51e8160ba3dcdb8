package link

import (
	"bytes"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"
)

// run feeds stream to a new Injector in chunks of random size (chunkSeed 0:
// one call) and returns the concatenated output and the counters.
func run(f Faults, stream []byte, chunkSeed uint64) ([]byte, InjectorStats) {
	in := NewInjector(f)
	var out []byte
	emit := func(b []byte) { out = append(out, b...) }
	if chunkSeed == 0 {
		in.Process(stream, emit)
	} else {
		r := rand.New(rand.NewPCG(chunkSeed, 0))
		for b := stream; len(b) > 0; {
			n := min(len(b), r.IntN(300))
			in.Process(b[:n], emit)
			b = b[n:]
		}
	}
	in.Flush(emit)
	return out, in.Stats()
}

// frames splits an HDLC stream into its non-empty frames.
func frames(b []byte) [][]byte {
	var fs [][]byte
	for _, f := range bytes.Split(b, []byte{Flag}) {
		if len(f) > 0 {
			fs = append(fs, f)
		}
	}
	return fs
}

func TestInjectorNoFaults(t *testing.T) {
	stream := randomStream(1, 500, 100)
	out, st := run(Faults{Seed: 9}, stream, 3)
	if !bytes.Equal(out, stream) {
		t.Fatal("fault-free injector changed the stream")
	}
	if st.Frames != 500 || st.Bytes != uint64(len(stream)) || st.Dropped+st.Duplicated+st.BitsFlipped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestInjectorDeterministic: same seed and input, same output, however the
// input is split; another seed, another output.
func TestInjectorDeterministic(t *testing.T) {
	stream := randomStream(2, 2000, 200)
	f := Faults{Seed: 42, DropFrame: 0.1, Dup: 0.05, BER: 1e-4}
	whole, st1 := run(f, stream, 0)
	split, st2 := run(f, stream, 77)
	if !bytes.Equal(whole, split) || st1 != st2 {
		t.Fatalf("output depends on how the input is split: %+v vs %+v", st1, st2)
	}
	again, st3 := run(f, stream, 5)
	if !bytes.Equal(whole, again) || st1 != st3 {
		t.Fatal("same seed gave a different output")
	}
	f.Seed = 43
	other, st4 := run(f, stream, 0)
	if bytes.Equal(whole, other) || st1 == st4 {
		t.Fatal("another seed gave the same output")
	}
	if st1.Dropped == 0 || st1.Duplicated == 0 || st1.BitsFlipped == 0 {
		t.Fatalf("no faults injected: %+v", st1)
	}
}

// within checks that got is within tol (relative) of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*want {
		t.Errorf("%s = %.5g, want %.5g ± %.0f%%", what, got, want, tol*100)
	} else {
		t.Logf("%s = %.5g (want %.5g)", what, got, want)
	}
}

// TestInjectorRates: over many frames the observed drop, duplication and
// bit-error rates match the configured ones, and the output frames are the
// input frames in order (minus drops, plus adjacent duplicates).
func TestInjectorRates(t *testing.T) {
	const n = 20000
	stream := randomStream(3, n, 60)
	in := frames(stream)
	out, st := run(Faults{Seed: 7, DropFrame: 0.2, Dup: 0.1}, stream, 11)
	if st.Frames != n {
		t.Fatalf("saw %d frames, want %d", st.Frames, n)
	}
	within(t, "drop rate", float64(st.Dropped)/n, 0.2, 0.05)
	within(t, "dup rate", float64(st.Duplicated)/float64(n-st.Dropped), 0.1, 0.08)
	got := frames(out)
	if uint64(len(got)) != n-st.Dropped+st.Duplicated {
		t.Fatalf("%d frames out, want %d", len(got), n-st.Dropped+st.Duplicated)
	}
	// Every output frame is the next input frame, or a repeat of the last.
	j := 0
	for i, g := range got {
		if i > 0 && bytes.Equal(g, got[i-1]) && (j >= len(in) || !bytes.Equal(g, in[j])) {
			continue
		}
		for j < len(in) && !bytes.Equal(g, in[j]) {
			j++
		}
		if j == len(in) {
			t.Fatalf("output frame %d is not an input frame in order", i)
		}
		j++
	}

	// Bit errors: the output differs from the input in exactly the flipped
	// bits, at the configured rate.
	const ber = 1e-3
	out, st = run(Faults{Seed: 8, BER: ber}, stream, 13)
	if len(out) != len(stream) {
		t.Fatal("BER changed the length")
	}
	diff := 0
	for i := range out {
		diff += bits.OnesCount8(out[i] ^ stream[i])
	}
	if uint64(diff) != st.BitsFlipped {
		t.Fatalf("%d bits differ, injector counted %d", diff, st.BitsFlipped)
	}
	within(t, "bit error rate", float64(diff)/float64(8*len(stream)), ber, 0.05)
	if st.Corrupted == 0 || st.Corrupted > st.BitsFlipped {
		t.Fatalf("corrupted %d, flipped %d", st.Corrupted, st.BitsFlipped)
	}

	// A low BER is cheap (one random draw per error) and still accurate.
	inj := NewInjector(Faults{Seed: 9, BER: 1e-5})
	for range 6 {
		inj.Process(stream, func([]byte) {})
	}
	st = inj.Stats()
	within(t, "low bit error rate", float64(st.BitsFlipped)/float64(8*st.Bytes), 1e-5, 0.2)
}

// TestInjectorOverflow: a run longer than MaxFaultFrame passes through
// whole (never dropped), and the stream stays byte-identical.
func TestInjectorOverflow(t *testing.T) {
	big := bytes.Repeat([]byte{0x55}, 3*MaxFaultFrame)
	stream := append(append([]byte{Flag}, big...), Flag)
	out, st := run(Faults{Seed: 1, DropFrame: 1}, stream, 17)
	if !bytes.Equal(out, stream) || st.Frames != 1 || st.Dropped != 0 {
		t.Fatalf("oversized frame: %d bytes out of %d, %+v", len(out), len(stream), st)
	}
}

func TestInjectorNoAllocs(t *testing.T) {
	stream := randomStream(4, 50, 300)
	in := NewInjector(Faults{Seed: 1, DropFrame: 0.1, Dup: 0.1, BER: 1e-4})
	var n int
	emit := func(b []byte) { n += len(b) }
	allocs := testing.AllocsPerRun(100, func() {
		in.Process(stream[:len(stream)/3], emit)
		in.Process(stream[len(stream)/3:], emit)
	})
	if allocs != 0 {
		t.Fatalf("Process allocates %.1f times per run", allocs)
	}
}

func BenchmarkInjector(b *testing.B) {
	stream := randomStream(5, 200, 1500)
	for _, c := range []struct {
		name string
		f    Faults
	}{
		{"none", Faults{}},
		{"drop+dup", Faults{Seed: 1, DropFrame: 0.2, Dup: 0.1}},
		{"ber1e-4", Faults{Seed: 1, BER: 1e-4}},
		{"all", Faults{Seed: 1, DropFrame: 0.2, Dup: 0.1, BER: 1e-4}},
	} {
		b.Run(c.name, func(b *testing.B) {
			in := NewInjector(c.f)
			var n int
			emit := func(p []byte) { n += len(p) }
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				in.Process(stream, emit)
			}
		})
	}
}

// TestFaultPort: over an in-memory line, both directions lose and
// duplicate frames as configured, counted by their own injectors.
func TestFaultPort(t *testing.T) {
	a, b := Pipe(0)
	fp := FaultPort(a, Faults{Seed: 3, DropFrame: 0.5, Dup: 0.2})
	defer fp.Close()
	defer b.Close()
	stream := randomStream(6, 200, 40)
	in := frames(stream)

	check := func(dir string, inj *Injector, r Port) {
		t.Helper()
		chunks := make(chan []byte, 16)
		go func() {
			for {
				buf := make([]byte, 4096)
				n, err := r.Read(buf)
				if err != nil {
					close(chunks)
					return
				}
				chunks <- buf[:n]
			}
		}()
		var got []byte
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			st := inj.Stats()
			if st.Frames == 200 && uint64(len(frames(got))) == 200-st.Dropped+st.Duplicated {
				break
			}
			select {
			case c, ok := <-chunks:
				if !ok {
					t.Fatalf("%s: stream ended", dir)
				}
				got = append(got, c...)
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s: got %d frames, stats %+v", dir, len(frames(got)), st)
			}
		}
		st := inj.Stats()
		if st.Dropped == 0 || st.Duplicated == 0 {
			t.Fatalf("%s: stats %+v", dir, st)
		}
		for _, f := range frames(got) {
			if !bytes.Contains(stream, f) || len(f) < 4 {
				t.Fatalf("%s: frame % x was not sent", dir, f)
			}
		}
		t.Logf("%s: %d frames in, %d out, %+v", dir, len(in), len(frames(got)), st)
	}

	go fp.Write(stream)
	check("a→b", fp.Tx(), b)
	go b.Write(stream)
	check("b→a", fp.Rx(), fp)
	if fp.Rx().Stats() == fp.Tx().Stats() {
		t.Fatal("both directions made the same decisions: seeds not independent")
	}
}

func TestFaultPortDelay(t *testing.T) {
	a, b := Pipe(0)
	fp := FaultPort(a, Faults{Seed: 1, Delay: 60 * time.Millisecond})
	defer fp.Close()
	defer b.Close()
	frame := hdlcFrame(nil, []byte{0xFF, 0x03, 0xC0, 0x21, 9, 1, 0, 8, 1, 2, 3, 4})
	start := time.Now()
	if _, err := fp.Write(frame); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(frame))
	readFull(t, b, got, 5*time.Second)
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("delivered after %v, want ≥ 60ms", el)
	}
	if !bytes.Equal(got, frame) {
		t.Fatal("frame changed")
	}
	start = time.Now()
	go b.Write(frame)
	readFull(t, fp, got, 5*time.Second)
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("incoming frame delivered after %v, want ≥ 60ms", el)
	}
}

// deframe unescapes the frames of an HDLC stream and sorts them by FCS.
func deframe(b []byte) (good [][]byte, bad int) {
	for _, f := range frames(b) {
		var u []byte
		esc := false
		for _, c := range f {
			switch {
			case c == 0x7D:
				esc = true
			case esc:
				u = append(u, c^0x20)
				esc = false
			default:
				u = append(u, c)
			}
		}
		if len(u) < 4 || fcs16(u[:len(u)-2]) != uint16(u[len(u)-2])|uint16(u[len(u)-1])<<8 {
			bad++
			continue
		}
		good = append(good, u[:len(u)-2])
	}
	return good, bad
}

// TestInjectorBitErrorsCaughtByFCS: with a bit-error rate of 1e-4 on 5,000
// frames, every frame that still passes its FCS-16 is one that was sent.
// A flip can split a frame (a byte turned into a flag) or merge two (a flag
// hit), so each flip spoils at most two frames and adds at most one piece.
func TestInjectorBitErrorsCaughtByFCS(t *testing.T) {
	stream := randomStream(10, 5000, 300)
	sent := map[string]bool{}
	good, bad := deframe(stream)
	if bad != 0 || len(good) != 5000 {
		t.Fatalf("test deframer: %d good, %d bad", len(good), bad)
	}
	for _, g := range good {
		sent[string(g)] = true
	}
	out, st := run(Faults{Seed: 11, BER: 1e-4}, stream, 19)
	good, bad = deframe(out)
	for _, g := range good {
		if !sent[string(g)] {
			t.Fatalf("a corrupted frame passed the FCS: % x", g)
		}
	}
	t.Logf("%d frames, %d bits flipped in %d pieces; FCS: %d good, %d bad", st.Frames, st.BitsFlipped, st.Corrupted, len(good), bad)
	if bad == 0 || uint64(bad) > 2*st.BitsFlipped || uint64(len(good)) < 5000-2*st.BitsFlipped {
		t.Fatalf("%d good and %d bad frames for %d flips in %d pieces", len(good), bad, st.BitsFlipped, st.Corrupted)
	}
}
