// Package counttest checks a layer's 32-bit counter mirror against the Stats
// it widens into (package count): the check each layer's StatsWiden test
// makes.
package counttest

import (
	"reflect"
	"testing"
)

// CheckWiden fills every counter of a mirror N with a distinct value
// (1000 + its index), widens it with export and checks that each reaches
// the field of the same name in W unchanged. W must have exactly extra
// fields besides the counters (states a Stats reports that are not
// counters), so a counter added to W but not kept in N fails.
func CheckWiden[N, W any](t testing.TB, export func(*N) W, extra int) {
	t.Helper()
	var c N
	v := reflect.ValueOf(&c).Elem()
	nt, wt := v.Type(), reflect.TypeOf(*new(W))
	if wt.NumField() != nt.NumField()+extra {
		t.Fatalf("%s has %d fields, %s keeps %d counters (+%d other fields expected)", wt, wt.NumField(), nt, nt.NumField(), extra)
	}
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(1000 + i))
	}
	got := reflect.ValueOf(export(&c))
	for i := range nt.NumField() {
		f := got.FieldByName(nt.Field(i).Name)
		if !f.IsValid() || f.Uint() != uint64(1000+i) {
			t.Errorf("%s.%s: %v, want %d", wt, nt.Field(i).Name, f, 1000+i)
		}
	}
}
