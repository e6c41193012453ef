package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
)

// newMetrics returns real metrics on a fresh registry.
func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// metricSum adds up every series of a metric family.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return metricSumWhere(t, reg, name, "", "")
}

// metricSumWhere adds up the series of a metric family whose label has
// the value (every series when label is "").
func metricSumWhere(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			matched := label == ""
			for _, lp := range m.GetLabel() {
				matched = matched || (lp.GetName() == label && lp.GetValue() == value)
			}
			if !matched {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// graphFunc decorates a Graph: a test changes one call.
type graphFunc struct {
	Graph
	create func(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error)
}

func (g graphFunc) Create(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error) {
	return g.create(ctx, tenant, version, k, policyID, a)
}

// TestMergeRace: two workers (two owners, like two processes) on the same
// NATS race on one policy's merges: the policy lock in NATS serialises
// them, so no row is lost or overwritten.
func TestMergeRace(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	tenant := guid("tenant/race")
	all := makeJobs(spec{importID: "race", tenant: tenant, kind: "deviceCompliancePolicies", rows: 80})
	b.publish(all)
	cfg := fastWorker()
	cfg.Owner = "worker-a"
	b.run(b.newWorker(cfg, nil))
	cfg.Owner = "worker-b"
	b.run(b.newWorker(cfg, nil))
	rs := b.waitResults("race", len(all), 60*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v, want all %d created", got, len(all))
	}
	set := b.sim.Assignments(tenant, all[0].Kind, all[0].PolicyID)
	if len(set) != len(all) {
		t.Fatalf("policy holds %d assignments, want %d: a merge overwrote another's", len(set), len(all))
	}
	assertAllAssigned(t, b.sim, all)
	st := b.sim.Stats()
	t.Logf("%d rows in %d /assign writes by two workers", len(all), st.Writes)
	if st.CreatesApplied != len(all) {
		t.Fatalf("%d creates applied, want %d", st.CreatesApplied, len(all))
	}
	// One policy, up to TenantConcurrency rows per /assign.
	if st.Writes > len(all)/2 {
		t.Errorf("%d /assign writes for %d rows of one policy: merges were not batched", st.Writes, len(all))
	}
}

// TestDuplicateDeliveries: the same row published twice (two message ids)
// and the same assignments in a second import processed at the same time:
// one write per assignment, one result per row.
func TestDuplicateDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	tenant := guid("tenant/dup")
	all := makeJobs(spec{importID: "dup1", tenant: tenant, kind: "deviceConfigurations", rows: 20})
	js := b.store.JetStream()
	ctx := testCtx(t)
	for _, copyID := range []string{"a", "b"} {
		for _, j := range all {
			data, _ := json.Marshal(j)
			msg := &nats.Msg{Subject: jobs.TenantSubject(tenant), Data: data,
				Header: nats.Header{jetstream.MsgIDHeader: {copyID + ":" + j.Key}}}
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.publish(reimport(all, "dup2"))
	b.run(b.newWorker(fastWorker(), nil))
	rs1 := b.waitResults("dup1", len(all), 60*time.Second)
	rs2 := b.waitResults("dup2", len(all), 60*time.Second)
	// Wait for the stream to drain: every copy was handled.
	waitFor(t, 30*time.Second, "every copy handled", func() bool {
		p, err := b.store.PendingTenants(context.Background())
		return err == nil && len(p) == 0
	})
	st := b.sim.Stats()
	if st.Writes != len(all) || st.CreatesApplied != len(all) || st.DuplicateCreates != 0 {
		t.Fatalf("simulator: %d writes, %d creates, %d duplicates; want %d, %d, 0", st.Writes, st.CreatesApplied, st.DuplicateCreates, len(all), len(all))
	}
	by2 := resultsByRow(rs2)
	for _, r1 := range rs1 {
		r2 := by2[r1.Row]
		// Exactly one of the two imports created each assignment.
		if (r1.Status == jobs.StatusCreated) == (r2.Status == jobs.StatusCreated) || !r1.Status.OK() || !r2.Status.OK() {
			t.Errorf("row %d: dup1 %s, dup2 %s: want one created and one existing", r1.Row, r1.Status, r2.Status)
		}
		if r1.AssignmentID == "" || r1.AssignmentID != r2.AssignmentID {
			t.Errorf("row %d: assignment ids %q and %q", r1.Row, r1.AssignmentID, r2.AssignmentID)
		}
	}
}

// TestLongWriteKeepsMessageAlive: a Graph call longer than AckWait does not
// lead to a redelivery and a second write: the worker sends InProgress.
func TestLongWriteKeepsMessageAlive(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim(), jobs: jobs.Config{AckWait: time.Second}})
	m, reg := newMetrics(t)
	all := makeJobs(spec{importID: "slow", tenant: guid("tenant/slow"), kind: "deviceConfigurations", rows: 4})
	b.publish(all)
	slow := graphFunc{Graph: b.graph, create: func(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error) {
		select {
		case <-time.After(2500 * time.Millisecond):
		case <-ctx.Done():
			return graph.Assignment{}, ctx.Err()
		}
		return b.graph.Create(ctx, tenant, version, k, policyID, a)
	}}
	cfg := fastWorker()
	cfg.Metrics = m
	b.run(b.newWorker(cfg, slow))
	rs := b.waitResults("slow", len(all), 60*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v", got)
	}
	if st := b.sim.Stats(); st.Writes != len(all) {
		t.Fatalf("%d writes for %d rows", st.Writes, len(all))
	}
	if n := metricSum(t, reg, "bulkassign_redeliveries_total"); n != 0 {
		t.Fatalf("%v redeliveries: AckWait expired during a long write", n)
	}
}

// TestMalformedMessages: messages that are not valid jobs are copied to
// the dead-letter stream, terminated and counted; the worker goes on.
func TestMalformedMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	m, reg := newMetrics(t)
	tenant, other := guid("tenant/poison"), guid("tenant/poison/other")
	good := makeJobs(spec{importID: "poison", tenant: tenant, kind: "deviceConfigurations", rows: 3})
	badKey := good[0]
	badKey.Row, badKey.GroupID = 99, guid("other-group") // key no longer matches
	wrongTenant := makeJobs(spec{importID: "poison", tenant: other, kind: "deviceConfigurations", rows: 1, firstRow: 50})[0]
	ctx := testCtx(t)
	js := b.store.JetStream()
	pub := func(subject string, data []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, subject, data); err != nil {
			t.Fatal(err)
		}
	}
	keyData, _ := json.Marshal(badKey)
	tenantData, _ := json.Marshal(wrongTenant)
	pub(jobs.TenantSubject(tenant), []byte("this is not json"))
	pub(jobs.TenantSubject(tenant), keyData)
	pub(jobs.TenantSubject(tenant), tenantData) // a job of another tenant on this tenant's subject
	b.publish(good)
	cfg := fastWorker()
	cfg.Metrics = m
	b.run(b.newWorker(cfg, nil))
	rs := b.waitResults("poison", len(good), 30*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(good) || len(rs) != len(good) {
		t.Fatalf("results %v, want the %d good rows created", got, len(good))
	}
	waitFor(t, 30*time.Second, "three dead letters", func() bool {
		n, err := b.store.DeadLetterCount(context.Background())
		return err == nil && n == 3
	})
	waitFor(t, 30*time.Second, "the poison messages to leave the stream", func() bool {
		p, err := b.store.PendingTenants(context.Background())
		return err == nil && len(p) == 0
	})
	if n := metricSum(t, reg, "bulkassign_malformed_messages_total"); n != 3 {
		t.Errorf("malformed counter %v, want 3", n)
	}
	if n := metricSum(t, reg, "bulkassign_dead_letter_total"); n != 3 {
		t.Errorf("dead letter counter %v, want 3", n)
	}
}

// TestPanicIsAFailedAttempt: a panic in the Graph call is one failed
// attempt of that job (retried), not a dead worker.
func TestPanicIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	m, reg := newMetrics(t)
	all := makeJobs(spec{importID: "panic", tenant: guid("tenant/panic"), kind: "deviceConfigurations", rows: 5})
	b.publish(all)
	var panicked atomic.Bool
	g := graphFunc{Graph: b.graph, create: func(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error) {
		if panicked.CompareAndSwap(false, true) {
			panic("injected panic")
		}
		return b.graph.Create(ctx, tenant, version, k, policyID, a)
	}}
	cfg := fastWorker()
	cfg.Metrics = m
	b.run(b.newWorker(cfg, g))
	rs := b.waitResults("panic", len(all), 30*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v, want all created", got)
	}
	retried := 0
	for _, r := range rs {
		if r.Attempts >= 2 {
			retried++
		}
	}
	if retried != 1 {
		t.Errorf("%d rows took more than one attempt, want exactly the one that panicked", retried)
	}
	if n := metricSum(t, reg, "bulkassign_worker_panics_total"); n != 1 {
		t.Errorf("panic counter %v, want 1", n)
	}
	if st := b.sim.Stats(); st.CreatesApplied != len(all) || st.DuplicateCreates != 0 {
		t.Errorf("simulator %+v", st)
	}
}

// TestGracefulDrain: Run returns soon after its context is cancelled mid
// run, every job it held is recorded or handed back, and a new worker
// completes the import with each row created once.
func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	var all []jobs.Job
	for n := range 2 {
		all = append(all, makeJobs(spec{importID: "drain", tenant: guid(fmt.Sprintf("tenant/drain/%d", n)),
			kind: "deviceConfigurations", policies: 2, rows: 100, firstRow: 2 + n*1000})...)
	}
	b.publish(all)
	cfg := fastWorker()
	cfg.DrainTimeout = 3 * time.Second
	stop := b.run(b.newWorker(cfg, nil))
	waitFor(t, 30*time.Second, "some results", func() bool {
		c, err := b.store.ResultCount(context.Background(), "drain")
		return err == nil && c >= 20
	})
	took := stop()
	t.Logf("Run returned %s after cancel", took.Round(time.Millisecond))
	if took > cfg.DrainTimeout+2*time.Second {
		t.Fatalf("Run took %s to return, drain timeout %s", took, cfg.DrainTimeout)
	}
	mid, err := b.store.Results(context.Background(), "drain")
	if err != nil {
		t.Fatal(err)
	}
	if len(mid) == len(all) {
		t.Fatal("the import finished before the cancel: the test proves nothing")
	}
	// A new worker finishes the rest.
	b.run(b.newWorker(fastWorker(), nil))
	rs := b.waitResults("drain", len(all), 60*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v, want all %d created", got, len(all))
	}
	if st := b.sim.Stats(); st.CreatesApplied != len(all) || st.DuplicateCreates != 0 {
		t.Fatalf("simulator: %d creates for %d rows, %d duplicates", st.CreatesApplied, len(all), st.DuplicateCreates)
	}
}

// TestAbortCancelsInFlightWrites: with a long drain timeout, Abort stops a
// draining Run at once; the cancelled write is reconciled by the next run.
func TestAbortCancelsInFlightWrites(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	all := makeJobs(spec{importID: "abort", tenant: guid("tenant/abort"), kind: "deviceConfigurations", rows: 3})
	b.publish(all)
	entered := make(chan struct{}, len(all))
	stuck := graphFunc{Graph: b.graph, create: func(ctx context.Context, _, _ string, _ *graph.Kind, _ string, _ graph.Assignment) (graph.Assignment, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return graph.Assignment{}, &graph.Error{Op: graph.OpCreate, Class: graph.ClassTransient, Ambiguous: true, Err: ctx.Err()}
	}}
	cfg := fastWorker()
	cfg.DrainTimeout = time.Minute
	w := b.newWorker(cfg, stuck)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-entered
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a write was in flight and the drain timeout is a minute")
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	w.Abort()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of Abort")
	}
	t.Logf("Run returned %s after Abort", time.Since(start).Round(time.Millisecond))
	w.Abort() // safe after Run returned
	b.run(b.newWorker(fastWorker(), nil))
	rs := b.waitResults("abort", len(all), 30*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v", got)
	}
}

// TestNATSRestart: the embedded server is stopped and started again on the
// same store and port mid-run: the worker rides out the outage and the
// import completes, each row created once.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim(), jobs: jobs.Config{AckWait: 2 * time.Second}})
	var all []jobs.Job
	for n := range 2 {
		all = append(all, makeJobs(spec{importID: "restart", tenant: guid(fmt.Sprintf("tenant/restart/%d", n)),
			kind: "deviceConfigurations", policies: 2, rows: 80, firstRow: 2 + n*1000})...)
	}
	b.publish(all)
	b.run(b.newWorker(fastWorker(), nil))
	waitFor(t, 30*time.Second, "some results", func() bool {
		c, err := b.store.ResultCount(context.Background(), "restart")
		return err == nil && c >= 30
	})
	b.srv.Shutdown()
	waitFor(t, 10*time.Second, "the client to notice", func() bool { return !b.nc.IsConnected() })
	time.Sleep(500 * time.Millisecond) // an outage of some length, not a synchronisation
	b.startNATS()
	waitFor(t, 10*time.Second, "the client to reconnect", b.nc.IsConnected)
	rs := b.waitResults("restart", len(all), 90*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v, want all %d created", got, len(all))
	}
	if st := b.sim.Stats(); st.CreatesApplied != len(all) || st.DuplicateCreates != 0 {
		t.Fatalf("simulator: %d creates for %d rows, %d duplicates", st.CreatesApplied, len(all), st.DuplicateCreates)
	}
}

// TestJobDeadline: a job throttled on every attempt fails at its deadline
// with the last error Graph gave.
func TestJobDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: graphtest.Config{ThrottleRate: 1, RetryAfterMin: 300 * time.Millisecond, RetryAfter: graphtest.RetryAfterFractional}})
	all := makeJobs(spec{importID: "deadline", tenant: guid("tenant/deadline"), kind: "deviceConfigurations", rows: 3})
	b.publish(all)
	cfg := Config{JobDeadline: 2 * time.Second}
	b.run(b.newWorker(cfg, nil))
	rs := b.waitResults("deadline", len(all), 30*time.Second)
	for _, r := range rs {
		if r.Status != jobs.StatusFailed || r.HTTPStatus != 429 || r.ErrorCode != graphtest.CodeTooManyRequests ||
			!strings.Contains(r.ErrorMessage, "deadline") || r.Attempts < 2 {
			t.Errorf("row %d: %s http=%d code=%q attempts=%d msg=%q; want failed with the last 429", r.Row, r.Status, r.HTTPStatus, r.ErrorCode, r.Attempts, r.ErrorMessage)
		}
	}
}

// TestRouteNotSupportedSwitchesToMerge: a create kind whose create is not
// routed switches to merge and its rows are created through /assign.
func TestRouteNotSupportedSwitchesToMerge(t *testing.T) {
	t.Parallel()
	sim := fastSim()
	sim.NotRouted = []string{"deviceConfigurations"}
	b := setup(t, opts{sim: sim})
	all := makeJobs(spec{importID: "route", tenant: guid("tenant/route"), kind: "deviceConfigurations", rows: 12})
	b.publish(all)
	b.run(b.newWorker(fastWorker(), nil))
	rs := b.waitResults("route", len(all), 30*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses = %v, want all created via merge", got)
	}
	assertAllAssigned(t, b.sim, all)
	if n := b.sim.StatusCounts()[400]; n > 4 {
		t.Errorf("%d route errors: the kind was not switched to merge after the first", n)
	}
}
