package store

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestScratch: scratch regions lie after the image, are bounded, and writing
// them (even garbage, as a tear would leave) changes nothing Open reads; a
// MemMedium without room refuses them (ErrNoScratch), a file grows.
func TestScratch(t *testing.T) {
	m := NewMemMedium(MinSize*4 + 2*1000)
	s, err := CreateMedium(m, MinSize*4, bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutFile("a", "text/plain", []byte("data")); err != nil {
		t.Fatal(err)
	}
	img := append([]byte(nil), m.B[:MinSize*4]...)
	for i := 0; i < 2; i++ {
		r, err := s.Scratch(i, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.WriteAt(bytes.Repeat([]byte{0xff}, 1000), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := r.WriteAt([]byte{1}, 1000); err == nil {
			t.Fatal("write past the region")
		}
		if _, err := r.ReadAt(make([]byte, 2), 999); err == nil {
			t.Fatal("read past the region")
		}
		b := make([]byte, 10)
		if _, err := r.ReadAt(b, 990); err != nil || !bytes.Equal(b, bytes.Repeat([]byte{0xff}, 10)) {
			t.Fatal(err, b)
		}
	}
	if !bytes.Equal(m.B[:MinSize*4], img) {
		t.Fatal("scratch writes changed the image")
	}
	if _, err := s.Scratch(2, 1000); err != ErrNoScratch {
		t.Fatalf("a third region on a full medium: %v", err)
	}
	s2, err := OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := s2.File("a"); !ok || string(f.Data) != "data" {
		t.Fatal("file lost")
	}
	path := filepath.Join(t.TempDir(), "img")
	fs, err := Create(path, MinSize*4, bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	r, err := fs.Scratch(3, 500)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("x"), 499); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(MinSize*4+4*500) {
		t.Fatalf("file of %d bytes", fi.Size())
	}
	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
}

// blockWearMedium counts the writes landing on each ScratchBlock of a medium.
type blockWearMedium struct {
	*MemMedium
	blocks map[int64]int
}

func (c *blockWearMedium) WriteAt(p []byte, off int64) (int, error) {
	for b := off / ScratchBlock; b <= (off+int64(len(p))-1)/ScratchBlock; b++ {
		c.blocks[b]++
	}
	return c.MemMedium.WriteAt(p, off)
}

// TestScratchRingWear: records of seeded lengths written as tls.Spill
// writes them (whole 512-byte chunks from the record's start, the last one
// short) through a ring of 8 records' worth spread their writes over every
// block of the region evenly — the most written block sees at most 1.5×
// the least written one, and ≈ 1/8 of the records — while without the ring
// (every record from the region's start) the first block sees every record.
// The records read back intact (a wrapped one included), the counters match
// the bytes and blocks written, and the image is untouched.
func TestScratchRingWear(t *testing.T) {
	const recMax, ring, records = 16392, 8, 2000
	region := ring * 16896
	for _, useRing := range []bool{true, false} {
		cm := &blockWearMedium{MemMedium: NewMemMedium(MinSize*4 + region), blocks: map[int64]int{}}
		s, err := CreateMedium(cm, MinSize*4, bytes.NewReader(make([]byte, 64)))
		if err != nil {
			t.Fatal(err)
		}
		img := append([]byte(nil), cm.B[:MinSize*4]...)
		clear(cm.blocks)
		r, err := s.Scratch(0, region)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var bytesW, blocksW uint64
		rec := make([]byte, recMax)
		back := make([]byte, recMax)
		for i := 0; i < records; i++ {
			n := recMax/2 + rng.IntN(recMax/2+1)
			for j := range rec[:n] {
				rec[j] = byte(rng.Uint32())
			}
			if useRing {
				r.NextRecord()
			}
			for off := 0; off < n; off += ScratchBlock {
				k := min(ScratchBlock, n-off)
				if _, err := r.WriteAt(rec[off:off+k], int64(off)); err != nil {
					t.Fatal(err)
				}
				bytesW += uint64(k)
				blocksW++
			}
			if _, err := r.ReadAt(back[:n], 0); err != nil || !bytes.Equal(back[:n], rec[:n]) {
				t.Fatalf("record %d of %d bytes read back wrong: %v", i, n, err)
			}
		}
		// a record may not outgrow the region, wherever the ring starts it
		if useRing {
			r.NextRecord()
			if _, err := r.WriteAt(make([]byte, 2), int64(region-1)); err != errScratchRange {
				t.Fatalf("a record past the region's length: %v", err)
			}
			if _, err := r.ReadAt(make([]byte, 1), -1); err != errScratchRange {
				t.Fatalf("a negative offset: %v", err)
			}
		}
		if st := s.ScratchStats(); st.BytesWritten != bytesW || st.BlockWrites != blocksW {
			t.Fatalf("counters %+v, wrote %d bytes in %d blocks", st, bytesW, blocksW)
		}
		lo, hi := records, 0
		first := int64(MinSize*4) / ScratchBlock
		for b := first; b < first+int64(region/ScratchBlock); b++ {
			lo, hi = min(lo, cm.blocks[b]), max(hi, cm.blocks[b])
		}
		if len(cm.blocks) > region/ScratchBlock {
			t.Fatalf("writes outside the region: %d blocks", len(cm.blocks))
		}
		t.Logf("ring %v: %d records, writes per block %d..%d", useRing, records, lo, hi)
		if useRing && (lo == 0 || hi*2 > lo*3 || hi > records/ring*2) {
			t.Fatalf("ring: writes per block %d..%d for %d records", lo, hi, records)
		}
		if !useRing && hi != records {
			t.Fatalf("no ring: the first block saw %d of %d records", hi, records)
		}
		if !bytes.Equal(cm.B[:MinSize*4], img) {
			t.Fatal("scratch writes changed the image")
		}
		if _, err := OpenMedium(cm.MemMedium); err != nil {
			t.Fatal(err)
		}
	}
}
