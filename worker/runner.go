package worker

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

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

// run pulls the tenant's jobs and starts a handler for each, until
// rc.soft is done or the tenant has had no work for idleTimeout.
func (r *runner) run(rc *runCtx) {
	w, t := r.w, r.t
	log := w.log.With(slog.String("tenant", t.name))
	cons := r.open(rc, log)
	if cons == nil {
		return
	}
	ackWait := cons.AckWait()
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
		if err := t.pulling(rc.soft); err != nil {
			return
		}
		fetched := time.Now()
		batch, err := cons.Fetch(rc.soft, free, fetchWait)
		if err != nil {
			failures++
			if !r.fetchFailed(rc, failures, fetched, err) {
				return
			}
			if cons = r.reopen(rc, log, cons, err); cons == nil {
				return
			}
			continue
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			r.start(rc, msg, ackWait)
		}
		if err := batch.Err(); err != nil {
			failures++
			if !r.fetchFailed(rc, failures, fetched, err) {
				return
			}
			if cons = r.reopen(rc, log, cons, err); cons == nil {
				return
			}
			continue
		}
		failures = 0
		w.health.record(call{label.OpFetch, streakFetch, t.name}, fetched, nil)
		if n > 0 {
			lastWork, idle = time.Now(), 0
			continue
		}
		// Nothing came although discovery saw jobs: every other idle fetch,
		// make sure the consumer's state still matches the stream.
		if idle++; held == 0 && idle%2 == 0 {
			if c := r.check(rc, log); c != nil {
				cons, ackWait, lastWork = c, c.AckWait(), time.Now()
			}
		}
	}
}

// open opens the tenant's consumer, consumerOpens of the worker's runners
// at a time, retrying with backoff and recreating one whose state is
// damaged; nil when rc.soft ended first.
func (r *runner) open(rc *runCtx, log *slog.Logger) consumer {
	w, t := r.w, r.t
	for attempt := 1; ; attempt++ {
		select {
		case w.opening <- struct{}{}:
		case <-rc.soft.Done():
			return nil
		}
		ctx, cancel := context.WithTimeout(rc.soft, 10*time.Second)
		c, err := w.store.TenantConsumer(ctx, t.name)
		cancel()
		<-w.opening
		if err == nil {
			return c
		}
		if rc.soft.Err() != nil {
			return nil
		}
		if errors.Is(err, jobs.ErrConsumerDamaged) {
			if c := r.repair(rc, log, err); c != nil {
				return c
			}
		}
		w.logInfra("tenant consumer "+t.name, err)
		if !sleepCtx(rc.soft, backoff(attempt, 250*time.Millisecond, 5*time.Second, rand.Float64())) {
			return nil
		}
	}
}

// start handles msg in a goroutine of its own, which the runner counts as
// held until it has settled the message.
func (r *runner) start(rc *runCtx, msg message, ackWait time.Duration) {
	w := r.w
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

// fetchFailed records a failed fetch and waits the backoff of failures
// in a row; false when rc.soft ended the wait.
func (r *runner) fetchFailed(rc *runCtx, failures int, fetched time.Time, err error) bool {
	r.w.health.record(call{label.OpFetch, streakFetch, r.t.name}, fetched, err)
	r.w.logInfra("fetch "+r.t.name, err)
	return sleepCtx(rc.soft, backoff(failures, 100*time.Millisecond, 5*time.Second, rand.Float64()))
}

// reopen opens the tenant's consumer again after a fetch found it gone
// from the server (a memory-stored consumer does not outlive a server
// restart): the new one delivers every job the stream still holds. It
// returns cons unchanged for any other error, and nil when rc.soft ended
// first.
func (r *runner) reopen(rc *runCtx, log *slog.Logger, cons consumer, err error) consumer {
	if !errors.Is(err, errConsumerGone) {
		return cons
	}
	log.Info("tenant consumer gone from the server (restarted?): opening it again", slog.Any("error", err))
	return r.open(rc, log)
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
