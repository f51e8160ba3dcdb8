package count

import "testing"

func TestWiden(t *testing.T) {
	type narrow struct {
		A uint32
		B uint64
		C uint16
	}
	type wide struct {
		C, B, A uint64
		State   string
	}
	n := narrow{A: 1<<32 - 1, B: 1 << 40, C: 7}
	w := wide{State: "kept"}
	Widen(&w, &n)
	if w != (wide{7, 1 << 40, 1<<32 - 1, "kept"}) {
		t.Fatalf("got %+v", w)
	}
	if a := testing.AllocsPerRun(100, func() { Widen(&w, &n) }); a != 0 {
		t.Fatalf("%v allocations per Widen", a)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a counter wide lacks: no panic")
		}
	}()
	var short struct{ A uint64 }
	Widen(&short, &n)
}
