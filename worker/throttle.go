package worker

import (
	"math"
	"time"
)

// Write budget constants.
const (
	// learnMargin keeps a learned limit this fraction below the writes
	// Graph accepted in the window when it refused one, against the jitter
	// between our count and Graph's.
	learnMargin = 0.9
	// learnWindows is how long, in windows, a learned limit holds before
	// the budget probes upward again, one write per window.
	learnWindows = 30
	// provenWindows is how far back, in windows, the writes Graph accepted
	// are evidence: a window that held n of our writes lately shows that
	// Graph's limit is above n-1, and a pending limit signal is compared
	// with the signals of this span.
	provenWindows = 2
	// noisyWindows is how long, in windows, a 429 that was not the limit
	// (random: another app used the tenant's budget) keeps the budget
	// careful: one write at a time, and a limit is learned only from two
	// signals at the same level.
	noisyWindows = 2
	// carefulHeadroom: a noisy budget has as many writes in flight as send
	// its whole allowance within 1/carefulHeadroom of the window at the
	// round trip seen (see budget.careful).
	carefulHeadroom = 4
	// rttWeight is the inverse weight of one write in the budget's moving
	// average of admission-to-answer times.
	rttWeight = 8
)

// budget is the write budget of one tenant in one Intune service: Graph
// allows at most limit writes in any trailing window of length window
// (Intune: 100 per 20 s per app per tenant; 200 for the devices service),
// and a Retry-After pauses the service's writes. It is guarded by its
// tenant's mutex.
//
// # Pacing
//
// A write holds a slot from its admission until window after its answer:
// Graph counted it when it arrived, which was after its admission and
// before its answer, so every write Graph could count in the window before
// a new one's arrival either is still unanswered or was answered less than
// window before the new one's admission. Admitting only while fewer than
// limit slots are held therefore never puts limit+1 writes into any window
// as Graph measures it, whatever the latency and its jitter, and still
// lets the whole allowance go at once: a tenant with 60 rows and 20 writes
// per 2 s writes at 0, 2 and 4 s, not spread over 6 s. The price is one
// round trip per slot and window.
//
// A budget is careful until a whole window has passed since its first
// write, and again for a window after each 429 (and while noisy): it
// writes one write at a time (while noisy, the few more it needs when one
// at a time cannot send its allowance within a quarter of the window, see
// careful). Writes already on the wire when a 429 comes back could not
// honour its Retry-After, and the first window's 429s are the ones that
// teach the limit, one at a time.
//
// # Learning a lower limit
//
// Graph may enforce less than the configured limit (other apps share the
// tenant's budget, or the configuration is wrong), and it also answers 429
// at random when other apps use the budget. A 429 at n (the writes Graph
// accepted from us in the trailing window when it refused this one) is a
// limit signal; a random 429 is told apart by evidence:
//
//   - When Graph accepted more than n of our writes in a window lately (the
//     last provenWindows windows), the 429 is random: the budget becomes
//     noisy and learns nothing. A write accepted at a count above a pending
//     signal refutes that signal the same way.
//   - A signal when the budget is not noisy, at least half the current
//     limit, learns at once: the limit becomes learnMargin·n for
//     learnWindows windows (a configured limit above the real one costs one
//     429). A random 429 later reverts such a single-signal limit.
//   - Otherwise two signals at the same level (within 10 %), at least half
//     a window apart and within provenWindows windows, without a write
//     accepted above them in between, are the limit (learned and kept,
//     whatever random 429s follow) when both hold: the level is clearly
//     below the ceiling (not within 10 %, or one, of it), and no write 429
//     clearly above the level (more than 10 %, or one, above it) was
//     refuted in the last provenWindows windows (a write accepted at a
//     higher count than that 429's within provenWindows windows after it
//     refutes it). A real limit refuses at its level in every window and
//     no write of ours gets past it, so once it holds no 429 is refuted
//     (the 429s that came when the limit dropped, at the budget's count
//     then, are refuted only by writes Graph took before the drop: they
//     delay the pair by up to provenWindows windows). Random 429s come at
//     any level, and the writes between them are accepted above it, except
//     where the budget cannot write above the level: at its ceiling (a
//     budget writing at its ceiling keeps its count there, slots freeing
//     as fast as writes take them), and while random 429s pause it so
//     often that its count stays low. Pairs there would confirm
//     learnMargin times a level the budget itself held, which becomes the
//     next steady state: random 429s alone would ratchet the limit down
//     faster than it climbs back. A real limit below the ceiling's level
//     is still confirmed by a pair; one at the ceiling's level is learned
//     from a single signal when the budget is not noisy, as above.
//
// After learnWindows windows the limit climbs back by one write per window
// towards the configured one, and a real limit is learned again by its
// next 429.
type budget struct {
	limit  int           // configured writes per window
	window time.Duration // configured window

	inflight int         // admitted writes whose answer is not in
	busy     []time.Time // when the slots of answered writes Graph counted free up, ascending
	peaks    []peak      // accepted writes' window counts: a decreasing deque over provenWindows
	refusals []peak      // write 429s' window counts over provenWindows, in time order
	refuted  []peak      // counts of 429s a write was accepted above: a decreasing deque over provenWindows

	learned      int       // learned limit; 0: none
	learnedUntil time.Time // when the learned limit starts to climb back
	confirmed    bool      // learned from two signals: a random 429 does not revert it
	signalN      int       // pending limit signal: the count it came at; 0: none
	signalAt     time.Time

	rtt         time.Duration // moving average of admission-to-answer times
	noisyUntil  time.Time     // a random 429 was seen: careful until then
	calmFrom    time.Time     // since when no 429 came (zero: no write yet)
	pausedUntil time.Time     // the gate: no write before this
	streak      int           // 429s since the last accepted write
}

// peak is the count of our writes in Graph's window when one of them was
// accepted (or refused) at at.
type peak struct {
	at    time.Time
	count int
}

// pushPeak drops the peaks of dq older than provenWindows windows at now
// and those not above count, and appends count at now: the first is then
// the highest count of the span.
func pushPeak(dq []peak, now time.Time, count int, window time.Duration) []peak {
	dq = recentPeaks(dq, now, window)
	for len(dq) > 0 && dq[len(dq)-1].count <= count {
		dq = dq[:len(dq)-1]
	}
	return append(dq, peak{at: now, count: count})
}

// recentPeaks drops the peaks of dq older than provenWindows windows at
// now.
func recentPeaks(dq []peak, now time.Time, window time.Duration) []peak {
	i := 0
	for i < len(dq) && now.Sub(dq[i].at) > provenWindows*window {
		i++
	}
	if i > 0 {
		dq = append(dq[:0], dq[i:]...)
	}
	return dq
}

// highestBelow is the highest count of dq below n (0: none).
func highestBelow(dq []peak, n int) int {
	m := 0
	for _, p := range dq {
		if p.count < n {
			m = max(m, p.count)
		}
	}
	return m
}

// highest is the highest count of the deque dq over provenWindows windows
// at now (0: none).
func highest(dq []peak, now time.Time, window time.Duration) int {
	for _, p := range dq {
		if now.Sub(p.at) <= provenWindows*window {
			return p.count
		}
	}
	return 0
}

func newBudget(limit int, window time.Duration) *budget {
	return &budget{limit: limit, window: window}
}

// ceiling is the number of writes the budget allows per window at now: the
// configured limit, a learned one, or a learned one climbing back.
func (b *budget) ceiling(now time.Time) int {
	if b.learned == 0 {
		return b.limit
	}
	if now.Before(b.learnedUntil) {
		return b.learned
	}
	c := b.learned + 1 + int(now.Sub(b.learnedUntil)/b.window)
	if c >= b.limit {
		b.learned, b.confirmed = 0, false
		return b.limit
	}
	return c
}

// prune frees the slots whose time is up.
func (b *budget) prune(now time.Time) {
	i := 0
	for i < len(b.busy) && !b.busy[i].After(now) {
		i++
	}
	if i > 0 {
		b.busy = append(b.busy[:0], b.busy[i:]...)
	}
}

// counted is the number of our writes Graph counted in the trailing window
// at now (answered within the last window), as far as we know.
func (b *budget) counted(now time.Time) int {
	b.prune(now)
	return len(b.busy)
}

// calm reports whether the budget may have any number of writes in
// flight: a whole window has passed since its first write and since its
// last 429, and it is not noisy.
func (b *budget) calm(now time.Time) bool {
	return !b.calmFrom.IsZero() && now.Sub(b.calmFrom) >= b.window && !now.Before(b.noisyUntil)
}

// careful is how many writes the budget may have in flight when it is not
// calm: one in its first window and after a limit's 429, so that the next
// 429 refuses one write only; while noisy (random 429s) one too, unless
// one at a time would take more than a quarter of the window to send the
// allowance at the round trip seen, then as many as send it within that
// quarter: after each pause the budget must catch up.
func (b *budget) careful(now time.Time) int {
	if !now.Before(b.noisyUntil) {
		return 1
	}
	return max(1, int(math.Ceil(carefulHeadroom*b.rtt.Seconds()*float64(b.ceiling(now))/b.window.Seconds())))
}

// room reports whether a write may be admitted at now and, when not
// because every slot is held by an answered write, when the first frees
// up (zero when only an answer can free one).
func (b *budget) room(now time.Time) (bool, time.Time) {
	held := b.inflight + b.counted(now)
	open := b.inflight < b.careful(now) || b.calm(now)
	if held < b.ceiling(now) && open {
		return true, time.Time{}
	}
	if open && len(b.busy) > 0 {
		return false, b.busy[0]
	}
	return false, time.Time{}
}

// admitted takes a slot at now.
func (b *budget) admitted(now time.Time) {
	b.inflight++
	if b.calmFrom.IsZero() {
		b.calmFrom = now
	}
}

// answered frees the slot of a write answered at now, took after its
// admission (0: not answered, released). counts: Graph counted it (any
// answer but 429, or an answer that may have been lost); evidence: Graph's
// answer says it passed the throttle (a definite answer but 429).
func (b *budget) answered(now time.Time, took time.Duration, counts, evidence bool) {
	b.inflight--
	if took > 0 {
		b.rtt += (took - b.rtt) / rttWeight
	}
	if !counts {
		return
	}
	b.busy = append(b.busy, now.Add(b.window))
	if !evidence {
		return
	}
	n := b.counted(now)
	b.peaks = pushPeak(b.peaks, now, n, b.window)
	b.refusals = recentPeaks(b.refusals, now, b.window)
	if m := highestBelow(b.refusals, n); m > 0 {
		// Graph took more than it had when it refused those: random.
		b.refuted = pushPeak(b.refuted, now, m, b.window)
	}
	if b.signalN > 0 && n > b.signalN {
		// Graph accepted more than the signal's count: it was not the
		// limit.
		b.signalN = 0
		b.notLimit(now)
	}
}

// proven is the most of our writes Graph accepted in one window lately.
func (b *budget) proven(now time.Time) int {
	return highest(b.peaks, now, b.window)
}

// throttled records a 429 answered at now that pauses the budget until
// until; write tells whether it answered a write (a read's 429 is a request
// limit and says nothing about the write limit). It returns whether the
// limit changed.
func (b *budget) throttled(now, until time.Time, write bool) bool {
	episode := now.Before(b.pausedUntil) // sent before the pause began: the same congestion
	if until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
	b.calmFrom = now
	if !write || episode {
		return false
	}
	return b.signal(now, b.counted(now))
}

// signal weighs a 429 that refused a write when Graph had accepted n of
// ours in the trailing window (see the type's documentation). It returns
// whether the limit changed.
func (b *budget) signal(now time.Time, n int) bool {
	before := b.ceiling(now)
	if b.signalN > 0 && now.Sub(b.signalAt) > provenWindows*b.window {
		b.signalN = 0 // too old to pair with
	}
	same := b.signalN > 0 && near(n, b.signalN)
	level := max(n, b.signalN)
	refuted := highest(b.refuted, now, b.window)
	b.refusals = append(recentPeaks(b.refusals, now, b.window), peak{at: now, count: n})
	// A pair is the limit only clearly below the ceiling and with no
	// refuted 429 clearly above its level lately (see the type's
	// documentation).
	pair := same && now.Sub(b.signalAt) >= b.window/2 && !near(level, before) && (refuted <= level || near(refuted, level))
	switch {
	case n == 0:
		// Refused with none of our writes in the window: not a limit we
		// can keep under.
		b.notLimit(now)
	case pair:
		b.learn(now, min(n, b.signalN), true)
	case same:
		// The same level again within half a window, at the ceiling's
		// level or after a refuted 429 above it: keep the first signal's
		// time; a limit shows again in the next window.
	case n >= b.proven(now) && !now.Before(b.noisyUntil) && b.learned == 0 && 2*n >= before:
		b.learn(now, n, false)
	default:
		if n < b.proven(now) {
			b.notLimit(now)
		}
		b.signalN, b.signalAt = n, now
	}
	return b.ceiling(now) != before
}

// near reports whether n is at the level of signal: within 10 %, or one.
func near(n, signal int) bool {
	d := n - signal
	return 10*max(d, -d) <= max(signal, 10)
}

// notLimit records a 429 that was not Graph's limit: the budget turns
// noisy, and a limit learned from a single signal is dropped (it was
// likely such a 429 too).
func (b *budget) notLimit(now time.Time) {
	b.noisyUntil = now.Add(noisyWindows * b.window)
	if b.learned > 0 && !b.confirmed {
		b.learned = 0
	}
}

// learn makes learnMargin·n the limit for learnWindows windows.
func (b *budget) learn(now time.Time, n int, confirmed bool) {
	b.learned = max(1, min(int(learnMargin*float64(n)), b.limit))
	b.learnedUntil = now.Add(learnWindows * b.window)
	b.confirmed = confirmed
	b.signalN = 0
}

// perSecond is the budget's current ceiling in writes per second.
func (b *budget) perSecond(now time.Time) float64 {
	return float64(b.ceiling(now)) / b.window.Seconds()
}
