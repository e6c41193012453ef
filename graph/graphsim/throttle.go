package graphsim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// window is the timestamps of the events of one sliding window, oldest
// first. It is guarded by the server's mutex.
type window struct {
	ts []time.Time
}

// prune drops the events at or before cutoff.
func (w *window) prune(cutoff time.Time) {
	i := 0
	for i < len(w.ts) && !w.ts[i].After(cutoff) {
		i++
	}
	if i > 0 {
		w.ts = w.ts[i:]
	}
}

// wait is how long after now the window, which holds at least limit
// events, will hold fewer than limit.
func (w *window) wait(now time.Time, limit int, span time.Duration) time.Duration {
	if len(w.ts) < limit {
		return 0
	}
	return max(w.ts[len(w.ts)-limit].Add(span).Sub(now), time.Nanosecond)
}

// windowOf returns the window stored under key, creating it.
func windowOf(m map[string]*window, key string) *window {
	w := m[key]
	if w == nil {
		w = &window{}
		m[key] = w
	}
	return w
}

// retryAfter spells a wait per mode. It returns the header value ("" for
// RetryAfterAbsent) and the instant the header tells the client to wait
// until (zero when absent). Every form rounds up, so a client that honours
// the header never comes back before the wait is over.
func retryAfter(mode RetryAfterMode, now time.Time, d time.Duration) (string, time.Time) {
	d = max(d, time.Millisecond)
	switch mode {
	case RetryAfterFractional:
		ms := int64(math.Ceil(float64(d) / float64(time.Millisecond)))
		return fmt.Sprintf("%d.%03d", ms/1000, ms%1000), now.Add(time.Duration(ms) * time.Millisecond)
	case RetryAfterDate:
		t := now.Add(d)
		if r := t.Truncate(time.Second); !r.Equal(t) {
			t = r.Add(time.Second)
		}
		return t.UTC().Format(http.TimeFormat), t
	case RetryAfterAbsent:
		return "", time.Time{}
	default:
		secs := int64(math.Ceil(d.Seconds()))
		return strconv.FormatInt(secs, 10), now.Add(time.Duration(secs) * time.Second)
	}
}

// MaxInWindow is the largest number of the sorted instants ts that fall in
// any half-open interval of length span (two pointers, exact): how
// [Server.MaxWritesInWindow] counts, for a client that wants to count its
// own writes the same way.
func MaxInWindow(ts []time.Time, span time.Duration) int {
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= span {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}
