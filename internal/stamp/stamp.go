// Package stamp keeps an instant in 8 bytes instead of a time.Time's 24,
// for the per-connection deadlines and activity times the card holds for
// every session (http.ServerConn, apps.ServerSession).
package stamp

import "time"

// Stamp is an instant as its offset in nanoseconds from base, an instant
// of the process read once (the same for every connection and card: no
// per-card state). When both the instant and base carry a monotonic clock
// reading (time.Now), the offset is monotonic and so is the instant Time
// rebuilds; an injected clock without one (the simulations' virtual time)
// gets wall-clock arithmetic, exact to the nanosecond. The zero Stamp is
// the zero time.Time. Instants within ±292 years of base are kept exactly.
type Stamp int64

// base is read once at start-up (process-wide and read-only).
var base = time.Now()

// Of returns the Stamp of t (0 for the zero time.Time).
func Of(t time.Time) Stamp {
	if t.IsZero() {
		return 0
	}
	d := t.Sub(base)
	if d == 0 {
		d = 1 // t is base itself: one nanosecond later, as 0 means the zero time
	}
	return Stamp(d)
}

// Time returns the instant (the zero time.Time for 0). It equals what Of
// was given (time.Time.Equal), though not its location for display.
func (s Stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return base.Add(time.Duration(s))
}

// IsZero reports whether s is the zero time.
func (s Stamp) IsZero() bool { return s == 0 }
