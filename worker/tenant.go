package worker

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkassign/bulkassign/graph"
)

// errDeadline is returned by a wait that would end after the job's deadline.
var errDeadline = errors.New("job deadline reached while waiting")

// tenant is the write budget and health of one tenant: its token bucket,
// its gate (closed until a Retry-After runs out), its adaptive rate and its
// circuit breaker. It outlives runners. Safe for concurrent use.
type tenant struct {
	name string
	w    *Worker
	lim  *rate.Limiter // burst 1; rate from ctl
	brk  breaker

	mu          sync.Mutex
	running     bool // a runner is running (guarded by mu)
	ctl         aimd
	accepted    slidingCount  // our writes Graph accepted, for ctl
	pausedUntil time.Time     // the gate: no request before this
	paused      bool          // last value given to SetTenantPaused
	streak      int           // 429s since the last accepted write
	changed     chan struct{} // closed and replaced when pausedUntil moves
	suspect     int           // consecutive consumer checks that found damage
	repaired    time.Time     // last time the consumer was recreated
}

func newTenant(w *Worker, name string) *tenant {
	ctl := newAIMD(w.cfg.WriteLimit, w.cfg.WriteWindow)
	t := &tenant{
		name:     name,
		w:        w,
		ctl:      ctl,
		lim:      rate.NewLimiter(rate.Limit(ctl.rate), 1),
		accepted: newSlidingCount(w.cfg.WriteLimit + 1),
		changed:  make(chan struct{}),
	}
	w.m.SetTenantRate(name, ctl.rate)
	return t
}

// gate waits until the tenant is not paused. It fails with errDeadline when
// the pause ends after deadline (zero: none), and with ctx's error.
func (t *tenant) gate(ctx context.Context, deadline time.Time) error {
	for {
		t.mu.Lock()
		until, changed := t.pausedUntil, t.changed
		now := time.Now()
		if !now.Before(until) {
			if t.paused {
				t.paused = false
				t.w.m.SetTenantPaused(t.name, false)
			}
			t.mu.Unlock()
			return nil
		}
		t.mu.Unlock()
		if !deadline.IsZero() && until.After(deadline) {
			return errDeadline
		}
		timer := time.NewTimer(until.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-changed:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// admit waits for the gate and a write token. A 429 that closes the gate
// while this job waits for its token sends it back to the gate, so no
// write of the tenant goes out before the Retry-After runs out.
func (t *tenant) admit(ctx context.Context, deadline time.Time) error {
	for {
		if err := t.gate(ctx, deadline); err != nil {
			return err
		}
		if err := t.lim.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Wait refuses when the wait would pass ctx's deadline; there is
			// none on our contexts, so this is a rate of 0: cannot happen.
			return err
		}
		t.mu.Lock()
		open := !time.Now().Before(t.pausedUntil)
		t.mu.Unlock()
		if open {
			return nil
		}
	}
}

// wrote records a write Graph accepted (any answer but 429: it passed the
// throttle and counts against the window).
func (t *tenant) wrote(ok bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.accepted.add(now)
	if !ok {
		return
	}
	t.streak = 0
	old := t.ctl.rate
	r := t.ctl.succeeded(now)
	if r != old {
		t.lim.SetLimitAt(now, rate.Limit(r))
		t.w.m.SetTenantRate(t.name, r)
	}
}

// throttled records a 429: it closes the gate until the Retry-After (or a
// backoff of the tenant's 429 streak when there is none), cuts the rate,
// and returns how long the job that got it should wait.
func (t *tenant) throttled(ge *graph.Error) time.Duration {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.streak++
	pause := ge.RetryAfter
	if !ge.HasRetryAfter {
		pause = backoff(t.streak, baseBackoff, t.w.cfg.MaxBackoff, rand.Float64())
	}
	if until := now.Add(pause); until.After(t.pausedUntil) {
		t.pausedUntil = until
		close(t.changed)
		t.changed = make(chan struct{})
	}
	observed := t.accepted.count(now, t.w.cfg.WriteWindow)
	r := t.ctl.throttled(now, observed)
	t.lim.SetLimitAt(now, rate.Limit(r))
	if !t.paused {
		t.paused = true
		t.w.m.SetTenantPaused(t.name, true)
	}
	t.w.m.SetTenantRate(t.name, r)
	t.w.m.Throttled(t.name, ge.RetryAfter, ge.HasRetryAfter)
	t.w.log.Info("tenant throttled", slog.String("tenant", t.name), slog.Duration("pause", pause),
		slog.Bool("retry_after", ge.HasRetryAfter), slog.Float64("rate", r), slog.Int("observed", observed),
		slog.String("request_id", ge.RequestID))
	return max(t.pausedUntil.Sub(now), minBackoff)
}

// recordWrite counts a write's answer in the tenant's window and rate: a
// success raises the rate; any answer but 429 (and any request that may
// have reached Graph) counts against the window.
func (t *tenant) recordWrite(err error) {
	if err == nil {
		t.wrote(true)
		return
	}
	var ge *graph.Error
	if errors.As(err, &ge) && ((ge.StatusCode != 0 && ge.StatusCode != 429) || ge.Ambiguous) {
		t.wrote(false)
	}
}

// blocked returns the breaker's block for a write of kind k, clearing the
// tenant's blocked gauge once every block has cooled down.
func (t *tenant) blocked(k *graph.Kind) (block, bool) {
	now := time.Now()
	bl, ok := t.brk.blocked(k, now)
	if !ok && t.brk.cooled(now) {
		t.w.m.SetTenantBlocked(t.name, false)
	}
	return bl, ok
}
