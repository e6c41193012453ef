package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newTest returns Metrics on a fresh pedantic registry.
func newTest(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	return newBench(t)
}

// newBench is newTest for any testing.TB.
func newBench(tb testing.TB) (*Metrics, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return m, reg
}

// exerciseAll calls every recording method once so every family has at
// least one series, including a real Graph request through the transport.
func exerciseAll(t *testing.T, m *Metrics) {
	t.Helper()
	m.RowFinished("t1", "deviceConfiguration", "created")
	m.JobAttempt("t1", "created")
	m.Throttled("t1", 3*time.Second, true)
	m.SetTenantRate("t1", 5)
	m.SetTenantPaused("t1", false)
	m.SetTenantBlocked("t1", false)
	m.InFlight(1)
	m.MalformedMessage("queue")
	m.DeadLettered()
	m.Redelivered("t1")
	m.Panic()
	m.ObserveJobDuration("t1", time.Second)
	m.StoreError("result")
	m.SetStoreHealthy(true)
	m.WatchQueueDepth(func(context.Context) (map[string]uint64, error) {
		return map[string]uint64{"t1": 1}, nil
	})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	client := &http.Client{Transport: m.InstrumentTransport(srv.Client().Transport)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	srv.Close() // also closes the transport's idle connections
	// A request with no server behind it: a transport error.
	if resp, err := client.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("GET on a closed server succeeded")
	}
}

// familyNames returns the names of every family the registry gathers.
func familyNames(t *testing.T, g prometheus.Gatherer) map[string]bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	names := make(map[string]bool, len(mfs))
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

func TestNewRegistersEveryDocumentedFamily(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	exerciseAll(t, m)
	want := []string{
		"bulkassign_rows_total", "bulkassign_job_attempts_total", "bulkassign_throttled_total",
		"bulkassign_retry_after_seconds", "bulkassign_tenant_write_rate", "bulkassign_tenant_paused",
		"bulkassign_tenant_blocked", "bulkassign_inflight_jobs", "bulkassign_malformed_messages_total",
		"bulkassign_dead_letter_total", "bulkassign_redeliveries_total", "bulkassign_worker_panics_total",
		"bulkassign_job_duration_seconds", "bulkassign_graph_requests_total",
		"bulkassign_graph_request_duration_seconds", "bulkassign_graph_requests_in_flight",
		"bulkassign_graph_transport_errors_total", "bulkassign_queue_depth", "bulkassign_queue_depth_up",
		"bulkassign_store_errors_total", "bulkassign_store_healthy",
		"bulkassign_queue_depth_scrape_errors_total",
	}
	got := familyNames(t, reg)
	for _, name := range want {
		if !got[name] {
			t.Errorf("family %s not gathered", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("gathered %d families, want %d: %v", len(got), len(want), got)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}

	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatalf("first New: %v", err)
	}
	if _, err := New(reg); err == nil {
		t.Error("second New on the same registry succeeded")
	}

	// A clash on a late collector rolls back the ones registered before it.
	reg = prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulkassign_graph_transport_errors_total", Help: "clash",
	}))
	if _, err := New(reg); err == nil {
		t.Fatal("New with a clashing collector succeeded")
	}
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulkassign_rows_total", Help: "Rows with a final result, by tenant, assignment kind and status (created, existing, duplicate, failed, invalid).",
	}, []string{"tenant", "kind", "status"})
	if err := reg.Register(rows); err != nil {
		t.Errorf("rows_total still registered after a failed New: %v", err)
	}
}

func TestCollectorsLint(t *testing.T) {
	t.Parallel()
	m, _ := newTest(t)
	exerciseAll(t, m)
	for _, c := range m.collectors() {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatalf("lint %T: %v", c, err)
		}
		for _, p := range problems {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
		if n := testutil.CollectAndCount(c); n == 0 {
			t.Errorf("%T collected nothing after exerciseAll", c)
		}
	}
}

func TestRecording(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(m *Metrics)
		read func(m *Metrics) prometheus.Collector
		want float64
	}{
		{
			name: "row",
			call: func(m *Metrics) {
				m.RowFinished("t1", "deviceConfiguration", "created")
				m.RowFinished("t1", "deviceConfiguration", "created")
				m.RowFinished("t1", "deviceConfiguration", "failed")
			},
			read: func(m *Metrics) prometheus.Collector {
				return m.rows.WithLabelValues("t1", "deviceConfiguration", "created")
			},
			want: 2,
		},
		{
			name: "row unknown status folds to other",
			call: func(m *Metrics) { m.RowFinished("t1", "k", "Created!") },
			read: func(m *Metrics) prometheus.Collector { return m.rows.WithLabelValues("t1", "k", "other") },
			want: 1,
		},
		{
			name: "attempt",
			call: func(m *Metrics) { m.JobAttempt("t1", "route_not_supported") },
			read: func(m *Metrics) prometheus.Collector {
				return m.attempts.WithLabelValues("t1", "route_not_supported")
			},
			want: 1,
		},
		{
			name: "attempt worker verdict",
			call: func(m *Metrics) { m.JobAttempt("t1", "handed_back") },
			read: func(m *Metrics) prometheus.Collector { return m.attempts.WithLabelValues("t1", "handed_back") },
			want: 1,
		},
		{
			name: "attempt unknown outcome folds to other",
			call: func(m *Metrics) { m.JobAttempt("t1", "/deviceManagement/xyz") },
			read: func(m *Metrics) prometheus.Collector { return m.attempts.WithLabelValues("t1", "other") },
			want: 1,
		},
		{
			name: "throttled with header",
			call: func(m *Metrics) { m.Throttled("t1", 7*time.Second, true) },
			read: func(m *Metrics) prometheus.Collector { return m.throttled.WithLabelValues("t1", "present") },
			want: 1,
		},
		{
			name: "throttled without header",
			call: func(m *Metrics) { m.Throttled("t1", 7*time.Second, false) },
			read: func(m *Metrics) prometheus.Collector { return m.throttled.WithLabelValues("t1", "absent") },
			want: 1,
		},
		{
			name: "rate",
			call: func(m *Metrics) { m.SetTenantRate("t1", 5); m.SetTenantRate("t1", 2.5) },
			read: func(m *Metrics) prometheus.Collector { return m.writeRate.WithLabelValues("t1") },
			want: 2.5,
		},
		{
			name: "paused then resumed",
			call: func(m *Metrics) { m.SetTenantPaused("t1", true); m.SetTenantPaused("t1", false) },
			read: func(m *Metrics) prometheus.Collector { return m.paused.WithLabelValues("t1") },
			want: 0,
		},
		{
			name: "blocked",
			call: func(m *Metrics) { m.SetTenantBlocked("t1", true) },
			read: func(m *Metrics) prometheus.Collector { return m.blocked.WithLabelValues("t1") },
			want: 1,
		},
		{
			name: "in flight",
			call: func(m *Metrics) { m.InFlight(1); m.InFlight(1); m.InFlight(-1) },
			read: func(m *Metrics) prometheus.Collector { return m.inflight },
			want: 1,
		},
		{
			name: "malformed",
			call: func(m *Metrics) { m.MalformedMessage("job"); m.MalformedMessage("job") },
			read: func(m *Metrics) prometheus.Collector { return m.malformed.WithLabelValues("job") },
			want: 2,
		},
		{
			name: "malformed unknown source",
			call: func(m *Metrics) { m.MalformedMessage("kafka") },
			read: func(m *Metrics) prometheus.Collector { return m.malformed.WithLabelValues("other") },
			want: 1,
		},
		{
			name: "dead letter",
			call: func(m *Metrics) { m.DeadLettered() },
			read: func(m *Metrics) prometheus.Collector { return m.deadLetters },
			want: 1,
		},
		{
			name: "redelivered",
			call: func(m *Metrics) { m.Redelivered("t2"); m.Redelivered("t2") },
			read: func(m *Metrics) prometheus.Collector { return m.redeliveries.WithLabelValues("t2") },
			want: 2,
		},
		{
			name: "panic",
			call: func(m *Metrics) { m.Panic() },
			read: func(m *Metrics) prometheus.Collector { return m.panics },
			want: 1,
		},
		{
			name: "empty tenant is unknown",
			call: func(m *Metrics) { m.Redelivered("") },
			read: func(m *Metrics) prometheus.Collector { return m.redeliveries.WithLabelValues("unknown") },
			want: 1,
		},
		{
			name: "invalid UTF-8 tenant is other",
			call: func(m *Metrics) { m.Redelivered("\xff\xfe") },
			read: func(m *Metrics) prometheus.Collector { return m.redeliveries.WithLabelValues("other") },
			want: 1,
		},
		{
			name: "overlong tenant is other",
			call: func(m *Metrics) { m.Redelivered(strings.Repeat("a", 129)) },
			read: func(m *Metrics) prometheus.Collector { return m.redeliveries.WithLabelValues("other") },
			want: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, _ := newTest(t)
			tt.call(m)
			if got := testutil.ToFloat64(tt.read(m)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHistograms(t *testing.T) {
	t.Parallel()
	m, _ := newTest(t)
	m.Throttled("t1", 7*time.Second, true)
	m.Throttled("t1", 90*time.Second, false) // computed delay: not a Retry-After
	m.Throttled("t1", -time.Second, true)    // clamps to 0
	m.ObserveJobDuration("t1", 45*time.Second)
	m.ObserveJobDuration("t1", -time.Minute) // clock skew clamps to 0

	const want = `
# HELP bulkassign_retry_after_seconds Retry-After delays sent by Graph with throttled answers.
# TYPE bulkassign_retry_after_seconds histogram
bulkassign_retry_after_seconds_bucket{le="0.5"} 1
bulkassign_retry_after_seconds_bucket{le="1"} 1
bulkassign_retry_after_seconds_bucket{le="2"} 1
bulkassign_retry_after_seconds_bucket{le="5"} 1
bulkassign_retry_after_seconds_bucket{le="10"} 2
bulkassign_retry_after_seconds_bucket{le="20"} 2
bulkassign_retry_after_seconds_bucket{le="30"} 2
bulkassign_retry_after_seconds_bucket{le="60"} 2
bulkassign_retry_after_seconds_bucket{le="120"} 2
bulkassign_retry_after_seconds_bucket{le="300"} 2
bulkassign_retry_after_seconds_bucket{le="+Inf"} 2
bulkassign_retry_after_seconds_sum 7
bulkassign_retry_after_seconds_count 2
`
	if err := testutil.CollectAndCompare(m.retryAfter, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	const wantDur = `
# HELP bulkassign_job_duration_seconds Time from enqueue to a job's final result, by tenant.
# TYPE bulkassign_job_duration_seconds histogram
bulkassign_job_duration_seconds_bucket{tenant="t1",le="1"} 1
bulkassign_job_duration_seconds_bucket{tenant="t1",le="5"} 1
bulkassign_job_duration_seconds_bucket{tenant="t1",le="15"} 1
bulkassign_job_duration_seconds_bucket{tenant="t1",le="30"} 1
bulkassign_job_duration_seconds_bucket{tenant="t1",le="60"} 2
bulkassign_job_duration_seconds_bucket{tenant="t1",le="300"} 2
bulkassign_job_duration_seconds_bucket{tenant="t1",le="900"} 2
bulkassign_job_duration_seconds_bucket{tenant="t1",le="1800"} 2
bulkassign_job_duration_seconds_bucket{tenant="t1",le="3600"} 2
bulkassign_job_duration_seconds_bucket{tenant="t1",le="10800"} 2
bulkassign_job_duration_seconds_bucket{tenant="t1",le="+Inf"} 2
bulkassign_job_duration_seconds_sum{tenant="t1"} 45
bulkassign_job_duration_seconds_count{tenant="t1"} 2
`
	if err := testutil.CollectAndCompare(m.jobDuration, strings.NewReader(wantDur)); err != nil {
		t.Error(err)
	}
}

func TestNilMetricsIsNoOp(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.RowFinished("t", "k", "created")
	m.JobAttempt("t", "created")
	m.Throttled("t", time.Second, true)
	m.SetTenantRate("t", 1)
	m.SetTenantPaused("t", true)
	m.SetTenantBlocked("t", true)
	m.InFlight(1)
	m.MalformedMessage("queue")
	m.DeadLettered()
	m.Redelivered("t")
	m.Panic()
	m.ObserveJobDuration("t", time.Second)
	m.StoreError("fetch")
	m.SetStoreHealthy(false)
	m.WatchQueueDepth(func(context.Context) (map[string]uint64, error) { return nil, nil })

	rt := roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	if got := m.InstrumentTransport(rt); got == nil {
		t.Error("nil Metrics: InstrumentTransport(rt) = nil")
	} else if _, ok := got.(roundTripperFunc); !ok {
		t.Errorf("nil Metrics: InstrumentTransport wrapped the transport: %T", got)
	}
	if got := m.InstrumentTransport(nil); got != http.DefaultTransport {
		t.Errorf("nil Metrics: InstrumentTransport(nil) = %T, want http.DefaultTransport", got)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLabelValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		given, want string
	}{
		{"", "unknown"},
		{"contoso.onmicrosoft.com", "contoso.onmicrosoft.com"},
		{"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		{"\xc3\x28", "other"},
		{strings.Repeat("x", 128), strings.Repeat("x", 128)},
		{strings.Repeat("x", 129), "other"},
	}
	for _, tt := range tests {
		if got := labelValue(tt.given); got != tt.want {
			t.Errorf("labelValue(%q) = %q, want %q", tt.given, got, tt.want)
		}
	}
}
