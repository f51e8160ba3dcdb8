package ipv4

import (
	"math"
	"time"
)

// TokenBucket rate-limits ICMP messages (RFC 1812 §4.3.2.8, RFC 4443 §2.4 f):
// credit is kept in microseconds, each message costs Cost, and the credit
// refills with time up to Burst. The zero value allows everything. It is
// shared by ipv4.Host and ipv6.Host.
//
// It is 16 bytes (32 before): the amounts in 32-bit microseconds (a
// message costs at most a second, the burst at most MaxInt32 µs, 35
// minutes of credit), the time of the last refill in 32-bit milliseconds
// (UnixMilli modulo 2^32). A refill counts whole milliseconds from one
// refill to the next, so no time is lost to rounding. The clock read
// modulo 2^32 ms wraps after 49.7 days: a bucket left without any message
// that long may refill less than full on its next one (the elapsed time
// seen modulo 2^32 ms) — it then errs on the side of sending fewer ICMP
// messages. A clock going backwards refills the bucket (at most Burst).
type TokenBucket struct {
	cost, burst int32  // µs a message costs; the most credit, µs
	credit      int32  // µs; -1 before the first message (the bucket starts full then)
	last        uint32 // ms (UnixMilli mod 2^32) of the last refill
}

// NewTokenBucket allows perSec messages a second on average and burst in a
// row; perSec ≤ 0 allows everything (so does perSec above a million: a
// message then costs under a microsecond).
func NewTokenBucket(perSec, burst int) TokenBucket {
	if perSec <= 0 || perSec > int(time.Second/time.Microsecond) {
		return TokenBucket{}
	}
	cost := int64(time.Second/time.Microsecond) / int64(perSec)
	return TokenBucket{cost: int32(cost), burst: int32(min(cost*int64(max(burst, 0)), math.MaxInt32)), credit: -1}
}

// Allow takes a token at now, reporting whether there was one. The bucket
// starts full at the first message.
func (b *TokenBucket) Allow(now time.Time) bool {
	if b.cost == 0 {
		return true
	}
	t := uint32(now.UnixMilli())
	if b.credit < 0 {
		b.credit, b.last = b.burst, t
	}
	if el := t - b.last; el > 0 {
		// µs; 2^31 ms or more (or the clock went back) refills it all.
		b.credit = int32(min(int64(b.credit)+int64(el)*1000, int64(b.burst)))
		b.last = t
	}
	if b.credit >= b.cost {
		b.credit -= b.cost
		return true
	}
	return false
}
