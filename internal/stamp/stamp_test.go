package stamp

import (
	"testing"
	"time"
)

// TestRoundTrip: virtual instants (no monotonic reading, any location)
// come back Equal to the nanosecond, keep their order, and the zero time
// is the zero Stamp; a real clock's instant comes back with its monotonic
// reading (durations between rebuilt instants are the clock's).
func TestRoundTrip(t *testing.T) {
	if Of(time.Time{}) != 0 || !Stamp(0).Time().IsZero() || !Of(time.Time{}).IsZero() {
		t.Fatal("the zero time is not the zero Stamp")
	}
	epoch := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, v := range []time.Time{epoch, epoch.Add(time.Nanosecond), epoch.Add(-100 * 365 * 24 * time.Hour),
		epoch.Add(100 * 365 * 24 * time.Hour), time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600))} {
		s := Of(v)
		if s == 0 || !s.Time().Equal(v) {
			t.Fatalf("%v came back as %v", v, s.Time())
		}
		if !Of(v.Add(time.Nanosecond)).Time().After(s.Time()) {
			t.Fatalf("order lost at %v", v)
		}
		if got := Of(v.Add(time.Second)).Time().Sub(s.Time()); got != time.Second {
			t.Fatalf("a second became %v", got)
		}
	}
	if !Of(base).Time().Equal(base.Add(time.Nanosecond)) {
		t.Fatal("base itself")
	}
	now := time.Now()
	s := Of(now)
	if got := s.Time(); !got.Equal(now) || got.Round(0) == got {
		t.Fatalf("a real clock's instant lost its value or monotonic reading: %v vs %v", got, now)
	}
}
