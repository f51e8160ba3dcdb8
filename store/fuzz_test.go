package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// seedImages are valid images used as fuzz seeds.
func seedImages(t testing.TB) [][]byte {
	m := NewMemMedium(MinSize)
	s, err := CreateMedium(m, MinSize, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	empty := append([]byte(nil), m.B...)
	s.InitPIN([]byte("4711"), []byte("31415926"))
	s.GenerateKey(seeded(2))
	s.PutFile("/i", "text/plain", []byte("hi"))
	s.SetConfig("k", "v")
	s.VerifyPIN([]byte("0000"))
	return [][]byte{empty, append([]byte(nil), m.B...)}
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

// FuzzOpen feeds arbitrary bytes to the image reader: it must return a store
// or an error, never panic; an image it accepts must take a transaction and
// reopen.
func FuzzOpen(f *testing.F) {
	for _, img := range seedImages(f) {
		f.Add(img)
	}
	f.Add([]byte("NCSTORE\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		m := &MemMedium{B: append([]byte(nil), b...)}
		s, err := OpenMedium(m)
		if err != nil {
			return
		}
		s.Files()
		s.Changes()
		s.Certificate()
		s.VerifyPIN([]byte("4711"))
		if err := s.SetConfig("fuzz", "x"); err != nil && err != ErrFull {
			return
		}
		if _, err := OpenMedium(m); err != nil {
			t.Fatalf("accepted image no longer opens after a transaction: %v", err)
		}
	})
}
