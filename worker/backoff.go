package worker

import (
	"time"
)

// Retry timing constants.
const (
	// baseBackoff is the first retry's backoff ceiling; it doubles per
	// attempt up to Config.MaxBackoff.
	baseBackoff = time.Second
	// minBackoff is the shortest delay backoff returns: a NakWithDelay of
	// (almost) zero would be a plain Nak, an immediate redelivery.
	minBackoff = 100 * time.Millisecond
)

// backoff is the delay before retry number attempt (1 for the first retry)
// with full jitter: a uniform draw, u in [0, 1), from [0, c) where
// c = min(ceiling, base·2^(attempt-1)), but never below min(minBackoff, c).
// It is a pure function: the caller supplies the random draw.
//
// Full jitter (rather than equal or no jitter) spreads the retries of many
// jobs that failed together, so they do not come back as one burst.
func backoff(attempt int, base, ceiling time.Duration, u float64) time.Duration {
	if base <= 0 {
		base = baseBackoff
	}
	ceiling = max(ceiling, base)
	c := base
	for i := 1; i < attempt && c < ceiling; i++ {
		c *= 2
	}
	c = min(c, ceiling)
	u = min(max(u, 0), 1)
	d := time.Duration(u * float64(c))
	return min(max(d, min(minBackoff, c)), c)
}

// jobDeadline is when a job published at published must be finished.
func jobDeadline(published time.Time, d time.Duration) time.Time {
	return published.Add(d)
}

// retryFits reports whether a retry delay from now still starts at or
// before the deadline. A retry that would start after it is pointless: the
// job fails now, with the error that made it retry.
func retryFits(now, deadline time.Time, delay time.Duration) bool {
	return !now.Add(delay).After(deadline)
}
