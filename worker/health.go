package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// ErrStalled is matched (errors.Is) by every [*StallError].
var ErrStalled = errors.New("job store cannot make progress")

// StallError says that the job store cannot make progress: one kind of
// store request has failed, without a success in between, for at least
// Config.StallTimeout. [Worker.Run] returns it when Config.StopOnStall is
// set; [Worker.Stalled] returns it while it lasts.
type StallError struct {
	// Operation names the failing request, e.g. "record result" or
	// "fetch jobs of tenant contoso.onmicrosoft.com".
	Operation string
	// For is how long it has failed.
	For time.Duration
	// Err is its last error.
	Err error
}

// Error says what fails, for how long and, when known, what it means.
func (e *StallError) Error() string {
	msg := fmt.Sprintf("%s: %s has failed for %s without a success", ErrStalled, e.Operation, e.For.Round(time.Second))
	if why := jobs.Explain(e.Err); why != "" {
		msg += ": " + why
	}
	return fmt.Sprintf("%s (last error: %v)", msg, e.Err)
}

// Unwrap returns the last error.
func (e *StallError) Unwrap() error { return e.Err }

// Is matches [ErrStalled].
func (e *StallError) Is(target error) bool { return target == ErrStalled }

// Failure streaks: the kinds of store request health tracks. Writes share
// one streak: any write that succeeds shows the store takes writes, and
// together they fail often enough to tell a stall from a lone failure
// soon (each job retries its own write only after a backoff of up to
// 30 s). The consumer streaks are per tenant.
const (
	streakDiscover      = "discover"
	streakConsumer      = "consumer"
	streakConsumerCheck = "consumer_check"
	streakFetch         = "fetch"
	streakRead          = "read"
	streakWrite         = "write"
)

// streakWhat describes each streak in plain words.
var streakWhat = map[string]string{
	streakDiscover:      "finding the tenants with jobs",
	streakConsumer:      "opening the consumer",
	streakConsumerCheck: "checking the consumer",
	streakFetch:         "fetching jobs",
	streakRead:          "reading outcomes and write intents",
	streakWrite:         "writing to the store (leases, intents, outcomes, results)",
}

// call is one store request as health sees it: op for the metrics, the
// streak it counts in, and the tenant of a per-tenant streak.
type call struct {
	op             label.StoreOp
	streak, tenant string
}

// health tracks failure streaks: per kind of store request (see the
// streak constants), since when it has failed without a success. The
// store stalls when one streak has lasted the whole stall timeout and is
// still going on. A single failure never stalls it, nor does a slow store,
// a throttled or backing-off tenant, or an idle queue: only requests the
// store refused or did not answer.
type health struct {
	timeout time.Duration
	m       Metrics

	mu        sync.Mutex
	failing   map[streakKey]*failure
	lastWrite time.Time // the last write that succeeded
	reported  bool      // the last check found a stall
}

// streakKey is one streak, for one tenant or (tenant "") all.
type streakKey struct{ streak, tenant string }

// failure is the current failure streak of one kind of request.
type failure struct {
	since, last time.Time
	err         error
}

func newHealth(timeout time.Duration, m Metrics) *health {
	return &health{timeout: timeout, m: m, failing: make(map[streakKey]*failure), lastWrite: time.Now()}
}

// record records the outcome of c, a request sent at start: a success (the
// streak ends), a failure, or neither when err says the caller gave up
// (context cancelled) or that a lease is held by another (the store
// answered, but wrote nothing). A streak starts when its first failed
// request was sent: a request that timed out had no answer all along.
func (h *health) record(c call, start time.Time, err error) {
	k := streakKey{c.streak, c.tenant}
	switch {
	case err == nil:
		h.mu.Lock()
		delete(h.failing, k)
		if c.streak == streakWrite {
			h.lastWrite = time.Now()
		}
		h.mu.Unlock()
	case errors.Is(err, context.Canceled), errors.Is(err, jobs.ErrHeld):
	default:
		now := time.Now()
		h.m.StoreError(c.op)
		h.mu.Lock()
		defer h.mu.Unlock()
		f := h.failing[k]
		if f == nil {
			f = &failure{since: start}
			h.failing[k] = f
		}
		f.last, f.err = now, err
	}
}

// probeQuiet is how long jobs may be in flight without a write that
// succeeds before the worker probes the store.
const probeQuiet = 5 * time.Second

// needProbe reports whether a probe write would tell something: writes
// have failed since the last one that succeeded, or jobs are in flight
// (busy) and none has written for probeQuiet (their writes may hang on a
// store that does not answer, some where health does not see them, such
// as lease renewals).
func (h *health) needProbe(now time.Time, busy bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failing[streakKey{streakWrite, ""}] != nil || (busy && now.Sub(h.lastWrite) >= probeQuiet)
}

// streakGap is the longest quiet time within a failure streak: failing
// requests are retried within it (a request timing out after 10 s, then
// a backoff of up to 30 s), so a streak quiet for longer is over.
const streakGap = time.Minute

// check returns what stalled returns, and whether that changed (stalled
// or not) since the last check.
func (h *health) check(now time.Time) (*StallError, bool) {
	st := h.stalled(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := (st != nil) != h.reported
	h.reported = st != nil
	return st, changed
}

// stalled returns the longest failure streak that has lasted the stall
// timeout and is still going on (its last failure within the timeout, or
// streakGap if longer), or nil.
func (h *health) stalled(now time.Time) *StallError {
	h.mu.Lock()
	defer h.mu.Unlock()
	var worst *StallError
	for k, f := range h.failing {
		if now.Sub(f.last) > max(h.timeout, streakGap) {
			delete(h.failing, k) // an old streak nobody retried: over
			continue
		}
		if f.last.Sub(f.since) >= h.timeout && (worst == nil || now.Sub(f.since) > worst.For) {
			what := streakWhat[k.streak]
			if k.tenant != "" {
				what += " of tenant " + k.tenant
			}
			worst = &StallError{Operation: what, For: now.Sub(f.since), Err: f.err}
		}
	}
	return worst
}

// probeTimeout bounds one probe write.
const probeTimeout = 5 * time.Second

// probe writes to the store once (jobs.Store.ProbeWrite) when that tells
// something (see health.needProbe). A job whose write failed retries it
// only after a backoff, and a job whose write hangs waits for its timeout,
// so without probes a store that refuses every write would show it only
// every half minute or so, and one that recovered only at a job's next
// try.
func (w *Worker) probe(rc *runCtx) {
	if !w.health.needProbe(time.Now(), w.busy.Load() > 0) {
		return
	}
	ctx, cancel := context.WithTimeout(rc.soft, probeTimeout)
	defer cancel()
	_ = w.store.ProbeWrite(ctx) // recorded by observed
}

// watchHealth publishes the store's health: it sets the store-healthy
// metric and logs each change, and returns the stall, if any. Run calls it
// every DiscoverInterval, Stalled whenever asked, so that readiness and
// the metric always agree.
func (w *Worker) watchHealth() *StallError {
	st, changed := w.health.check(time.Now())
	if changed {
		w.m.SetStoreHealthy(st == nil)
		if st != nil {
			w.log.Error("the job store cannot make progress", slog.String("operation", st.Operation),
				slog.Duration("for", st.For.Round(time.Second)), slog.String("meaning", jobs.Explain(st.Err)), slog.Any("error", st.Err))
		} else {
			w.log.Info("the job store makes progress again")
		}
	}
	return st
}

// Stalled returns a [*StallError] while the job store cannot make progress
// (see Config.StallTimeout), else nil. Safe to call at any time, from any
// goroutine; readiness probes use it.
func (w *Worker) Stalled() error {
	if st := w.watchHealth(); st != nil {
		return st
	}
	return nil
}
