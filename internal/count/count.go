// Package count widens the counters a layer keeps narrow into the Stats it
// reports. A layer keeps most counters in 32 bits (half the RAM of its
// control block; they wrap after 2^32) in a struct that mirrors its exported
// Stats field for field; Widen copies them across by name, so the mirror
// is the only list of counters a layer writes twice. Each layer's
// StatsWiden test checks that no counter of Stats is missing from it.
package count

import "reflect"

// Widen sets each field of *wide named as a field of *narrow to that
// field's value. narrow is a struct of unsigned integer counters; wide has
// an unsigned field at least as wide of each name (and may have more
// fields, which Widen leaves alone). It panics otherwise (a programming
// error the layer's tests catch). It allocates nothing; it is meant for
// Stats calls, not for the per-packet path.
func Widen[W, N any](wide *W, narrow *N) {
	w, n := reflect.ValueOf(wide).Elem(), reflect.ValueOf(narrow).Elem()
	nt := n.Type()
	for i := range n.NumField() {
		f := w.FieldByName(nt.Field(i).Name)
		if !f.IsValid() {
			panic("count: " + w.Type().String() + " has no counter " + nt.Field(i).Name)
		}
		f.SetUint(n.Field(i).Uint())
	}
}
