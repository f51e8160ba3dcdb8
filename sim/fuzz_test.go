package sim

import "testing"

// FuzzWire: the wire analyzer takes any byte stream without panicking, its
// memory stays bounded and its results stay in range.
func FuzzWire(f *testing.F) {
	f.Add([]byte{0x7e, 0x21, 0x45, 0x00, 0x00, 0x28, 0x7e})
	f.Add([]byte{0x7e, 0xff, 0x7d, 0x23, 0x00, 0x21, 0x45, 0x7d, 0x5e, 0x7e, 0x7e})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a wireAnalyzer
		a.feed(b)
		a.feed(b)
		w := a.result(1024)
		if len(a.frame) > maxAnalyzedFrame || w.EscapeRate < 0 || w.MSS < 0 || w.MSS > 65535 {
			t.Fatalf("out of range: %+v, frame %d", w, len(a.frame))
		}
		_ = w.MaxGoodput(115200)
	})
}
