package worker

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/bulkassign/bulkassign/graph"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
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

// Timing constants that need no configuration.
const (
	// handBackDelay is the NakWithDelay of a job handed back unfinished
	// (shutdown, NATS trouble): soon, but not at once.
	handBackDelay = time.Second
	// heldDelay is the NakWithDelay of a job whose key another worker owns
	// at the moment (a duplicate delivery).
	heldDelay = time.Second
	// consumerOpens bounds the tenant consumers a worker opens (creates or
	// updates) at once. Runners of a thousand tenants start together, and
	// as many requests at once queue in the server's JetStream API behind
	// each other until the last ones time out (10 s), are retried and
	// queue again; a few dozen at a time, each is answered well within
	// its timeout even on a loaded machine.
	consumerOpens = 32
	// fetchWait bounds one pull request (a stop ends it early).
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
