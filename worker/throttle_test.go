package worker

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkassign/bulkassign/graph"
)

var graphErr429 = graph.Error{Class: graph.ClassThrottled, Op: "create", StatusCode: 429, RetryAfter: 2 * time.Second, HasRetryAfter: true}

func TestCeilingRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit  int
		window time.Duration
		want   float64
	}{
		{100, 20 * time.Second, 4.95},
		{2, time.Second, 1},
		{15, 2 * time.Second, 7},
	}
	for _, tt := range tests {
		if got := ceilingRate(tt.limit, tt.window); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("ceilingRate(%d, %s) = %v, want %v", tt.limit, tt.window, got, tt.want)
		}
	}
}

// TestTokenBucketNeverExceedsLimit checks the documented math with the
// real limiter on a fake clock: burst 1 and rate (L-1)/W admit at most L
// events in any closed interval of length W (so also in any half-open
// sliding window, as Graph and the simulator count), and the bound is tight.
func TestTokenBucketNeverExceedsLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit  int
		window time.Duration
	}{{100, 20 * time.Second}, {10, time.Second}, {2, time.Second}} {
		lim := rate.NewLimiter(rate.Limit(ceilingRate(tc.limit, tc.window)), 1)
		start := time.Unix(0, 0)
		var ts []time.Time
		now := start
		for len(ts) < 5*tc.limit {
			r := lim.ReserveN(now, 1)
			now = now.Add(r.DelayFrom(now))
			ts = append(ts, now)
		}
		best := 0
		for i := range ts {
			n := 0
			for j := i; j < len(ts) && ts[j].Sub(ts[i]) <= tc.window; j++ {
				n++
			}
			best = max(best, n)
		}
		if best != tc.limit {
			t.Errorf("limit %d per %s: max %d events in a window, want exactly %d", tc.limit, tc.window, best, tc.limit)
		}
		// With burst 2 the same rate would overshoot: the reason for burst 1.
		lim2 := rate.NewLimiter(rate.Limit(ceilingRate(tc.limit, tc.window)), 2)
		n := 0
		for now := start; now.Sub(start) <= tc.window; {
			r := lim2.ReserveN(now, 1)
			now = now.Add(r.DelayFrom(now))
			if now.Sub(start) <= tc.window {
				n++
			}
		}
		if n <= tc.limit {
			t.Errorf("burst 2: %d events in the first window, expected more than %d", n, tc.limit)
		}
	}
}

func TestAIMD(t *testing.T) {
	t.Parallel()
	w := time.Second
	t0 := time.Unix(1000, 0)
	type step struct {
		at       time.Duration // since t0
		throttle bool
		observed int
		want     float64
	}
	tests := []struct {
		name  string
		limit int
		steps []step
	}{
		{
			name: "cut by half, then additive increase to the ceiling", limit: 21,
			steps: []step{
				{0, true, 0, 10},                       // 20 → 10 (observed 0: nothing learned)
				{100 * time.Millisecond, false, 0, 11}, // +20/20
				{200 * time.Millisecond, false, 0, 12},
				{2 * time.Second, false, 0, 13},
			},
		},
		{
			name: "one cut per window", limit: 21,
			steps: []step{
				{0, true, 0, 10},
				{500 * time.Millisecond, true, 0, 10}, // same episode: no second cut
				{1500 * time.Millisecond, true, 0, 5}, // next window: cut again
			},
		},
		{
			name: "floor", limit: 3,
			steps: []step{
				{0, true, 0, 1}, {time.Second, true, 0, 0.5}, {2 * time.Second, true, 0, 0.25},
				{3 * time.Second, true, 0, 0.125}, {4 * time.Second, true, 0, rateFloor}, {5 * time.Second, true, 0, rateFloor},
			},
		},
		{
			name: "learned limit caps the increase", limit: 31, // ceiling 30/s
			steps: []step{
				{0, true, 21, 15}, // Graph accepted 21 in the window: learned 0.9·20 = 18/s
				{10 * time.Millisecond, false, 0, 16.5},
				{20 * time.Millisecond, false, 0, 18},
				{30 * time.Millisecond, false, 0, 18}, // capped by the learned limit
				{29 * time.Second, false, 0, 18},
				{31 * time.Second, false, 0, 19.5}, // learned limit expired after 30 windows: probe
			},
		},
		{
			name: "a 429 at a low rate teaches nothing", limit: 31,
			steps: []step{
				{0, true, 5, 15}, // 5 < half of 31: random 429, not the limit
				{10 * time.Millisecond, false, 0, 16.5},
				{20 * time.Millisecond, false, 0, 18},
				{30 * time.Millisecond, false, 0, 19.5},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAIMD(tt.limit, w)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				var got float64
				if s.throttle {
					got = a.throttled(now, s.observed)
				} else {
					got = a.succeeded(now)
				}
				if math.Abs(got-s.want) > 1e-9 {
					t.Fatalf("step %d: rate %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

func TestSlidingCount(t *testing.T) {
	t.Parallel()
	s := newSlidingCount(3)
	t0 := time.Unix(0, 0)
	for i := range 5 {
		s.add(t0.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	// Only the last 3 are kept: 200, 300, 400 ms.
	if got := s.count(t0.Add(400*time.Millisecond), time.Second); got != 3 {
		t.Errorf("count = %d, want 3 (capacity)", got)
	}
	if got := s.count(t0.Add(1250*time.Millisecond), time.Second); got != 2 {
		t.Errorf("count after 1.25s = %d, want 2 (300 and 400 ms)", got)
	}
}

// TestGateHoldsEveryJob checks on a fake clock that a 429 pauses every
// waiting job of the tenant until the Retry-After, and that the token
// bucket spaces them afterwards.
func TestGateHoldsEveryJob(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{WriteLimit: 11, WriteWindow: time.Second}.withDefaults()
		tn := newTenant(&Worker{cfg: cfg, log: cfg.Logger, m: cfg.Metrics}, "t")
		start := time.Now()
		tn.throttled(&graphErr429)
		got := make(chan time.Duration, 3)
		for range 3 {
			go func() {
				if err := tn.admit(t.Context(), time.Time{}); err != nil {
					t.Error(err)
				}
				got <- time.Since(start)
			}()
		}
		var ds []time.Duration
		for range 3 {
			ds = append(ds, <-got)
		}
		for _, d := range ds {
			if d < 2*time.Second {
				t.Errorf("a job passed the gate after %s, before the 2s Retry-After", d)
			}
		}
		// Rate after the cut: 10/s ×0.5 = 5/s: 200ms apart.
		if spread := max(ds[0], ds[1], ds[2]) - min(ds[0], ds[1], ds[2]); spread < 400*time.Millisecond {
			t.Errorf("three jobs after the gate spread over %s, want >= 400ms (5/s)", spread)
		}
		// A deadline before the gate opens fails fast.
		tn.throttled(&graphErr429)
		if err := tn.gate(t.Context(), time.Now().Add(time.Second)); err != errDeadline {
			t.Errorf("gate with an earlier deadline: %v, want errDeadline", err)
		}
	})
}
