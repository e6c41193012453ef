package worker

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
)

// TestAmbiguousWritesAreReconciled: the simulator applies 5% of writes and
// then resets the connection (and answers a few 503s and resets before
// applying): no duplicate create, every row reported once, all created.
func TestAmbiguousWritesAreReconciled(t *testing.T) {
	t.Parallel()
	sim := fastSim()
	sim.ResetAfterRate, sim.FaultRate, sim.ResetBeforeRate, sim.Seed = 0.05, 0.05, 0.02, 7
	b := setup(t, opts{sim: sim})
	var all []jobs.Job
	for n := range 2 {
		tenant := guid(fmt.Sprintf("tenant/amb/%d", n))
		all = append(all, makeJobs(spec{importID: "amb", tenant: tenant, kind: "deviceConfigurations", policies: 2, rows: 60, firstRow: 2 + n*200})...)
		all = append(all, makeJobs(spec{importID: "amb", tenant: tenant, kind: "deviceCompliancePolicies", policies: 1, rows: 30, firstRow: 100 + n*200})...)
	}
	b.publish(all)
	b.run(b.newWorker(fastWorker(), nil))
	rs := b.waitResults("amb", len(all), 90*time.Second)
	if len(rs) != len(all) {
		t.Fatalf("%d results for %d rows", len(rs), len(all))
	}
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v, want all %d created", got, len(all))
	}
	st := b.sim.Stats()
	t.Logf("simulator: %+v", st)
	if st.ResetsAfter == 0 {
		t.Fatal("the simulator injected no reset after apply: the test proves nothing")
	}
	if st.DuplicateCreates != 0 || st.CreatesApplied != len(all) {
		t.Fatalf("%d creates applied for %d rows, %d duplicates", st.CreatesApplied, len(all), st.DuplicateCreates)
	}
	assertAllAssigned(t, b.sim, all)
}

// TestThrottleStorm: 30% of writes answered 429 with Retry-After 1–3 s, and
// a run without Retry-After: every row completes and no write reaches the
// simulator before a Retry-After it gave ran out.
func TestThrottleStorm(t *testing.T) {
	t.Parallel()
	for _, mode := range []graphtest.RetryAfterMode{graphtest.RetryAfterFractional, graphtest.RetryAfterAbsent} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t, opts{sim: graphtest.Config{
				ThrottleRate: 0.3, RetryAfterMin: time.Second, RetryAfterMax: 3 * time.Second,
				RetryAfter: mode, Seed: 3,
			}})
			var all []jobs.Job
			for n := range 3 {
				all = append(all, makeJobs(spec{importID: "storm", tenant: guid(fmt.Sprintf("tenant/storm/%d", n)),
					kind: "deviceConfigurations", rows: 12, firstRow: 2 + n*100})...)
			}
			b.publish(all)
			start := time.Now()
			b.run(b.newWorker(Config{MaxBackoff: 4 * time.Second}, nil))
			rs := b.waitResults("storm", len(all), 90*time.Second)
			st := b.sim.Stats()
			t.Logf("%d rows in %s; simulator: %d writes, %d throttled, %d early", len(rs),
				time.Since(start).Round(time.Millisecond), st.Writes, st.Throttled, st.EarlyWrites)
			if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
				t.Fatalf("statuses = %v, want all %d created", got, len(all))
			}
			if st.Throttled == 0 {
				t.Fatal("no 429 was answered: the test proves nothing")
			}
			if st.EarlyWrites != 0 {
				t.Fatalf("%d writes arrived before their tenant's Retry-After ran out: %v", st.EarlyWrites, b.sim.EarlyWrites())
			}
			if st.CreatesApplied != len(all) || st.DuplicateCreates != 0 {
				t.Fatalf("%d creates applied for %d rows, %d duplicates", st.CreatesApplied, len(all), st.DuplicateCreates)
			}
			for _, r := range rs {
				if r.Attempts < 1 {
					t.Fatalf("row %d: attempts %d", r.Row, r.Attempts)
				}
			}
		})
	}
}

// TestAdaptiveThrottling: the worker is configured above the real limit
// (15 per second against the simulator's 10): after the first 429 it
// learns the limit, never goes over it again, and the 429 ratio stays
// under 1%.
func TestAdaptiveThrottling(t *testing.T) {
	t.Parallel()
	const realLimit = 10
	b := setup(t, opts{sim: graphtest.Config{
		Window: time.Second, AppWriteLimit: realLimit, TenantWriteLimit: 200, RetryAfter: graphtest.RetryAfterFractional,
	}})
	var all []jobs.Job
	const tenants, rows = 3, 150
	for n := range tenants {
		all = append(all, makeJobs(spec{importID: "adapt", tenant: guid(fmt.Sprintf("tenant/adapt/%d", n)),
			kind: "deviceConfigurations", policies: 4, rows: rows, firstRow: 2 + n*1000})...)
	}
	b.publish(all)
	start := time.Now()
	b.run(b.newWorker(Config{WriteLimit: 15, WriteWindow: time.Second}, nil))
	rs := b.waitResults("adapt", len(all), 90*time.Second)
	elapsed := time.Since(start)
	st := b.sim.Stats()
	ratio := float64(st.Throttled) / float64(st.Writes)
	perTenant := float64(rows) / elapsed.Seconds()
	t.Logf("%d rows in %s (%.1f rows/s per tenant, real limit %d/s); %d writes, %d throttled (%.2f%%); max in window %v",
		len(rs), elapsed.Round(time.Millisecond), perTenant, realLimit, st.Writes, st.Throttled, 100*ratio, b.sim.MaxWritesInWindow())
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v, want all created", got)
	}
	if st.Throttled == 0 {
		t.Fatal("no 429: the configured limit was not above the real one, the test proves nothing")
	}
	if ratio >= 0.01 {
		t.Fatalf("429 ratio %.2f%% (%d of %d), want < 1%%", 100*ratio, st.Throttled, st.Writes)
	}
	// Each tenant's first 429 taught it the limit: no write went over it
	// afterwards, so the simulator throttled at most once per tenant.
	if st.Throttled > tenants {
		t.Errorf("%d 429s for %d tenants: a tenant went over the limit after its first 429", st.Throttled, tenants)
	}
	for tenant, n := range b.sim.MaxWritesInWindow() {
		if n > realLimit {
			t.Errorf("tenant %s: %d writes in one window, limit %d", tenant, n, realLimit)
		}
	}
	if st.EarlyWrites != 0 {
		t.Errorf("%d early writes", st.EarlyWrites)
	}
	// It still uses most of the real limit (learned: 90% of 9/s).
	if perTenant < 6 {
		t.Errorf("%.1f rows/s per tenant: the rate collapsed (real limit %d/s)", perTenant, realLimit)
	}
}

// forbidTenant answers every request of one tenant with Graph's 403.
type forbidTenant struct {
	base   http.RoundTripper
	tenant string
	mu     chan struct{}
	count  int
}

func (f *forbidTenant) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get(graphtest.TenantHeader) != f.tenant {
		return f.base.RoundTrip(r)
	}
	f.mu <- struct{}{}
	f.count++
	<-f.mu
	body := `{"error":{"code":"Forbidden","message":"Application is not authorized to perform this operation.","innerError":{"request-id":"rid-403"}}}`
	return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewBufferString(body)), Request: r}, nil
}

func (f *forbidTenant) calls() int {
	f.mu <- struct{}{}
	defer func() { <-f.mu }()
	return f.count
}

func (f *forbidTenant) CloseIdleConnections() {
	if c, ok := f.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// TestCircuitBreaker: one tenant's token is refused (401 even after a
// refresh), another gets 403: their rows fail fast with
// tenant_unauthorized / forbidden after a handful of calls, and the third
// tenant's rows are all created.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	unauth, forbidden, healthy := guid("tenant/brk/401"), guid("tenant/brk/403"), guid("tenant/brk/ok")
	fb := &forbidTenant{tenant: forbidden, mu: make(chan struct{}, 1)}
	b := setup(t, opts{
		sim:       fastSim(),
		tokens:    tenantTokens{unauth: "revoked-token"},
		transport: func(rt http.RoundTripper) http.RoundTripper { fb.base = rt; return fb },
	})
	b.sim.RejectToken("revoked-token")
	var all []jobs.Job
	for n, tenant := range []string{unauth, forbidden, healthy} {
		all = append(all, makeJobs(spec{importID: "brk", tenant: tenant, kind: "deviceConfigurations", rows: 40, firstRow: 2 + n*100})...)
	}
	b.publish(all)
	start := time.Now()
	b.run(b.newWorker(fastWorker(), nil))
	rs := b.waitResults("brk", len(all), 60*time.Second)
	t.Logf("%d rows in %s; 401 answers %d, 403 answers %d", len(rs), time.Since(start).Round(time.Millisecond),
		b.sim.StatusCounts()[401], fb.calls())
	want := map[string]struct {
		status jobs.Status
		code   string
	}{unauth: {jobs.StatusFailed, CodeTenantUnauthorized}, forbidden: {jobs.StatusFailed, CodeForbidden}, healthy: {jobs.StatusCreated, ""}}
	for _, r := range rs {
		w := want[r.Tenant]
		if r.Status != w.status || r.ErrorCode != w.code {
			t.Fatalf("row %d of %s: %s %q, want %s %q", r.Row, r.Tenant, r.Status, r.ErrorCode, w.status, w.code)
		}
		if r.Status == jobs.StatusFailed && r.ErrorMessage == "" {
			t.Fatalf("row %d: failed without a message", r.Row)
		}
	}
	// Fail fast: a few calls each (those in flight when the breaker
	// tripped), not one per row. The client retries a 401 once.
	if n := b.sim.StatusCounts()[401]; n > 2*4 {
		t.Errorf("%d 401 answers for 40 rows: the breaker did not stop the calls", n)
	}
	if n := fb.calls(); n > 4 {
		t.Errorf("%d 403 answers for 40 rows: the breaker did not stop the calls", n)
	}
	if st := b.sim.Stats(); st.CreatesApplied != 40 {
		t.Errorf("%d creates applied, want the healthy tenant's 40", st.CreatesApplied)
	}
}
