package counttest

import (
	"testing"

	"netcard/internal/count"
)

type narrow struct{ A, B uint32 }
type wide struct {
	A, B  uint64
	State int
}
type wider struct{ A, B, C uint64 }

func export(n *narrow) wide {
	var w wide
	count.Widen(&w, n)
	return w
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(r) }
func run(f func(tb testing.TB)) (failed bool) {
	r := &recorder{}
	func() { defer func() { recover() }(); f(r) }()
	return r.failed
}

// TestCheckWiden: a faithful mirror passes; a Stats with a counter the
// mirror lacks, or an export that drops a counter, fails.
func TestCheckWiden(t *testing.T) {
	if run(func(tb testing.TB) { CheckWiden(tb, export, 1) }) {
		t.Error("a faithful mirror failed")
	}
	if !run(func(tb testing.TB) {
		CheckWiden(tb, func(n *narrow) wider { var w wider; count.Widen(&w, n); return w }, 0)
	}) {
		t.Error("a counter missing from the mirror passed")
	}
	if !run(func(tb testing.TB) { CheckWiden(tb, func(n *narrow) wide { return wide{A: uint64(n.A)} }, 1) }) {
		t.Error("a counter dropped by export passed")
	}
}
