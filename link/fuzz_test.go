package link

import (
	"bytes"
	"testing"
)

// FuzzInjector checks, for any byte stream and fault settings, that the
// Injector never panics, that its output does not depend on how the input
// is split into Process calls, and that without bit errors every frame it
// emits is a frame of the input.
func FuzzInjector(f *testing.F) {
	f.Add(randomStream(1, 5, 40), int64(1), uint8(64), uint8(32), uint8(0), uint16(7))
	f.Add([]byte{Flag, Flag, 0xFF, 0x03, 0xC0, 0x21, Flag, 'x', 'y'}, int64(2), uint8(255), uint8(255), uint8(10), uint16(1))
	f.Add([]byte("CONNECT 115200\r\n~\xff}#\xc0!~"), int64(3), uint8(0), uint8(128), uint8(255), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, seed int64, drop, dup, ber uint8, split uint16) {
		fl := Faults{Seed: seed, DropFrame: float64(drop) / 255, Dup: float64(dup) / 255, BER: float64(ber) / 255 / 100}
		whole, st1 := run(fl, data, 0)
		in := NewInjector(fl)
		var parts []byte
		emit := func(b []byte) { parts = append(parts, b...) }
		k := int(split)%17 + 1
		for b := data; len(b) > 0; {
			n := min(k, len(b))
			in.Process(b[:n], emit)
			b = b[n:]
		}
		in.Flush(emit)
		if !bytes.Equal(whole, parts) || st1 != in.Stats() {
			t.Fatalf("output depends on the split: %+v vs %+v", st1, in.Stats())
		}
		if st1.Bytes != uint64(len(data)) || st1.Dropped > st1.Frames || st1.Duplicated > st1.Frames {
			t.Fatalf("bad stats %+v", st1)
		}
		if fl.BER == 0 {
			for _, fr := range frames(whole) {
				if !bytes.Contains(data, fr) {
					t.Fatalf("emitted frame % x is not in the input", fr)
				}
			}
		}
	})
}
