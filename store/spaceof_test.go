package store

import (
	"errors"
	"testing"
)

// TestSpaceOf: SpaceOf is Space by value without an allocation; a bad
// name or quota gives a namespace without access (no records, zero
// quota), never another's.
func TestSpaceOf(t *testing.T) {
	s, _ := newSpaceStore(t)
	good := s.SpaceOf("notes", 100)
	if err := good.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { sp := s.SpaceOf("notes", 100); _ = sp.Used() }); n != 0 {
		t.Fatalf("SpaceOf allocates %v", n)
	}
	for _, bad := range []struct {
		name  string
		quota int
	}{{"", 0}, {"../notes", 100}, {"notes/..", 100}, {"notes", -1}, {"notes", s.Capacity() + 1}} {
		sp := s.SpaceOf(bad.name, bad.quota)
		if sp.Name() != "" || sp.Quota() != 0 || sp.Len() != 0 {
			t.Fatalf("%q %d: %q %d %d", bad.name, bad.quota, sp.Name(), sp.Quota(), sp.Len())
		}
		if _, ok := sp.Get("k", nil); ok {
			t.Fatalf("%q: reads notes' record", bad.name)
		}
		if err := sp.Put("x", []byte("y")); !errors.Is(err, ErrQuota) {
			t.Fatalf("%q: put %v", bad.name, err)
		}
	}
}
