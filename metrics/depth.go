package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DepthFunc reports how many jobs wait in the queue, per tenant. It is called
// at scrape time with a context that expires after a short timeout (2 s) and
// must honour it.
type DepthFunc func(ctx context.Context) (map[string]uint64, error)

// defaultDepthTimeout bounds one DepthFunc call during a scrape.
const defaultDepthTimeout = 2 * time.Second

// WatchQueueDepth makes every scrape call fn and expose its answer as
// bulkassign_queue_depth{tenant}. When fn fails (or panics) the scrape still
// succeeds: no depth series are exposed, bulkassign_queue_depth_up is 0 and
// bulkassign_queue_depth_scrape_errors_total grows; the error itself is not
// exposed. A later call replaces fn; a nil fn stops watching.
func (m *Metrics) WatchQueueDepth(fn DepthFunc) {
	if m == nil {
		return
	}
	m.depth.setFunc(fn)
}

// depthCollector is the scrape-time collector behind WatchQueueDepth. It is
// registered by New, before any DepthFunc is known, and exposes depth and up
// only once one is.
type depthCollector struct {
	depthDesc *prometheus.Desc
	upDesc    *prometheus.Desc
	errors    prometheus.Counter
	timeout   time.Duration

	mu sync.Mutex
	fn DepthFunc
}

func newDepthCollector() *depthCollector {
	return &depthCollector{
		depthDesc: prometheus.NewDesc(namespace+"_queue_depth",
			"Jobs waiting in the queue per tenant, read at scrape time.",
			[]string{"tenant"}, nil),
		upDesc: prometheus.NewDesc(namespace+"_queue_depth_up",
			"1 if the queue depth could be read at this scrape, else 0.",
			nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "queue_depth_scrape_errors_total",
			Help: "Scrapes at which the queue depth could not be read.",
		}),
		timeout: defaultDepthTimeout,
	}
}

func (c *depthCollector) setFunc(fn DepthFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fn = fn
}

// Describe implements prometheus.Collector.
func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depthDesc
	ch <- c.upDesc
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	fn := c.fn
	c.mu.Unlock()
	if fn != nil {
		depths, err := c.read(fn)
		up := 1.0
		if err != nil {
			c.errors.Inc()
			up = 0
		}
		for tenant, n := range depths {
			ch <- prometheus.MustNewConstMetric(c.depthDesc, prometheus.GaugeValue, n, tenant)
		}
		ch <- prometheus.MustNewConstMetric(c.upDesc, prometheus.GaugeValue, up)
	}
	c.errors.Collect(ch)
}

// read calls fn under the timeout and folds tenants onto usable label
// values (summing those that fold together, so no series is duplicated).
// A panic in fn is returned as an error: Gather runs collectors on its own
// goroutines, where a panic would end the process.
func (c *depthCollector) read(fn DepthFunc) (depths map[string]float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			depths, err = nil, fmt.Errorf("queue depth: panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	raw, err := fn(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue depth: %w", err)
	}
	depths = make(map[string]float64, len(raw))
	for tenant, n := range raw {
		depths[labelValue(tenant)] += float64(n)
	}
	return depths, nil
}
