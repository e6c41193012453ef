package resolve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkassign/bulkassign/graph"
)

// Defaults of [ReadConfig].
const (
	// DefaultReadLimit is Intune's request budget per app and tenant
	// (1,000 per 20 s): reads have ten times the write budget.
	DefaultReadLimit   = 1000
	DefaultReadWindow  = 20 * time.Second
	DefaultAttempts    = 5
	DefaultMaxBackoff  = 30 * time.Second
	defaultBaseBackoff = time.Second
)

// ReadConfig configures [Reads].
type ReadConfig struct {
	// Limit is the reads let through per Window per tenant, evenly paced.
	// Default 1000.
	Limit int
	// Window is Limit's window. Default 20s.
	Window time.Duration
	// Attempts is how many times one read is tried when Graph answers 429
	// or a transient failure (reads change nothing, so retrying is safe).
	// Default 5.
	Attempts int
	// MaxBackoff caps the wait between attempts when Graph gives no
	// Retry-After (a Retry-After is honoured as given). Default 30s.
	MaxBackoff time.Duration
}

// Reads paces Graph reads per tenant (a token bucket per tenant at
// Limit/Window, burst 1) and retries throttled and transient ones. It is
// safe for concurrent use; one Reads is shared by everything that reads
// for one import so that its reads share each tenant's budget.
type Reads struct {
	cfg  ReadConfig
	mu   sync.Mutex
	lims map[string]*rate.Limiter
}

// NewReads checks cfg and fills in defaults.
func NewReads(cfg ReadConfig) (*Reads, error) {
	if cfg.Limit < 0 || cfg.Window < 0 || cfg.Attempts < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("resolve: negative ReadConfig value")
	}
	cfg.Limit = cmp.Or(cfg.Limit, DefaultReadLimit)
	cfg.Window = cmp.Or(cfg.Window, DefaultReadWindow)
	cfg.Attempts = cmp.Or(cfg.Attempts, DefaultAttempts)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	return &Reads{cfg: cfg, lims: make(map[string]*rate.Limiter)}, nil
}

// Do runs read for tenant once the tenant's budget allows, and again (up
// to Attempts in all) after a throttled or transient failure, waiting
// Graph's Retry-After or an exponential backoff with full jitter. It
// returns read's last error, or ctx's.
func (r *Reads) Do(ctx context.Context, tenant string, read func(context.Context) error) error {
	lim := r.limiter(tenant)
	for attempt := 1; ; attempt++ {
		if err := lim.Wait(ctx); err != nil {
			return fmt.Errorf("wait for the read budget: %w", err)
		}
		err := read(ctx)
		if err == nil || attempt >= r.cfg.Attempts ||
			!(errors.Is(err, graph.ErrThrottled) || errors.Is(err, graph.ErrTransient)) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(r.delay(attempt, err))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// delay is Graph's Retry-After when it gave one, else a full-jitter draw
// from [0, min(MaxBackoff, 1s·2^(attempt-1))).
func (r *Reads) delay(attempt int, err error) time.Duration {
	var ge *graph.Error
	if errors.As(err, &ge) && ge.HasRetryAfter {
		return ge.RetryAfter
	}
	c := defaultBaseBackoff << min(attempt-1, 16)
	c = min(c, r.cfg.MaxBackoff)
	return time.Duration(rand.Int64N(int64(c)) + 1)
}

func (r *Reads) limiter(tenant string) *rate.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.lims[tenant]
	if !ok {
		l = rate.NewLimiter(rate.Limit(float64(r.cfg.Limit)/r.cfg.Window.Seconds()), 1)
		r.lims[tenant] = l
	}
	return l
}
