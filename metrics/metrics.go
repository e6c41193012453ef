package metrics

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/worker/label"
)

const namespace = "bulkassign"

// Label values that fold unknown or unusable input.
const (
	otherValue   = "other"
	unknownValue = "unknown"
	maxLabelLen  = 128
)

// Attempt outcomes accepted by [Metrics.JobAttempt]: the worker's
// vocabulary ([label.Outcomes]). Anything else is counted as "other",
// which keeps the label bounded.
var attemptOutcomes = allowed(label.Outcomes())

// Row statuses accepted by [Metrics.RowFinished]: every
// [contract.Status]; anything else is counted as "other".
var rowStatuses = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range contract.Statuses() {
		m[string(s)] = true
	}
	return m
}()

// Store operations accepted by [Metrics.StoreError] ([label.StoreOps]);
// anything else is counted as "other".
var storeOperations = allowed(label.StoreOps())

// Message sources accepted by [Metrics.MalformedMessage].
var messageSources = map[string]bool{"queue": true, "job": true}

// Histogram buckets, in seconds.
var (
	// Retry-After values Graph sends: usually a few seconds, at most minutes.
	retryAfterBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}
	// Enqueue to final result: seconds when idle, hours for a large import
	// behind a throttled tenant.
	jobDurationBuckets = []float64{1, 5, 15, 30, 60, 300, 900, 1800, 3600, 10800}
	// One Graph request.
	graphDurationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// Metrics holds every bulkassign collector. Create it with [New]; a nil
// *Metrics is valid and records nothing.
type Metrics struct {
	rows          *prometheus.CounterVec
	attempts      *prometheus.CounterVec
	throttled     *prometheus.CounterVec
	retryAfter    prometheus.Histogram
	writeRate     *prometheus.GaugeVec
	paused        *prometheus.GaugeVec
	blocked       *prometheus.GaugeVec
	inflight      prometheus.Gauge
	malformed     *prometheus.CounterVec
	deadLetters   prometheus.Counter
	redeliveries  *prometheus.CounterVec
	panics        prometheus.Counter
	jobDuration   *prometheus.HistogramVec
	graphRequests *prometheus.CounterVec
	graphDuration *prometheus.HistogramVec
	graphInFlight prometheus.Gauge
	graphErrors   *prometheus.CounterVec
	storeErrors   *prometheus.CounterVec
	storeHealthy  prometheus.Gauge
	depth         *depthCollector
}

// New creates every collector and registers it on reg. It fails if reg is
// nil or if any registration fails (for example a second New on the same
// registry); nothing stays registered then.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil registerer")
	}
	m := &Metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rows_total",
			Help: "Rows with a final result, by tenant, assignment kind and status (created, existing, duplicate, failed, invalid).",
		}, []string{"tenant", "kind", "status"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "job_attempts_total",
			Help: "Graph write attempts by tenant and outcome.",
		}, []string{"tenant", "outcome"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "throttled_total",
			Help: "Throttled (429) Graph answers by tenant and whether a Retry-After header was present.",
		}, []string{"tenant", "retry_after"}),
		retryAfter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "retry_after_seconds",
			Help:    "Retry-After delays sent by Graph with throttled answers.",
			Buckets: retryAfterBuckets,
		}),
		writeRate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "tenant_write_rate",
			Help: "Current adaptive Graph write limit per tenant, in writes per second.",
		}, []string{"tenant"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "tenant_paused",
			Help: "1 while writes to the tenant are paused after throttling, else 0.",
		}, []string{"tenant"}),
		blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "tenant_blocked",
			Help: "1 while the tenant is blocked (authentication or permission problem), else 0.",
		}, []string{"tenant"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "inflight_jobs",
			Help: "Jobs being processed right now.",
		}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "malformed_messages_total",
			Help: "Messages that could not be decoded or validated, by source (queue, job).",
		}, []string{"source"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "dead_letter_total",
			Help: "Messages moved to the dead-letter stream.",
		}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "redeliveries_total",
			Help: "Jobs received again after an earlier delivery, by tenant.",
		}, []string{"tenant"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "worker_panics_total",
			Help: "Panics recovered while processing a job.",
		}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "job_duration_seconds",
			Help:    "Time from enqueue to a job's final result, by tenant.",
			Buckets: jobDurationBuckets,
		}, []string{"tenant"}),
		graphRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "graph_requests_total",
			Help: "Microsoft Graph HTTP requests that got a response, by status code and method.",
		}, []string{"code", "method"}),
		graphDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "graph_request_duration_seconds",
			Help:    "Microsoft Graph HTTP request latency until response headers, by method.",
			Buckets: graphDurationBuckets,
		}, []string{"method"}),
		graphInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "graph_requests_in_flight",
			Help: "Microsoft Graph HTTP requests in flight.",
		}),
		graphErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "graph_transport_errors_total",
			Help: "Microsoft Graph HTTP requests that failed without a response (connection, TLS, timeout), by method.",
		}, []string{"method"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "store_errors_total",
			Help: "Job store (NATS JetStream) requests that failed or got no answer, by operation.",
		}, []string{"operation"}),
		storeHealthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "store_healthy",
			Help: "0 while the job store cannot make progress (one kind of request has failed for the stall timeout), else 1.",
		}),
		depth: newDepthCollector(),
	}
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
		done = append(done, c)
	}
	return m, nil
}

// collectors lists every collector New registers.
func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.rows, m.attempts, m.throttled, m.retryAfter, m.writeRate, m.paused,
		m.blocked, m.inflight, m.malformed, m.deadLetters, m.redeliveries,
		m.panics, m.jobDuration, m.graphRequests, m.graphDuration,
		m.graphInFlight, m.graphErrors, m.storeErrors, m.storeHealthy, m.depth,
	}
}

// RowFinished counts one row with a final result
// (bulkassign_rows_total{tenant,kind,status}). status is a jobs.Status
// value; unknown statuses are counted as "other".
func (m *Metrics) RowFinished(tenant, kind, status string) {
	if m == nil {
		return
	}
	m.rows.WithLabelValues(labelValue(tenant), labelValue(kind), oneOf(status, rowStatuses)).Inc()
}

// JobAttempt counts one Graph write attempt by outcome
// (bulkassign_job_attempts_total{tenant,outcome}). outcome is one of
// [label.Outcomes]: created, existing, duplicate, failed, invalid,
// conflict, throttled, transient, ambiguous, error, panic, blocked,
// deadline, handed_back, held, permanent, unauthorized, forbidden,
// route_not_supported or reconciled; anything else counts as "other".
func (m *Metrics) JobAttempt(tenant string, outcome label.Outcome) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(labelValue(tenant), oneOf(string(outcome), attemptOutcomes)).Inc()
}

// Throttled counts one throttled answer
// (bulkassign_throttled_total{tenant,retry_after="present|absent"}) and, when
// Graph sent a Retry-After header, observes its value in
// bulkassign_retry_after_seconds. Delays the worker computed itself are not
// observed.
func (m *Metrics) Throttled(tenant string, retryAfter time.Duration, hadHeader bool) {
	if m == nil {
		return
	}
	ra := "absent"
	if hadHeader {
		ra = "present"
		m.retryAfter.Observe(max(retryAfter, 0).Seconds())
	}
	m.throttled.WithLabelValues(labelValue(tenant), ra).Inc()
}

// SetTenantRate sets the tenant's current adaptive write limit in writes per
// second (bulkassign_tenant_write_rate{tenant}).
func (m *Metrics) SetTenantRate(tenant string, perSecond float64) {
	if m == nil {
		return
	}
	m.writeRate.WithLabelValues(labelValue(tenant)).Set(perSecond)
}

// SetTenantPaused sets bulkassign_tenant_paused{tenant} to 1 or 0.
func (m *Metrics) SetTenantPaused(tenant string, paused bool) {
	if m == nil {
		return
	}
	m.paused.WithLabelValues(labelValue(tenant)).Set(boolValue(paused))
}

// SetTenantBlocked sets bulkassign_tenant_blocked{tenant} to 1 or 0.
func (m *Metrics) SetTenantBlocked(tenant string, blocked bool) {
	if m == nil {
		return
	}
	m.blocked.WithLabelValues(labelValue(tenant)).Set(boolValue(blocked))
}

// InFlight adds delta (+1 when a job starts, -1 when it ends) to
// bulkassign_inflight_jobs.
func (m *Metrics) InFlight(delta int) {
	if m == nil {
		return
	}
	m.inflight.Add(float64(delta))
}

// MalformedMessage counts one undecodable or invalid message
// (bulkassign_malformed_messages_total{source}); source is "queue" or "job",
// anything else counts as "other".
func (m *Metrics) MalformedMessage(source string) {
	if m == nil {
		return
	}
	m.malformed.WithLabelValues(oneOf(source, messageSources)).Inc()
}

// DeadLettered counts one message moved to the dead-letter stream
// (bulkassign_dead_letter_total).
func (m *Metrics) DeadLettered() {
	if m == nil {
		return
	}
	m.deadLetters.Inc()
}

// Redelivered counts one job received again after an earlier delivery
// (bulkassign_redeliveries_total{tenant}).
func (m *Metrics) Redelivered(tenant string) {
	if m == nil {
		return
	}
	m.redeliveries.WithLabelValues(labelValue(tenant)).Inc()
}

// Panic counts one panic recovered in a job handler
// (bulkassign_worker_panics_total).
func (m *Metrics) Panic() {
	if m == nil {
		return
	}
	m.panics.Inc()
}

// ObserveJobDuration observes the time from enqueue to a job's final result
// (bulkassign_job_duration_seconds{tenant}). Negative durations (clock skew
// between machines) are observed as 0.
func (m *Metrics) ObserveJobDuration(tenant string, d time.Duration) {
	if m == nil {
		return
	}
	m.jobDuration.WithLabelValues(labelValue(tenant)).Observe(max(d, 0).Seconds())
}

// StoreError counts one failed or unanswered job store request
// (bulkassign_store_errors_total{operation}). operation is one of
// [label.StoreOps]: discover, consumer, consumer_check, fetch, lease,
// outcome, intent, result, dead_letter or probe (a write made only to learn
// whether writes work); anything else counts as "other".
func (m *Metrics) StoreError(operation label.StoreOp) {
	if m == nil {
		return
	}
	m.storeErrors.WithLabelValues(oneOf(string(operation), storeOperations)).Inc()
}

// SetStoreHealthy sets bulkassign_store_healthy to 1 or 0 (0: the job
// store cannot make progress).
func (m *Metrics) SetStoreHealthy(healthy bool) {
	if m == nil {
		return
	}
	m.storeHealthy.Set(boolValue(healthy))
}

// labelValue returns s when it is usable as a free-form label value, "unknown"
// when empty and "other" when it is not valid UTF-8 or longer than 128 bytes
// (WithLabelValues panics on invalid UTF-8).
func labelValue(s string) string {
	switch {
	case s == "":
		return unknownValue
	case len(s) > maxLabelLen || !utf8.ValidString(s):
		return otherValue
	}
	return s
}

// allowed is the set of vs, for oneOf.
func allowed[T ~string](vs []T) map[string]bool {
	set := make(map[string]bool, len(vs))
	for _, v := range vs {
		set[string(v)] = true
	}
	return set
}

// oneOf returns s if it is in the allowed set, else "other".
func oneOf(s string, allowed map[string]bool) string {
	if allowed[s] {
		return s
	}
	return otherValue
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
