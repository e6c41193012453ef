package worker

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
)

// errDeadline is returned by a wait that would end after the job's deadline.
var errDeadline = errors.New("job deadline reached while waiting")

// tenant is the write budgets and health of one tenant: a [budget] per
// Intune service (its trailing-window slots, its gate closed until a
// Retry-After runs out, its learned limit) and its circuit breaker. It
// outlives runners. Safe for concurrent use.
type tenant struct {
	name string
	w    *Worker
	brk  breaker

	mu       sync.Mutex
	running  bool                      // a runner is running (guarded by mu)
	budgets  map[graph.Service]*budget // created at the service's first write
	paused   bool                      // last value given to SetTenantPaused
	rate     float64                   // last value given to SetTenantRate
	changed  chan struct{}             // closed and replaced when a gate, a slot or a limit changes
	suspect  int                       // consecutive consumer checks that found damage
	repaired time.Time                 // last time the consumer was recreated
}

func newTenant(w *Worker, name string) *tenant {
	return &tenant{name: name, w: w, budgets: make(map[graph.Service]*budget), changed: make(chan struct{})}
}

// budgetLocked returns the budget of kind k's service, creating it.
func (t *tenant) budgetLocked(k *graph.Kind) *budget {
	b := t.budgets[k.Service]
	if b == nil {
		b = newBudget(t.w.cfg.writeLimit(k.Service))
		t.budgets[k.Service] = b
		t.reportLocked(time.Now())
	}
	return b
}

// broadcastLocked wakes every wait of the tenant.
func (t *tenant) broadcastLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// reportLocked updates the tenant's rate and paused gauges: the sum of its
// services' ceilings, and whether any service is paused.
func (t *tenant) reportLocked(now time.Time) {
	var r float64
	paused := false
	for _, b := range t.budgets {
		r += b.perSecond(now)
		paused = paused || now.Before(b.pausedUntil)
	}
	if r != t.rate {
		t.rate = r
		t.w.m.SetTenantRate(t.name, r)
	}
	if paused != t.paused {
		t.paused = paused
		t.w.m.SetTenantPaused(t.name, paused)
	}
}

// pausedUntil is when the last pause of the tenant's services ends.
func (t *tenant) pausedUntil() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var until time.Time
	for _, b := range t.budgets {
		if b.pausedUntil.After(until) {
			until = b.pausedUntil
		}
	}
	return until
}

// waitChange waits until wake (zero: none), a change of the tenant or ctx's
// end.
func waitChange(ctx context.Context, changed <-chan struct{}, wake time.Time) error {
	var timeout <-chan time.Time
	if !wake.IsZero() {
		timer := time.NewTimer(time.Until(wake))
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-timeout:
	}
	return nil
}

// gate waits until kind k's service is not paused. It fails with
// errDeadline when the pause ends after deadline (zero: none), and with
// ctx's error.
func (t *tenant) gate(ctx context.Context, deadline time.Time, k *graph.Kind) error {
	for {
		t.mu.Lock()
		b := t.budgetLocked(k)
		until, changed := b.pausedUntil, t.changed
		now := time.Now()
		t.reportLocked(now)
		t.mu.Unlock()
		if !now.Before(until) {
			return nil
		}
		if !deadline.IsZero() && until.After(deadline) {
			return errDeadline
		}
		if err := waitChange(ctx, changed, until); err != nil {
			return err
		}
	}
}

// pulling waits while every service the tenant has written to is paused:
// a runner fetches nothing then, and the tenant's jobs stay in the stream.
func (t *tenant) pulling(ctx context.Context) error {
	for {
		t.mu.Lock()
		now := time.Now()
		var until time.Time
		for _, b := range t.budgets {
			if !now.Before(b.pausedUntil) {
				until = time.Time{}
				break
			}
			if until.IsZero() || b.pausedUntil.Before(until) {
				until = b.pausedUntil
			}
		}
		changed := t.changed
		t.reportLocked(now)
		t.mu.Unlock()
		if until.IsZero() {
			return nil
		}
		if err := waitChange(ctx, changed, until); err != nil {
			return err
		}
	}
}

// held is how long writes of kind k to tenant must still wait for a
// Retry-After (0 when they need not).
func (w *Worker) held(tenant string, k *graph.Kind) time.Duration {
	w.mu.Lock()
	t := w.tenants[strings.ToLower(tenant)]
	w.mu.Unlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.budgets[k.Service]
	if b == nil {
		return 0
	}
	return time.Until(b.pausedUntil)
}

// slot is one admitted write of a tenant's service budget. Its write's
// answer frees it ([slot.done]); so does the end of the context it was
// admitted with, as a write that may have reached Graph.
type slot struct {
	t    *tenant
	b    *budget
	at   time.Time   // admitted
	stop func() bool // stops the context's release
	over bool        // answered or released (guarded by t.mu)
}

// admit waits for the gate of kind k's service and a slot of its budget
// (see [budget]). A 429 that closes the gate while this job waits sends it
// back to the gate, so no write of the service goes out before the
// Retry-After runs out. The slot must be given the write's answer with
// [slot.done]; when ctx ends first it is released as a write Graph counted.
func (t *tenant) admit(ctx context.Context, deadline time.Time, k *graph.Kind) (*slot, error) {
	for {
		if err := t.gate(ctx, deadline, k); err != nil {
			return nil, err
		}
		t.mu.Lock()
		b := t.budgetLocked(k)
		now := time.Now()
		if now.Before(b.pausedUntil) {
			t.mu.Unlock()
			continue
		}
		ok, wake := b.room(now)
		if ok {
			b.admitted(now)
			t.reportLocked(now)
			t.mu.Unlock()
			s := &slot{t: t, b: b, at: now}
			s.stop = context.AfterFunc(ctx, func() { s.release() })
			return s, nil
		}
		changed := t.changed
		t.mu.Unlock()
		if err := waitChange(ctx, changed, wake); err != nil {
			return nil, err
		}
	}
}

// done records the answer of the slot's write and frees the slot: a
// success resets the service's 429 streak; any answer but 429, and a
// request that may have reached Graph, holds the slot for a window.
func (s *slot) done(err error) {
	s.stop()
	var ge *graph.Error
	switch {
	case err == nil:
		s.answer(true, true)
	case errors.As(err, &ge) && ge.StatusCode != 0 && ge.StatusCode != 429:
		s.answer(true, true)
	case errors.As(err, &ge) && ge.Ambiguous:
		s.answer(true, false)
	default:
		s.answer(false, false)
	}
}

// answer frees the slot once (see [budget.answered]); an answer with
// evidence that the write passed Graph's throttle ends the 429 streak.
func (s *slot) answer(counts, evidence bool) {
	s.free(true, counts, evidence)
}

// release frees a slot whose context ended before its answer, as a write
// that may have reached Graph.
func (s *slot) release() { s.free(false, true, false) }

func (s *slot) free(answered, counts, evidence bool) {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.over {
		return
	}
	s.over = true
	now := time.Now()
	var took time.Duration
	if answered {
		took = max(now.Sub(s.at), time.Nanosecond)
	}
	s.b.answered(now, took, counts, evidence)
	if evidence {
		s.b.streak = 0
	}
	t.broadcastLocked()
}

// throttled records a 429 of a call for kind k: it closes the service's
// gate until the Retry-After (or, without one, a backoff of the service's
// 429 streak starting at a twentieth of its window: 1 s at Intune's 20 s),
// weighs the 429 as a limit signal when it answered a write, and returns
// how long the job that got it should wait. A write held back unsent
// because the gate had closed (no HTTP status) only waits.
func (t *tenant) throttled(k *graph.Kind, ge *graph.Error) time.Duration {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.budgetLocked(k)
	if ge.StatusCode == 0 {
		return max(b.pausedUntil.Sub(now), minBackoff)
	}
	b.streak++
	pause := ge.RetryAfter
	if !ge.HasRetryAfter {
		pause = backoff(b.streak, min(baseBackoff, b.window/20), t.w.cfg.MaxBackoff, rand.Float64())
	}
	observed := b.counted(now)
	write := ge.Op != graph.OpList && ge.Op != graph.OpProbe
	changed := b.throttled(now, now.Add(pause), write)
	t.broadcastLocked()
	t.reportLocked(now)
	t.w.m.Throttled(t.name, ge.RetryAfter, ge.HasRetryAfter)
	t.w.log.Info("tenant throttled", slog.String("tenant", t.name), slog.String("service", string(k.Service)),
		slog.Duration("pause", pause), slog.Bool("retry_after", ge.HasRetryAfter), slog.Int("observed", observed),
		slog.Int("limit", b.ceiling(now)), slog.Bool("limit_changed", changed), slog.String("request_id", ge.RequestID))
	return max(b.pausedUntil.Sub(now), minBackoff)
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
