package ctiapi

import (
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket per API token: Rate requests per second on
// average, bursts of up to Burst. A request over the limit is refused with
// 429 Too Many Requests, code rate_limited, and a Retry-After header in
// whole seconds. The zero value means no limit.
type RateLimit struct {
	Rate  float64 // requests per second; <= 0: unlimited
	Burst int     // bucket size; default max(1, ceil(Rate))
}

// CodeRateLimited is the error code of a 429.
const CodeRateLimited = "rate_limited"

func (l RateLimit) enabled() bool { return l.Rate > 0 && !math.IsInf(l.Rate, 1) }

func (l RateLimit) burst() float64 {
	if l.Burst > 0 {
		return float64(l.Burst)
	}
	return math.Max(1, math.Ceil(l.Rate))
}

// bucket is one token's bucket. A mutex per token: contention only
// between requests of the same token, and the critical section is a few
// float operations.
type bucket struct {
	mu     sync.Mutex
	limit  RateLimit
	tokens float64
	last   time.Time
}

// take takes one token at now, or says how long until one is available.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.limit.Rate * float64(time.Second))
}

// retryAfter is the Retry-After value: whole seconds, at least 1.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// refill brings the bucket up to now; b.mu is held.
func (b *bucket) refill(now time.Time) {
	burst := b.limit.burst()
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(burst, b.tokens+d.Seconds()*b.limit.Rate)
	}
	b.last = now
}

// peek reports whether the bucket is empty at now (no token to take), and
// how long until it has one, without taking any.
func (b *bucket) peek(now time.Time) (empty bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) / b.limit.Rate * float64(time.Second))
}

// full reports whether the bucket has refilled completely at now.
func (b *bucket) full(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return b.tokens >= b.limit.burst()
}
