package store

import (
	"bytes"
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
