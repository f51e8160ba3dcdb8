package store

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// seedImages are valid images used as fuzz seeds.
func seedImages(t testing.TB) [][]byte {
	m := NewMemMedium(MinSize)
	s, err := CreateMedium(m, MinSize, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	empty := trimZeros(m.B)
	s.InitPIN([]byte("4711"), []byte("31415926"))
	s.SetClock(func() time.Time { return t0 })
	s.GenerateKey(seeded(2))
	s.PutFile("/i", "text/plain", []byte("hi"))
	s.SetConfig("k", "v")
	s.VerifyPIN([]byte("0000"))
	// An 8 KiB image with an RSA-2048 identity and its self-signed certificate.
	mr := NewMemMedium(8192)
	r, err := CreateMedium(mr, 8192, seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.setRSAKey(testRSAKey(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SelfSign("card", nil, []string{"card.local"}, t0, t0.Add(time.Hour), seeded(4)); err != nil {
		t.Fatal(err)
	}
	return [][]byte{empty, trimZeros(m.B), trimZeros(mr.B)}
}

// trimZeros drops an image's trailing zero bytes: the fuzz target pads
// its input back to MinSize, so seeds and inputs stay small (an image is
// mostly empty slot space), and mutation and minimisation work on the
// bytes that matter.
func trimZeros(b []byte) []byte {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return append([]byte(nil), b[:n]...)
}

// fuzzMedium is the medium a fuzz input stands for: its bytes, zero-padded
// to MinSize.
func fuzzMedium(b []byte) *MemMedium {
	m := &MemMedium{B: make([]byte, max(len(b), MinSize))}
	copy(m.B, b)
	return m
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzOpen when
// NETCARD_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("NETCARD_WRITE_SEEDS") == "" {
		t.Skip("set NETCARD_WRITE_SEEDS=1 to regenerate seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	os.MkdirAll(dir, 0o755)
	for i, img := range seedImages(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", img)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzOpen feeds arbitrary bytes (zero-padded to MinSize, at most 64 KiB)
// to the image reader: it must return a store or an error wrapping one of
// the package's image errors, never panic; an image it accepts must take
// a transaction and reopen with that transaction's state.
func FuzzOpen(f *testing.F) {
	for _, img := range seedImages(f) {
		f.Add(img)
	}
	f.Add([]byte("NCSTORE\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		m := fuzzMedium(b)
		s, err := OpenMedium(m)
		if err != nil {
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		s.SetClock(func() time.Time { return t0 })
		s.Files()
		s.Changes()
		s.Certificate()
		s.Info()
		s.VerifyPIN([]byte("4711"))
		if err := s.SetConfig("fuzz", "x"); err != nil {
			if errors.Is(err, ErrFull) {
				return
			}
			t.Fatalf("transaction on an accepted image: %v", err)
		}
		s2, err := OpenMedium(m)
		if err != nil {
			t.Fatalf("accepted image no longer opens after a transaction: %v", err)
		}
		if v, _ := s2.Config("fuzz"); v != "x" || s2.PINTriesLeft() != s.PINTriesLeft() || s2.ss != s.ss {
			t.Fatal("reopened image lost the transaction")
		}
	})
}

// TestCorruptEveryByte flips each byte of an image whose areas both hold
// an older state in one slot and a newer one in the other, two ways, and
// opens it: the result is an error wrapping ErrCorrupt (or ErrNotImage,
// ErrVersion, ErrTruncated for the superblock), or, per area, exactly the
// older or the newer state — never a mix of two slots, and a flip inside
// the newer slot never yields the newer state.
func TestCorruptEveryByte(t *testing.T) {
	m := NewMemMedium(MinSize)
	s, err := CreateMedium(m, MinSize, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return t0 })
	if err := s.InitPIN([]byte("4711"), []byte("31415926")); err != nil {
		t.Fatal(err)
	}
	if err := s.GenerateKey(seeded(2)); err != nil {
		t.Fatal(err)
	}
	s.SetConfig("k", "old")
	oldSec, oldData := string(s.ss.encode()), string(s.ds.encode())
	s.VerifyPIN([]byte("0000"))                      // newer secure state: one try used, backoff set
	if err := s.GenerateKey(seeded(3)); err != nil { // newer data state: another key
		t.Fatal(err)
	}
	newSec, newData := string(s.ss.encode()), string(s.ds.encode())
	if oldSec == newSec || oldData == newData {
		t.Fatal("states do not differ")
	}
	// inSlot: byte i is in the commit record or body of area a's current
	// slot (cur) or of its other one.
	inSlot := func(a area, cur bool, i int) bool {
		k, n := a.cur, len(newSec)
		if a.off == s.data.off {
			n = len(newData)
		}
		if !cur {
			k = 1 - k
		}
		off := int(a.off) + k*int(a.slot)
		return i >= off && i < off+slotHdrLen+n
	}
	counts := map[string]int{}
	for i := range m.B {
		for _, x := range []byte{0x01, 0xff} {
			img := append([]byte(nil), m.B...)
			img[i] ^= x
			o, err := OpenMedium(&MemMedium{B: img})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("flip %#x at %d: unclassified error %v", x, i, err)
				}
				if i >= superLen && !inSlot(s.sec, true, i) && !inSlot(s.data, true, i) {
					t.Fatalf("flip %#x at %d (outside the superblock and current slots) refused: %v", x, i, err)
				}
				counts["error"]++
				continue
			}
			gs, gd := string(o.ss.encode()), string(o.ds.encode())
			if gs != oldSec && gs != newSec || gd != oldData && gd != newData {
				t.Fatalf("flip %#x at %d: a state that is neither slot's", x, i)
			}
			if gs == newSec && inSlot(s.sec, true, i) || gd == newData && inSlot(s.data, true, i) {
				t.Fatalf("flip %#x at %d inside the newer slot: its corrupt state was taken", x, i)
			}
			// The key is the one of the data state taken.
			want := seeded(3)
			if gd == oldData {
				want = seeded(2)
			}
			ref, _ := CreateMedium(NewMemMedium(MinSize), MinSize, seeded(1))
			ref.GenerateKey(want)
			if !o.priv.(interface{ Equal(crypto.PrivateKey) bool }).Equal(ref.priv) {
				t.Fatalf("flip %#x at %d: key from the wrong half", x, i)
			}
			switch {
			case gs == oldSec:
				counts["old secure"]++
			case gd == oldData:
				counts["old data"]++
			default:
				counts["new"]++
			}
		}
	}
	t.Logf("%v", counts)
}
