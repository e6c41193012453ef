package worker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
)

// throttleTrace is a slog.Handler that keeps, of the worker's "tenant
// throttled" records, the count observed and the ceiling after each 429,
// and passes warnings and errors on to next.
type throttleTrace struct {
	next slog.Handler
	mu   *sync.Mutex
	recs *[]string
}

func newThrottleTrace(next slog.Handler) throttleTrace {
	return throttleTrace{next: next, mu: &sync.Mutex{}, recs: new([]string)}
}

func (h throttleTrace) Enabled(context.Context, slog.Level) bool { return true }

func (h throttleTrace) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "tenant throttled" {
		var observed, limit int64
		var changed bool
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "observed":
				observed = a.Value.Int64()
			case "limit":
				limit = a.Value.Int64()
			case "limit_changed":
				changed = a.Value.Bool()
			}
			return true
		})
		mark := ""
		if changed {
			mark = "*"
		}
		h.mu.Lock()
		*h.recs = append(*h.recs, fmt.Sprintf("%s %d→%d%s", r.Time.Format("05.000"), observed, limit, mark))
		h.mu.Unlock()
	}
	if r.Level >= slog.LevelWarn && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h throttleTrace) WithAttrs(as []slog.Attr) slog.Handler {
	return throttleTrace{next: h.next.WithAttrs(as), mu: h.mu, recs: h.recs}
}

func (h throttleTrace) WithGroup(name string) slog.Handler {
	return throttleTrace{next: h.next.WithGroup(name), mu: h.mu, recs: h.recs}
}

func (h throttleTrace) records() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.recs)
}

// TestRandomThrottleLongRun: TestRandomThrottleKeepsBudget over about 35
// windows instead of 8 (the shape of BenchmarkRunThrottled, 10 % random
// 429s with a Retry-After of a tenth to three tenths of the window, scaled
// to a 1 s window): random 429s at steady state, where the tenant writes
// at its ceiling, must not ratchet the budget down. The tenant keeps at
// least 80 % of the budget (0.8 × 0.9 × 20 writes per window) over the run
// and in its second half, never sends a write before a Retry-After it
// received ran out, and never goes over the limit. The 429s, each with the
// count observed and the ceiling after it, are logged.
func TestRandomThrottleLongRun(t *testing.T) {
	t.Parallel()
	const limit, rows = 20, 640
	window := time.Second
	seed := time.Now().UnixNano()
	t.Logf("simulator seed %d", seed)
	log := newWriteLog()
	b := setup(t, opts{sim: graphtest.Config{Window: window, AppWriteLimit: limit, TenantWriteLimit: 2 * limit,
		ThrottleRate: 0.1, RetryAfter: graphtest.RetryAfterFractional, RetryAfterMin: 100 * time.Millisecond,
		RetryAfterMax: 300 * time.Millisecond, EarlyGrace: 30 * time.Millisecond, Seed: seed}, transport: log.wrap})
	tenant := guid("tenant/random/long")
	js := makeJobs(spec{importID: "long", tenant: tenant, kind: "deviceConfigurations", policies: 4, rows: rows})
	b.publish(js)
	trace := newThrottleTrace(testLogger(t).Handler())
	b.run(b.newWorker(Config{WriteLimit: limit, WriteWindow: window, Logger: slog.New(trace)}, nil))
	rs := b.waitResults("long", rows, 120*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != rows {
		t.Fatalf("statuses %v, want all created", got)
	}
	acc, thr := log.times(tenant)
	slices.SortFunc(acc, time.Time.Compare)
	slices.SortFunc(thr, time.Time.Compare)
	perWindow := func(ts []time.Time) float64 {
		return float64(len(ts)) / (ts[len(ts)-1].Sub(ts[0]).Seconds()/window.Seconds() + 1)
	}
	// Writes answered in each window from the first.
	windows := make([]int, int(acc[len(acc)-1].Sub(acc[0])/window)+1)
	for _, at := range acc {
		windows[int(at.Sub(acc[0])/window)]++
	}
	half := acc[len(acc)/2:]
	st := b.sim.Stats()
	t.Logf("%d writes accepted over %s: %.1f per window, %.1f in the second half (limit %d, goal >= %.1f); %d random 429s; early: %v sent, %d arrived; max in a window %d",
		len(acc), acc[len(acc)-1].Sub(acc[0]).Round(time.Millisecond), perWindow(acc), perWindow(half), limit, 0.8*0.9*limit,
		len(thr), log.sentEarly(), st.EarlyWrites, b.sim.MaxWritesInWindow()[tenant])
	t.Logf("writes per window: %v", windows)
	t.Logf("429s (time observed→ceiling, * changed): %s", strings.Join(trace.records(), ", "))
	if len(thr) == 0 {
		t.Fatal("no 429: the test proves nothing")
	}
	if pw := perWindow(acc); pw < 0.8*0.9*limit {
		t.Errorf("%.1f writes per window: less than 80%% of the budget left by random 429s (%.1f)", pw, 0.8*0.9*limit)
	}
	if pw := perWindow(half); pw < 0.8*0.9*limit {
		t.Errorf("%.1f writes per window in the second half: random 429s ratcheted the budget down (goal %.1f)", pw, 0.8*0.9*limit)
	}
	if n := log.sentEarly(); len(n) != 0 || st.EarlyWrites != 0 {
		t.Errorf("writes before a Retry-After ran out: %v after their 429 came back sent, %d arrived", n, st.EarlyWrites)
	}
	if n := b.sim.MaxWritesInWindow()[tenant]; n > limit {
		t.Errorf("%d writes in one window, limit %d", n, limit)
	}
}
