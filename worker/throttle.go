package worker

import (
	"time"
)

// Adaptive throttling constants.
const (
	// rateFloor is the lowest rate (writes per second) a tenant is cut to.
	rateFloor = 0.1
	// cutFactor is the multiplicative decrease on a throttle.
	cutFactor = 0.5
	// increaseSteps is how many successful writes take the rate from zero
	// to the ceiling: each success adds ceiling/increaseSteps.
	increaseSteps = 20
	// learnWindows is how long, in write windows, a learned limit holds
	// before the configured one is tried again.
	learnWindows = 30
	// learnMargin keeps a learned rate this fraction below what Graph was
	// seen to accept, against jitter between our clock and Graph's.
	learnMargin = 0.9
)

// ceilingRate is the token-bucket rate that never exceeds limit writes in
// any window of length window. A bucket of burst b refilling at r per
// second admits at most b + r·W events in any interval of length W (the
// full bucket, then one per 1/r). With burst 1, r = (limit-1)/W admits at
// most limit. limit must be at least 2.
func ceilingRate(limit int, window time.Duration) float64 {
	return float64(limit-1) / window.Seconds()
}

// aimd is a tenant's adaptive write rate: additive increase, multiplicative
// decrease, and a learned limit.
//
//   - A throttle (429) cuts the rate by cutFactor (floor rateFloor), at most
//     once per window: the 429s of one congestion episode arrive together
//     and are one signal, as TCP cuts once per round trip.
//   - Each successful write adds ceiling/increaseSteps, up to the ceiling.
//   - The ceiling is the configured one, (WriteLimit-1)/WriteWindow, unless
//     Graph has shown a lower limit: on a throttle, the writes Graph accepted
//     from us in the trailing window (observed) is the limit it enforces
//     right now (another app may share the tenant's budget, or the
//     configured limit is simply too high). When observed is at least half
//     the current ceiling's count (so a random 429 at a low rate does not
//     count as a limit), the ceiling becomes learnMargin·(observed-1)/W for
//     learnWindows windows, after which the configured ceiling is probed
//     again by additive increase.
//
// Plain AIMD against a sliding-window limit throttles once per sawtooth:
// it climbs until Graph refuses, every few dozen writes. The learned limit
// keeps the rate under what Graph accepts, so 429s become rare (one per
// learnWindows windows at most) while the rate stays near the real limit.
//
// aimd is not safe for concurrent use; the tenant guards it.
type aimd struct {
	limit  int           // configured writes per window
	window time.Duration // configured window

	rate         float64   // current writes per second
	learned      float64   // learned ceiling, writes per second; 0: none
	learnedUntil time.Time // when the learned ceiling expires
	lastCut      time.Time // when the rate was last cut
}

// newAIMD starts at the configured ceiling.
func newAIMD(limit int, window time.Duration) aimd {
	return aimd{limit: limit, window: window, rate: ceilingRate(limit, window)}
}

// ceiling is the rate the tenant may climb to at now.
func (a *aimd) ceiling(now time.Time) float64 {
	c := ceilingRate(a.limit, a.window)
	if a.learned > 0 && now.Before(a.learnedUntil) {
		return min(c, a.learned)
	}
	return c
}

// throttled records a 429 at now; observed is the number of our writes
// Graph accepted for the tenant in the window before it. It returns the new
// rate.
func (a *aimd) throttled(now time.Time, observed int) float64 {
	ceil := a.ceiling(now)
	if observed >= 2 && float64(observed) >= (ceil*a.window.Seconds()+1)/2 {
		learned := max(learnMargin*float64(observed-1)/a.window.Seconds(), rateFloor)
		if learned < ceil || !now.Before(a.learnedUntil) {
			a.learned = min(learned, ceilingRate(a.limit, a.window))
		}
		a.learnedUntil = now.Add(learnWindows * a.window)
	}
	if a.lastCut.IsZero() || now.Sub(a.lastCut) >= a.window {
		a.rate *= cutFactor
		a.lastCut = now
	}
	a.rate = min(max(a.rate, rateFloor), a.ceiling(now))
	return a.rate
}

// succeeded records a write Graph accepted at now and returns the new rate.
func (a *aimd) succeeded(now time.Time) float64 {
	ceil := a.ceiling(now)
	a.rate = min(a.rate+ceilingRate(a.limit, a.window)/increaseSteps, ceil)
	a.rate = max(a.rate, rateFloor)
	return a.rate
}

// slidingCount counts events in a trailing window. It keeps at most cap
// timestamps (the count it can report is capped there), so its memory is
// bounded whatever the event rate.
type slidingCount struct {
	ts  []time.Time // ring, oldest at head once full
	cap int
	pos int
}

func newSlidingCount(capacity int) slidingCount {
	return slidingCount{cap: max(capacity, 1)}
}

// add records an event at t.
func (s *slidingCount) add(t time.Time) {
	if len(s.ts) < s.cap {
		s.ts = append(s.ts, t)
		return
	}
	s.ts[s.pos] = t
	s.pos = (s.pos + 1) % s.cap
}

// count is the number of recorded events in (now-window, now].
func (s *slidingCount) count(now time.Time, window time.Duration) int {
	n := 0
	for _, t := range s.ts {
		if now.Sub(t) < window && !t.After(now) {
			n++
		}
	}
	return n
}
