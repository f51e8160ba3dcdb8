package ipv4

import (
	"math"
	"time"
)

// TokenBucket rate-limits ICMP messages (RFC 1812 §4.3.2.8, RFC 4443 §2.4 f):
// credit is kept in nanoseconds, each message costs Cost, and the credit
// refills with time up to Burst. The zero value allows everything. It is
// shared by ipv4.Host and ipv6.Host.
type TokenBucket struct {
	cost, burst, credit int64
	last                int64 // UnixNano of the last refill; math.MinInt64 until the first message
}

// NewTokenBucket allows perSec messages a second on average and burst in a
// row; perSec ≤ 0 allows everything.
func NewTokenBucket(perSec, burst int) TokenBucket {
	if perSec <= 0 {
		return TokenBucket{}
	}
	cost := int64(time.Second) / int64(perSec)
	return TokenBucket{cost: cost, burst: cost * int64(burst), last: math.MinInt64}
}

// Allow takes a token at now, reporting whether there was one. The bucket
// starts full at the first message.
func (b *TokenBucket) Allow(now time.Time) bool {
	if b.cost == 0 {
		return true
	}
	t := now.UnixNano()
	if b.last == math.MinInt64 {
		b.credit, b.last = b.burst, t
	}
	if el := t - b.last; el > 0 {
		b.credit = min(b.credit+min(el, b.burst), b.burst)
		b.last = t
	}
	if b.credit >= b.cost {
		b.credit -= b.cost
		return true
	}
	return false
}
