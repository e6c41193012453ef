package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Config configures a [Worker]. The zero value is usable: every field has a
// default, filled in by [New].
type Config struct {
	// Concurrency bounds the Graph requests in flight across all tenants.
	// Default 64.
	Concurrency int
	// TenantConcurrency bounds the job messages one tenant holds at once,
	// and so its concurrent writes, its share of memory and the largest
	// merge batch (one /assign write for up to this many rows of a policy).
	// Default 4.
	TenantConcurrency int
	// WriteLimit is the number of writes allowed per WriteWindow per tenant
	// in each Intune service but the devices service (Intune: 100 per 20 s
	// per app per tenant and service). Each service of a tenant
	// ([graph.Kind.Service]) has its own budget. At least 1. Default 100.
	WriteLimit int
	// WriteWindow is the window of WriteLimit. Default 20 s.
	WriteWindow time.Duration
	// DevicesWriteLimit is the number of writes allowed per
	// DevicesWriteWindow per tenant in the Intune devices service
	// (scripts, health scripts; Intune: 200 per 20 s per app per tenant).
	// At least 1. Default 200.
	DevicesWriteLimit int
	// DevicesWriteWindow is the window of DevicesWriteLimit. Default 20 s.
	DevicesWriteWindow time.Duration
	// JobDeadline bounds the retries of a job, measured from the moment it
	// was published (its JetStream timestamp): a job still failing
	// transiently or throttled then is reported failed with its last error.
	// Default 24 h.
	JobDeadline time.Duration
	// DrainTimeout is how long Run lets in-flight writes finish after its
	// context is cancelled before it cancels them. Default 30 s.
	DrainTimeout time.Duration
	// LeaseTTL is the lifetime of the per-policy merge locks in NATS
	// (renewed every third of it while held). At least 300 ms. Default
	// 30 s. Per-key leases live as long as the job consumer's AckWait
	// instead: a job redelivered after its worker died finds its key free.
	LeaseTTL time.Duration
	// DiscoverInterval is how often Run looks for tenants with waiting jobs.
	// Default 1 s.
	DiscoverInterval time.Duration
	// MaxBackoff caps the exponential backoff of retries without a
	// Retry-After. Default 5 min.
	MaxBackoff time.Duration
	// MergeWindow is how long the first merge job of a policy waits for
	// more jobs of the same policy before writing them together (it writes
	// sooner when TenantConcurrency jobs have joined). Default 250 ms.
	MergeWindow time.Duration
	// StallTimeout is how long one kind of job-store request (fetching a
	// tenant's jobs, recording results, leases, …) may fail without a
	// success before the store counts as stalled: [Worker.Stalled] reports
	// it, the store-healthy metric drops to 0, and with StopOnStall Run
	// ends. Only refused or unanswered store requests count: slow rows,
	// throttled or backing-off tenants and an idle queue never stall.
	// Default 2 min.
	StallTimeout time.Duration
	// StopOnStall makes Run stop when the store stalls and return the
	// [*StallError], rather than keep trying until it recovers. It stops
	// at once, as [Worker.Abort] does, without a drain: nothing in flight
	// could be recorded. Default false (a service stays up, unready, and
	// recovers by itself).
	StopOnStall bool
	// OnStall, when set, is called once when Run stops because the store
	// stalled (StopOnStall), before Run waits for its jobs to stop. A
	// caller that owns the connection can close it there, so that final
	// writes hanging on a store that does not answer fail at once. Default
	// nil.
	OnStall func(*StallError)
	// Owner names this worker in leases and intents. Default
	// "<hostname>-<pid>-<random>".
	Owner string
	// Logger receives the worker's log. Default: discard.
	Logger *slog.Logger
	// Metrics receives the worker's measurements. Default: none.
	Metrics Metrics
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Concurrency = cmp.Or(c.Concurrency, 64)
	c.TenantConcurrency = cmp.Or(c.TenantConcurrency, 4)
	c.WriteLimit = cmp.Or(c.WriteLimit, graph.ServiceDeviceConfiguration.WriteLimit())
	c.WriteWindow = cmp.Or(c.WriteWindow, graph.WriteWindow)
	c.DevicesWriteLimit = cmp.Or(c.DevicesWriteLimit, graph.ServiceDevices.WriteLimit())
	c.DevicesWriteWindow = cmp.Or(c.DevicesWriteWindow, graph.WriteWindow)
	c.JobDeadline = cmp.Or(c.JobDeadline, 24*time.Hour)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, 30*time.Second)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, 30*time.Second)
	c.DiscoverInterval = cmp.Or(c.DiscoverInterval, time.Second)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, 5*time.Minute)
	c.MergeWindow = cmp.Or(c.MergeWindow, 250*time.Millisecond)
	c.StallTimeout = cmp.Or(c.StallTimeout, 2*time.Minute)
	if c.Owner == "" {
		host, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s-%d-%s", cmp.Or(host, "worker"), os.Getpid(), uuid.NewString()[:8])
	}
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	return c
}

// validate reports every invalid field at once.
func (c Config) validate() error {
	var errs []error
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"write window", c.WriteWindow}, {"devices write window", c.DevicesWriteWindow},
		{"job deadline", c.JobDeadline}, {"drain timeout", c.DrainTimeout},
		{"lease ttl", c.LeaseTTL}, {"discover interval", c.DiscoverInterval}, {"max backoff", c.MaxBackoff},
		{"merge window", c.MergeWindow}, {"stall timeout", c.StallTimeout},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: want > 0", p.name, p.v))
		}
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want >= 1", c.Concurrency))
	}
	if c.TenantConcurrency < 1 {
		errs = append(errs, fmt.Errorf("tenant concurrency %d: want >= 1", c.TenantConcurrency))
	}
	if c.WriteLimit < 1 {
		errs = append(errs, fmt.Errorf("write limit %d: want >= 1", c.WriteLimit))
	}
	if c.DevicesWriteLimit < 1 {
		errs = append(errs, fmt.Errorf("devices write limit %d: want >= 1", c.DevicesWriteLimit))
	}
	if c.LeaseTTL > 0 && c.LeaseTTL < minLeaseTTL {
		errs = append(errs, fmt.Errorf("lease ttl %s: want >= %s (it is renewed every third)", c.LeaseTTL, minLeaseTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("worker config: %w", err)
	}
	return nil
}

// writeLimit is the budget of a tenant's writes to service: writes per
// window.
func (c Config) writeLimit(service graph.Service) (int, time.Duration) {
	if service == graph.ServiceDevices {
		return c.DevicesWriteLimit, c.DevicesWriteWindow
	}
	return c.WriteLimit, c.WriteWindow
}

// Graph is the part of *graph.Client the worker uses. Every error is
// expected to be a *graph.Error (errors.Is against graph's sentinels).
type Graph interface {
	Create(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error)
	List(ctx context.Context, tenant, version string, k *graph.Kind, policyID string) ([]graph.Assignment, error)
	Assign(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, set []graph.Assignment) ([]graph.Assignment, error)
}

// Store is the part of *jobs.Store the worker uses.
type Store interface {
	TenantConsumer(ctx context.Context, tenant string) (jetstream.Consumer, error)
	CheckTenantConsumer(ctx context.Context, tenant string) error
	RecreateTenantConsumer(ctx context.Context, tenant string) (jetstream.Consumer, string, error)
	ProbeWrite(ctx context.Context) error
	PendingTenants(ctx context.Context) (map[string]uint64, error)
	Outcome(ctx context.Context, key string) (jobs.Outcome, bool, error)
	PutOutcome(ctx context.Context, key string, o jobs.Outcome) error
	Intent(ctx context.Context, key string) (jobs.Intent, bool, error)
	PutIntent(ctx context.Context, key string, in jobs.Intent) error
	DeleteIntent(ctx context.Context, key string) error
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (*jobs.Lease, error)
	AcquireWait(ctx context.Context, name, owner string, ttl, poll time.Duration) (*jobs.Lease, error)
	PutResult(ctx context.Context, r jobs.Result) error
	DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error
}

// Metrics is the part of *metrics.Metrics the worker calls. A nil Metrics
// in Config records nothing.
type Metrics interface {
	RowFinished(tenant, kind, status string)
	JobAttempt(tenant, outcome string)
	Throttled(tenant string, retryAfter time.Duration, hadHeader bool)
	SetTenantRate(tenant string, perSecond float64)
	SetTenantPaused(tenant string, paused bool)
	SetTenantBlocked(tenant string, blocked bool)
	InFlight(delta int)
	MalformedMessage(source string)
	DeadLettered()
	Redelivered(tenant string)
	Panic()
	ObserveJobDuration(tenant string, d time.Duration)
	StoreError(operation string)
	SetStoreHealthy(healthy bool)
}

type noMetrics struct{}

func (noMetrics) RowFinished(string, string, string)       {}
func (noMetrics) JobAttempt(string, string)                {}
func (noMetrics) Throttled(string, time.Duration, bool)    {}
func (noMetrics) SetTenantRate(string, float64)            {}
func (noMetrics) SetTenantPaused(string, bool)             {}
func (noMetrics) SetTenantBlocked(string, bool)            {}
func (noMetrics) InFlight(int)                             {}
func (noMetrics) MalformedMessage(string)                  {}
func (noMetrics) DeadLettered()                            {}
func (noMetrics) Redelivered(string)                       {}
func (noMetrics) Panic()                                   {}
func (noMetrics) ObserveJobDuration(string, time.Duration) {}
func (noMetrics) StoreError(string)                        {}
func (noMetrics) SetStoreHealthy(bool)                     {}

// ErrRunning is returned by [Worker.Run] when the worker already runs.
var ErrRunning = errors.New("worker: already running")

// Timing constants that need no configuration.
const (
	// handBackDelay is the NakWithDelay of a job handed back unfinished
	// (shutdown, NATS trouble): soon, but not at once.
	handBackDelay = time.Second
	// heldDelay is the NakWithDelay of a job whose key another worker owns
	// at the moment (a duplicate delivery).
	heldDelay = time.Second
	// fetchWait bounds one pull request; shutdown waits at most this long
	// for a runner to notice.
	fetchWait = time.Second
	// recordTimeout bounds the final writes of a job (outcome, result,
	// ack), made with a context that survives cancellation.
	recordTimeout = 10 * time.Second
	// policyLockPoll is how often a merge waiting for a policy lock retries
	// besides watching the lock.
	policyLockPoll = 250 * time.Millisecond
	// minLeaseTTL is the shortest lease: leases are renewed every third of
	// their TTL.
	minLeaseTTL = 300 * time.Millisecond
)

// keyLeaseTTL is the TTL of a key lease: the consumer's AckWait (at least
// minLeaseTTL). A job is redelivered AckWait after its worker stopped
// sending InProgress, when the dead worker's lease has run out too; a
// longer TTL would hand the redelivery back as "held" again and again.
func keyLeaseTTL(ackWait time.Duration) time.Duration {
	return max(ackWait, minLeaseTTL)
}

// Worker consumes jobs and writes them to Graph. Create one with [New]; it
// runs once ([Worker.Run]).
type Worker struct {
	store Store
	graph Graph
	cfg   Config
	log   *slog.Logger
	m     Metrics

	health      *health       // store requests failing without success
	sem         chan struct{} // Graph requests in flight, all tenants
	seq         atomic.Uint64 // lease owner suffixes
	busy        atomic.Int64  // jobs being handled
	logT        *rate.Limiter // repeated infrastructure errors are logged at most this often
	graphHealth *graphHealth  // the last transient failure of each tenant

	mu         sync.Mutex
	tenants    map[string]*tenant
	mergeKinds map[string]bool // kinds switched to merge after a route error
	running    bool
	abort      context.CancelFunc // hard stop of the current Run

	wg sync.WaitGroup // runners and handlers of the current Run
}

// New returns a Worker reading jobs from store and writing through g.
func New(store Store, g Graph, cfg Config) (*Worker, error) {
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
		store:       observed{Store: store, h: h},
		graphHealth: gh,
		cfg:         cfg,
		log:         cfg.Logger,
		m:           cfg.Metrics,
		health:      h,
		sem:         make(chan struct{}, cfg.Concurrency),
		logT:        rate.NewLimiter(rate.Every(5*time.Second), 3),
		tenants:     make(map[string]*tenant),
		mergeKinds:  make(map[string]bool),
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

// discoverLoop starts a runner for every tenant with waiting jobs, and
// watches the store's health, every DiscoverInterval, until rc.soft is
// done (nil) or, with StopOnStall, the store stalls (the *StallError).
func (w *Worker) discoverLoop(rc *runCtx) *StallError {
	ticker := time.NewTicker(w.cfg.DiscoverInterval)
	defer ticker.Stop()
	for {
		w.discover(rc)
		if rc.soft.Err() != nil {
			return nil
		}
		w.probe(rc)
		if st := w.watchHealth(); st != nil && w.cfg.StopOnStall {
			return st
		}
		select {
		case <-rc.soft.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// discover starts runners for tenants that have jobs and none running.
func (w *Worker) discover(rc *runCtx) {
	ctx, cancel := context.WithTimeout(rc.soft, 5*time.Second)
	defer cancel()
	pending, err := w.store.PendingTenants(ctx)
	if err != nil {
		if rc.soft.Err() == nil {
			w.logInfra("discover tenants", err)
		}
		return
	}
	for name, n := range pending {
		if n == 0 {
			continue
		}
		t := w.tenant(name)
		t.mu.Lock()
		start := !t.running
		t.running = true
		t.mu.Unlock()
		if start {
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() {
					t.mu.Lock()
					t.running = false
					t.mu.Unlock()
				}()
				newRunner(w, t).run(rc)
			}()
		}
	}
}

// tenant returns the state of a tenant, creating it. Tenant state (rate,
// gate, breaker) outlives runners: a runner that exits when idle and is
// started again finds its tenant as it was.
func (w *Worker) tenant(name string) *tenant {
	key := strings.ToLower(name)
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.tenants[key]
	if t == nil {
		t = newTenant(w, key)
		w.tenants[key] = t
	}
	return t
}

// strategy is the write strategy for kind k: its default, or merge once a
// create of that kind was refused with "No method match route template".
func (w *Worker) strategy(k *graph.Kind) graph.Strategy {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mergeKinds[k.Name] {
		return graph.StrategyMerge
	}
	return k.Strategy
}

// switchToMerge records that creates of k are not routed; it logs once per
// kind.
func (w *Worker) switchToMerge(k *graph.Kind) {
	w.mu.Lock()
	first := !w.mergeKinds[k.Name]
	w.mergeKinds[k.Name] = true
	w.mu.Unlock()
	if first {
		w.log.Warn("create is not routed for this kind; switching it to merge (/assign)",
			slog.String("kind", k.Name), slog.Bool("can_merge", k.CanMerge()))
	}
}

// owner returns a fresh lease owner: the worker's name and a sequence
// number, so that two handlers of one worker never share a lease.
func (w *Worker) owner() string {
	return fmt.Sprintf("%s/%d", w.cfg.Owner, w.seq.Add(1))
}

// graphCall runs fn holding one of the Concurrency slots.
func (w *Worker) graphCall(ctx context.Context, fn func() error) error {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.sem }()
	return fn()
}

// logInfra logs an infrastructure error (NATS down, consumer missing),
// rate-limited: an outage must not flood the log.
func (w *Worker) logInfra(what string, err error) {
	if w.logT.Allow() {
		w.log.Warn(what+" failed", slog.Any("error", err))
	}
}
