package worker

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// stateOf returns tenant's entry in w.Waiting().
func stateOf(w *Worker, tenant string) (TenantState, bool) {
	for _, st := range w.Waiting() {
		if st.Tenant == tenant {
			return st, true
		}
	}
	return TenantState{}, false
}

// TestWaitingThrottledAndBlocked: a tenant over Graph's write limit shows
// as throttled until its Retry-After; a tenant whose token Graph refuses
// shows as blocked with its code; a healthy one does not show.
func TestWaitingThrottledAndBlocked(t *testing.T) {
	t.Parallel()
	throttled, refused := guid("tenant/state/throttled"), guid("tenant/state/refused")
	sim := graphtest.Config{Window: 10 * time.Second, AppWriteLimit: 2, TenantWriteLimit: 2}
	b := setup(t, opts{sim: sim, tokens: tenantTokens{refused: "refused-token"}})
	b.sim.RejectToken("refused-token")
	b.publish(makeJobs(spec{importID: "st1", tenant: throttled, kind: "deviceConfigurations", rows: 6}))
	b.publish(makeJobs(spec{importID: "st1", tenant: refused, kind: "deviceConfigurations", rows: 2, firstRow: 100}))
	w := b.newWorker(Config{WriteLimit: 100, WriteWindow: time.Second}, nil)
	if got := w.Waiting(); len(got) != 0 {
		t.Fatalf("before Run: %v", got)
	}
	stop := b.run(w)
	var th, bl TenantState
	waitFor(t, 30*time.Second, "a throttled and a blocked tenant", func() bool {
		var ok1, ok2 bool
		th, ok1 = stateOf(w, throttled)
		bl, ok2 = stateOf(w, refused)
		return ok1 && th.Reason == WaitThrottled && ok2 && bl.Reason == WaitBlocked
	})
	if !th.Until.After(time.Now()) || th.Until.After(time.Now().Add(11*time.Second)) {
		t.Errorf("throttled until %s: want within the simulator's 10 s window", th.Until)
	}
	if bl.Detail != CodeTenantUnauthorized || !bl.Until.After(time.Now()) {
		t.Errorf("blocked state %+v", bl)
	}
	stop()
}

// TestWaitingUnreachable: a worker whose Graph does not answer shows its
// tenant as unreachable with the cause; an answered call forgets it.
func TestWaitingUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	down, err := graph.NewClient(graph.Config{BaseURL: "http://" + closed, Tokens: graph.StaticToken("t"), TenantHeader: graphtest.TenantHeader})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	tenant := guid("tenant/state/unreachable")
	js := makeJobs(spec{importID: "st2", tenant: tenant, kind: "deviceConfigurations", rows: 1})
	b.publish(js)
	w := b.newWorker(Config{}, down)
	stop := b.run(w)
	var st TenantState
	waitFor(t, 30*time.Second, "an unreachable tenant", func() bool {
		var ok bool
		st, ok = stateOf(w, tenant)
		return ok
	})
	stop()
	if st.Reason != WaitUnreachable || !strings.Contains(st.Detail, "connection refused") || st.Since.IsZero() {
		t.Errorf("state %+v", st)
	}

	// An answered call of the tenant clears it.
	w.graphHealth.observe(tenant, nil)
	if _, ok := stateOf(w, tenant); ok {
		t.Error("an answered call did not clear the failure")
	}
}

// TestGraphHealthObserve: what the worker keeps from each kind of outcome.
func TestGraphHealthObserve(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{FaultRate: 1})
	c, err := graph.NewClient(graph.Config{BaseURL: s.URL(), Tokens: graph.StaticToken("t"), TenantHeader: graphtest.TenantHeader})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const tenant = "contoso.onmicrosoft.com"
	k, _ := graph.LookupKind("deviceConfigurations")
	pid := policyID(tenant, k.Name, 0)
	h := newGraphHealth()
	g := observedGraph{g: c, h: h}

	_, err = g.Create(context.Background(), "Contoso.onmicrosoft.com", graph.V1, k, pid, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: guid("g")}})
	got := h.failing(time.Now(), time.Minute)
	if err == nil || len(got) != 1 || got[0].Tenant != tenant || got[0].Reason != WaitBackingOff || !strings.Contains(got[0].Detail, "HTTP 50") {
		t.Fatalf("after a 5xx (%v): %+v", err, got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = g.Create(context.Background(), tenant, graph.V1, k, pid, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: guid("g")}})
	_, _ = g.List(ctx, tenant, graph.V1, k, pid)
	if again := h.failing(time.Now(), time.Minute); len(again) != 1 || !again[0].Since.Equal(got[0].Since) {
		t.Errorf("a second failure or a cancelled call changed the record (since %s): %+v", got[0].Since, again)
	}
	if old := h.failing(time.Now().Add(2*time.Minute), time.Minute); len(old) != 0 {
		t.Errorf("a failure older than the max age is still shown: %+v", old)
	}
	_, _ = g.Create(context.Background(), tenant, graph.V1, k, pid, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: guid("g")}})
	if _, err := g.List(context.Background(), tenant, graph.V1, k, pid); err != nil {
		t.Fatal(err)
	}
	if got := h.failing(time.Now(), time.Minute); len(got) != 0 {
		t.Errorf("an answered list did not clear the failure: %+v", got)
	}
}

// TestDescribe: each reason in plain words, counting down in whole seconds
// rounded up, counting up rounded.
func TestDescribe(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		st   TenantState
		want string
	}{
		{TenantState{Reason: WaitThrottled, Until: now.Add(11200 * time.Millisecond)}, "throttled, retry in 12s"},
		{TenantState{Reason: WaitThrottled, Until: now.Add(-time.Second)}, "throttled, retry in 0s"},
		{TenantState{Reason: WaitBlocked, Detail: "tenant_unauthorized", Until: now.Add(4 * time.Minute)}, "blocked (tenant_unauthorized), rows fail for 4m0s"},
		{TenantState{Reason: WaitUnreachable, Detail: "Graph: connection refused", Since: now.Add(-40 * time.Second)}, "unreachable (Graph: connection refused) for 40s, retrying"},
		{TenantState{Reason: WaitBackingOff, Detail: "Graph: HTTP 503", Since: now.Add(-1400 * time.Millisecond)}, "backing off (Graph: HTTP 503) for 1s, retrying"},
	} {
		if got := tt.st.Describe(now); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.st, got, tt.want)
		}
	}
}
