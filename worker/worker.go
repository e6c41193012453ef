package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"golang.org/x/time/rate"
)

// ErrRunning is returned by [Worker.Run] when the worker already runs.
var ErrRunning = errors.New("worker: already running")

// Worker consumes jobs and writes them to Graph. Create one with [New]; it
// runs once ([Worker.Run]).
type Worker struct {
	store store // the job store's roles, observed by health
	graph Graph
	cfg   Config
	log   *slog.Logger
	m     Metrics

	health      *health       // store requests failing without success
	sem         chan struct{} // Graph requests in flight, all tenants
	opening     chan struct{} // tenant consumers being opened at once
	seq         atomic.Uint64 // lease owner suffixes
	busy        atomic.Int64  // jobs being handled
	logT        *rate.Limiter // repeated infrastructure errors are logged at most this often
	graphHealth *graphHealth  // the last transient failure of each tenant

	mu         sync.Mutex
	tenants    map[string]*tenant
	mergeKinds map[string]bool // kinds switched to merge after a route error
	rmByAssign map[string]bool // kinds removed through /assign after a DELETE route error
	running    bool
	abort      context.CancelFunc // hard stop of the current Run

	wg sync.WaitGroup // runners and handlers of the current Run
}

// New returns a Worker reading jobs from store (through the roles the
// worker declares in store.go) and writing through g.
func New(store *jobs.Store, g Graph, cfg Config) (*Worker, error) {
	if store == nil || g == nil {
		return nil, errors.New("worker: nil store or graph")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	gh := newGraphHealth()
	h := newHealth(cfg.StallTimeout, cfg.Metrics)
	cfg.Metrics.SetStoreHealthy(true)
	w := &Worker{
		store:       observed{store: jobStore{store}, h: h},
		graphHealth: gh,
		cfg:         cfg,
		log:         cfg.Logger,
		m:           cfg.Metrics,
		health:      h,
		sem:         make(chan struct{}, cfg.Concurrency),
		opening:     make(chan struct{}, consumerOpens),
		logT:        rate.NewLimiter(rate.Every(5*time.Second), 3),
		tenants:     make(map[string]*tenant),
		mergeKinds:  make(map[string]bool),
		rmByAssign:  make(map[string]bool),
	}
	w.graph = observedGraph{g: g, h: gh, hold: w.held}
	return w, nil
}

// Run consumes jobs until ctx is cancelled, then shuts down gracefully: it
// stops fetching, hands back jobs that have not started writing, lets
// in-flight writes finish for up to Config.DrainTimeout, then cancels them
// (their jobs are handed back too; an intent makes the next delivery
// reconcile). Results are recorded with a context that survives the
// cancellation. Run returns nil after every goroutine it started has
// stopped; [Worker.Abort] makes it stop at once. With Config.StopOnStall
// it also stops by itself, at once, when the store stalls, and then
// returns the [*StallError].
func (w *Worker) Run(ctx context.Context) error {
	soft, cancelSoft := context.WithCancel(ctx)
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	defer cancelSoft()
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return ErrRunning
	}
	w.running = true
	w.abort = func() { cancelSoft(); cancelHard() }
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running, w.abort = false, nil
		w.mu.Unlock()
	}()

	w.log.InfoContext(ctx, "worker started", slog.String("owner", w.cfg.Owner),
		slog.Int("concurrency", w.cfg.Concurrency), slog.Int("tenant_concurrency", w.cfg.TenantConcurrency),
		slog.Int("write_limit", w.cfg.WriteLimit), slog.Duration("write_window", w.cfg.WriteWindow),
		slog.Int("devices_write_limit", w.cfg.DevicesWriteLimit), slog.Duration("devices_write_window", w.cfg.DevicesWriteWindow))

	rc := &runCtx{soft: soft, hard: hard}
	stall := w.discoverLoop(rc)
	if stall != nil {
		cancelSoft()
		cancelHard()
		if w.cfg.OnStall != nil {
			w.cfg.OnStall(stall)
		}
	}

	// Drain: runners stop fetching (soft is done); handlers waiting for a
	// gate, a token or a lease hand their jobs back; writes in flight get
	// DrainTimeout.
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	timer := time.NewTimer(w.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		w.log.Warn("drain timeout: cancelling in-flight writes", slog.Duration("drain_timeout", w.cfg.DrainTimeout))
		cancelHard()
		<-done
	case <-hard.Done():
		<-done
	}
	w.log.Info("worker stopped", slog.String("owner", w.cfg.Owner))
	if stall != nil {
		return stall
	}
	return nil
}

// Abort stops a running Run at once: fetching stops and in-flight Graph
// calls are cancelled (their jobs are handed back). It is the second,
// hard stop after cancelling Run's context; safe to call at any time and
// more than once.
func (w *Worker) Abort() {
	w.mu.Lock()
	abort := w.abort
	w.mu.Unlock()
	if abort != nil {
		abort()
	}
}

// runCtx carries the two contexts of one Run: soft ends fetching and
// waiting; hard ends Graph calls.
type runCtx struct {
	soft, hard context.Context
}

// owner returns a fresh lease owner: the worker's name and a sequence
// number, so that two handlers of one worker never share a lease.
func (w *Worker) owner() string {
	return fmt.Sprintf("%s/%d", w.cfg.Owner, w.seq.Add(1))
}

// logInfra logs an infrastructure error (NATS down, consumer missing),
// rate-limited: an outage must not flood the log.
func (w *Worker) logInfra(what string, err error) {
	if w.logT.Allow() {
		w.log.Warn(what+" failed", slog.Any("error", err))
	}
}
