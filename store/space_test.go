package store

import (
	"bytes"
	"errors"
	"testing"
)

func newSpaceStore(t *testing.T) (*Store, *MemMedium) {
	t.Helper()
	m := NewMemMedium(DefaultSize)
	s, err := CreateMedium(m, DefaultSize, bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

// TestSpaceIsolation: two applications' namespaces hold the same key
// apart; one never sees the other's records or the card's files.
func TestSpaceIsolation(t *testing.T) {
	s, _ := newSpaceStore(t)
	a, _ := s.Space("alpha", 1000)
	b, _ := s.Space("beta", 1000)
	if err := s.PutFile("vault/secret", "text/plain", []byte("pin-protected")); err != nil {
		t.Fatal(err)
	}
	if err := a.Put("k", []byte("from alpha")); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Get("k", nil); ok {
		t.Fatal("beta read alpha's record")
	}
	for _, k := range []string{"../alpha/k", "../../vault/secret", "/../alpha/k"} {
		if v, ok := b.Get(k, nil); ok {
			t.Fatalf("beta read %q through %q", v, k)
		}
	}
	if err := b.Put("k", []byte("from beta")); err != nil {
		t.Fatal(err)
	}
	if v, _ := a.Get("k", nil); string(v) != "from alpha" {
		t.Fatalf("alpha's record is %q", v)
	}
	if ks := b.Keys(); len(ks) != 1 || ks[0] != "k" {
		t.Fatalf("beta keys %q", ks)
	}
	if err := b.Delete("../alpha/k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("beta deleting through ..: %v", err)
	}
	if _, err := s.Space("Bad/Name", 10); err == nil {
		t.Fatal("bad name accepted")
	}
}

// TestSpaceQuota: a change past the quota fails whole and changes nothing,
// and the namespace survives a reopen.
func TestSpaceQuota(t *testing.T) {
	s, m := newSpaceStore(t)
	sp, _ := s.Space("q", 100)
	if err := sp.Put("a", make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	seq := s.Seq()
	err := sp.Update(func(b *SpaceBatch) error {
		b.Put("b", make([]byte, 10))
		b.Put("c", make([]byte, 40)) // 61+11+41 > 100
		return nil
	})
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("over quota: %v", err)
	}
	if s.Seq() != seq || sp.Len() != 1 || sp.Used() != 61 {
		t.Fatalf("a refused batch changed the store: seq %d→%d, %d records, %d bytes", seq, s.Seq(), sp.Len(), sp.Used())
	}
	// Replacing a record counts its new size only.
	if err := sp.Put("a", make([]byte, 99)); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	sp2, _ := s2.Space("q", 100)
	if v, ok := sp2.Get("a", make([]byte, 0, 128)); !ok || len(v) != 99 {
		t.Fatalf("after reopen: %d bytes, %v", len(v), ok)
	}
	if err := sp2.Put("", nil); err == nil {
		t.Fatal("empty key accepted")
	}
}

func TestSpaceGetNoAlloc(t *testing.T) {
	s, _ := newSpaceStore(t)
	sp, _ := s.Space("z", 100)
	sp.Put("key", []byte("value"))
	buf := make([]byte, 0, 16)
	if n := testing.AllocsPerRun(100, func() { buf, _ = sp.Get("key", buf) }); n != 0 {
		t.Fatalf("Get allocates %v times", n)
	}
}
