package worker

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
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

// runner pulls one tenant's jobs: it holds at most TenantConcurrency
// messages, fetches only as many as it has room for and only while the
// tenant's gate is open, and exits after idleTimeout without work (the
// discovery loop starts it again when jobs arrive).
type runner struct {
	w *Worker
	t *tenant

	done chan struct{} // a handler finished (buffered)

	mu      sync.Mutex
	held    int
	cache   map[string]*policySet // create kinds: the policy's set, listed once
	batches map[string]*batch     // merge kinds: open batches per policy
}

func newRunner(w *Worker, t *tenant) *runner {
	return &runner{
		w: w, t: t,
		done:    make(chan struct{}, w.cfg.TenantConcurrency),
		cache:   make(map[string]*policySet),
		batches: make(map[string]*batch),
	}
}

// idleTimeout is how long a runner without work waits before exiting.
func (r *runner) idleTimeout() time.Duration {
	return max(10*r.w.cfg.DiscoverInterval, 5*time.Second)
}

func (r *runner) run(rc *runCtx) {
	w, t := r.w, r.t
	log := w.log.With(slog.String("tenant", t.name))
	var cons jetstream.Consumer
	for attempt := 1; cons == nil; attempt++ {
		ctx, cancel := context.WithTimeout(rc.soft, 10*time.Second)
		c, err := w.store.TenantConsumer(ctx, t.name)
		cancel()
		if err == nil {
			cons = c
			break
		}
		if rc.soft.Err() != nil {
			return
		}
		if errors.Is(err, jobs.ErrConsumerDamaged) {
			if cons = r.repair(rc, log, err); cons != nil {
				break
			}
		}
		w.logInfra("tenant consumer "+t.name, err)
		if !sleepCtx(rc.soft, backoff(attempt, 250*time.Millisecond, 5*time.Second, rand.Float64())) {
			return
		}
	}
	ackWait := consumerAckWait(cons)
	log.Debug("tenant runner started", slog.Duration("ack_wait", ackWait))

	lastWork := time.Now()
	failures, idle := 0, 0
	for rc.soft.Err() == nil {
		r.mu.Lock()
		free, held := w.cfg.TenantConcurrency-r.held, r.held
		r.mu.Unlock()
		if held > 0 {
			lastWork = time.Now()
		}
		if free == 0 {
			select {
			case <-rc.soft.Done():
			case <-r.done:
			}
			continue
		}
		if held == 0 && time.Since(lastWork) > r.idleTimeout() {
			log.Debug("tenant runner idle, exiting")
			return
		}
		// A paused tenant pulls nothing: its jobs stay in the stream, where
		// they cost no memory and no AckWait.
		if err := t.gate(rc.soft, time.Time{}); err != nil {
			return
		}
		fetched := time.Now()
		batch, err := cons.Fetch(free, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			failures++
			w.health.record(call{opFetch, streakFetch, t.name}, fetched, err)
			w.logInfra("fetch "+t.name, err)
			if !sleepCtx(rc.soft, backoff(failures, 100*time.Millisecond, 5*time.Second, rand.Float64())) {
				return
			}
			continue
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			r.mu.Lock()
			r.held++
			r.mu.Unlock()
			w.busy.Add(1)
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer w.busy.Add(-1)
				defer func() {
					r.mu.Lock()
					r.held--
					r.mu.Unlock()
					select {
					case r.done <- struct{}{}:
					default:
					}
				}()
				w.handle(rc, r, msg, ackWait)
			}()
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			failures++
			w.health.record(call{opFetch, streakFetch, t.name}, fetched, err)
			w.logInfra("fetch "+t.name, err)
			if !sleepCtx(rc.soft, backoff(failures, 100*time.Millisecond, 5*time.Second, rand.Float64())) {
				return
			}
			continue
		}
		failures = 0
		w.health.record(call{opFetch, streakFetch, t.name}, fetched, nil)
		if n > 0 {
			lastWork, idle = time.Now(), 0
			continue
		}
		// Nothing came although discovery saw jobs: every other idle fetch,
		// make sure the consumer's state still matches the stream.
		if idle++; held == 0 && idle%2 == 0 {
			if c := r.check(rc, log); c != nil {
				cons, ackWait, lastWork = c, consumerAckWait(c), time.Now()
			}
		}
	}
}

// consumerAckWait is the consumer's AckWait (30 s if unknown).
func consumerAckWait(c jetstream.Consumer) time.Duration {
	if info := c.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		return info.Config.AckWait
	}
	return 30 * time.Second
}

// check compares the consumer with the stream (jobs.CheckTenantConsumer).
// Damage found by two checks in a row (one can be a race with an
// acknowledgement) gets the consumer recreated; check returns the new
// consumer, or nil when it kept the old one.
func (r *runner) check(rc *runCtx, log *slog.Logger) jetstream.Consumer {
	t := r.t
	ctx, cancel := context.WithTimeout(rc.soft, 10*time.Second)
	err := r.w.store.CheckTenantConsumer(ctx, t.name)
	cancel()
	t.mu.Lock()
	if errors.Is(err, jobs.ErrConsumerDamaged) {
		t.suspect++
	} else {
		t.suspect = 0
	}
	suspect := t.suspect
	t.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case suspect < 2:
		if !errors.Is(err, jobs.ErrConsumerDamaged) && rc.soft.Err() == nil {
			r.w.logInfra("check tenant consumer "+t.name, err)
		}
		return nil
	}
	return r.repair(rc, log, err)
}

// repair recreates the tenant's consumer after cause showed its state
// damaged: the work-queue stream keeps every unacknowledged job, and the
// new consumer delivers them again. It repairs a tenant at most once per
// StallTimeout: a consumer damaged again so soon is not recreated in a
// loop but left failing, for the stall detection to report.
func (r *runner) repair(rc *runCtx, log *slog.Logger, cause error) jetstream.Consumer {
	t := r.t
	t.mu.Lock()
	allowed := t.repaired.IsZero() || time.Since(t.repaired) >= r.w.cfg.StallTimeout
	if allowed {
		t.repaired, t.suspect = time.Now(), 0
	}
	t.mu.Unlock()
	if !allowed {
		return nil
	}
	ctx, cancel := context.WithTimeout(rc.soft, 10*time.Second)
	defer cancel()
	c, movedTo, err := r.w.store.RecreateTenantConsumer(ctx, t.name)
	if err != nil {
		log.Error("tenant consumer state is damaged and recreating the consumer failed",
			slog.Any("damage", cause), slog.Any("error", err))
		return nil
	}
	attrs := []any{slog.Any("damage", cause)}
	if movedTo != "" {
		attrs = append(attrs, slog.String("damaged_files_moved_to", movedTo))
	}
	log.Warn("tenant consumer state was damaged: deleted the consumer and created it afresh; "+
		"the jobs stream kept every unacknowledged job and delivers each again (jobs already written are recognised, not written twice)", attrs...)
	return c
}

// sleepCtx waits d or until ctx is done; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
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
