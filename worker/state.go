package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
)

// Why a tenant waits, as [TenantState.Reason] says it.
const (
	// WaitBlocked: the tenant (or one permission in it) is blocked by its
	// circuit breaker after a 401 or 403; its rows fail at once until
	// Until, then it is tried again.
	WaitBlocked = "blocked"
	// WaitThrottled: Graph answered 429; nothing is sent for the tenant
	// before Until (its Retry-After, or a backoff without one).
	WaitThrottled = "throttled"
	// WaitUnreachable: the last call for the tenant reached nothing (Graph
	// or the identity provider: name not resolved, connection refused);
	// its jobs retry with backoff.
	WaitUnreachable = "unreachable"
	// WaitBackingOff: the last call for the tenant failed transiently (5xx,
	// reset, timeout); its jobs retry with backoff.
	WaitBackingOff = "backing off"
)

// TenantState is a tenant that is waiting, and why: what a progress display
// shows next to the counts.
type TenantState struct {
	// Tenant is the tenant's name, lower case.
	Tenant string
	// Reason is WaitBlocked, WaitThrottled, WaitUnreachable or
	// WaitBackingOff.
	Reason string
	// Detail says more, without secrets: the error code of a block, the
	// cause of a failure ("connection refused", "HTTP 503").
	Detail string
	// Until is when the wait ends, when that is known (throttled, blocked);
	// zero otherwise.
	Until time.Time
	// Since is when the tenant's calls started failing so (unreachable,
	// backing off); zero otherwise.
	Since time.Time
}

// Describe says in plain words why the tenant waits and until when, as
// of now: "throttled, retry in 12s", "blocked (tenant_unauthorized), rows
// fail for 4m0s", "unreachable (…) for 40s, retrying". Durations are whole
// seconds, rounded up where they count down ("retry in 0s" would be a lie).
func (st TenantState) Describe(now time.Time) string {
	in := func(t time.Time) string {
		return ((max(t.Sub(now), 0) + time.Second - 1) / time.Second * time.Second).String()
	}
	switch st.Reason {
	case WaitThrottled:
		return "throttled, retry in " + in(st.Until)
	case WaitBlocked:
		return fmt.Sprintf("blocked (%s), rows fail for %s", st.Detail, in(st.Until))
	}
	return fmt.Sprintf("%s (%s) for %s, retrying", st.Reason, st.Detail, max(now.Sub(st.Since), 0).Round(time.Second))
}

// Waiting returns the tenants that are waiting now, sorted by tenant, one
// state each (a block before a throttle before a failure). A graphFailure is
// forgotten at the tenant's next answered call, or after MaxBackoff without
// another call. It is safe to call at any time, from any goroutine.
func (w *Worker) Waiting() []TenantState {
	now := time.Now()
	w.mu.Lock()
	ts := make([]*tenant, 0, len(w.tenants))
	for _, t := range w.tenants {
		ts = append(ts, t)
	}
	w.mu.Unlock()
	seen := make(map[string]bool, len(ts))
	var out []TenantState
	for _, t := range ts {
		if st, ok := t.waiting(now); ok {
			seen[t.name] = true
			out = append(out, st)
		}
	}
	for _, st := range w.graphHealth.failing(now, w.cfg.MaxBackoff) {
		if !seen[st.Tenant] {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b TenantState) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out
}

// waiting is the tenant's block or throttle at now, if any.
func (t *tenant) waiting(now time.Time) (TenantState, bool) {
	t.brk.mu.Lock()
	var bl block
	for _, b := range t.brk.blocks {
		if now.Before(b.until) && b.until.After(bl.until) {
			bl = b
		}
	}
	t.brk.mu.Unlock()
	if !bl.until.IsZero() {
		return TenantState{Tenant: t.name, Reason: WaitBlocked, Detail: bl.code, Until: bl.until}, true
	}
	if until := t.pausedUntil(); now.Before(until) {
		return TenantState{Tenant: t.name, Reason: WaitThrottled, Until: until}, true
	}
	return TenantState{}, false
}

// graphHealth keeps the transient failure of each tenant's Graph calls until a
// call of the tenant is answered. Safe for concurrent use.
type graphHealth struct {
	mu       sync.Mutex
	failures map[string]graphFailure // tenant → its failure
}

// graphFailure is a tenant's failing state and when it was last seen.
type graphFailure struct {
	st   TenantState
	last time.Time
}

func newGraphHealth() *graphHealth { return &graphHealth{failures: make(map[string]graphFailure)} }

// observe records the outcome of a Graph call for tenant: a failure without
// an answer or a transient one is kept; any answer forgets it. A call the
// caller cancelled says nothing about the tenant.
func (h *graphHealth) observe(tenant string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	tenant = strings.ToLower(tenant)
	var ge *graph.Error
	failing := err != nil && errors.As(err, &ge) && ge.Class == graph.ClassTransient
	h.mu.Lock()
	defer h.mu.Unlock()
	if !failing {
		delete(h.failures, tenant)
		return
	}
	now := time.Now()
	st := TenantState{Tenant: tenant, Reason: WaitBackingOff, Detail: cause(ge), Since: now}
	if ge.Unreachable {
		st.Reason = WaitUnreachable
	}
	if prev, ok := h.failures[tenant]; ok && prev.st.Reason == st.Reason {
		st.Since = prev.st.Since
	}
	h.failures[tenant] = graphFailure{st: st, last: now}
}

// failing returns the failures last seen within maxAge of now.
func (h *graphHealth) failing(now time.Time, maxAge time.Duration) []TenantState {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []TenantState
	for tenant, f := range h.failures {
		if now.Sub(f.last) > maxAge {
			delete(h.failures, tenant)
			continue
		}
		out = append(out, f.st)
	}
	return out
}

// cause is a short account of a transient failure: the endpoint and the
// network error when nothing answered, the HTTP status otherwise.
func cause(ge *graph.Error) string {
	where := "Graph"
	if ge.Identity {
		where = "identity provider"
	}
	if ge.StatusCode != 0 {
		return fmt.Sprintf("%s: HTTP %d", where, ge.StatusCode)
	}
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(ge, &dns):
		return fmt.Sprintf("%s: %s does not resolve", where, dns.Name)
	case errors.As(ge, &op):
		return fmt.Sprintf("%s: %v", where, op)
	case errors.Is(ge, context.DeadlineExceeded):
		return where + ": no answer in time"
	case ge.Message != "":
		return ge.Message
	}
	return where + ": no answer"
}

// observedGraph is the worker's Graph with the outcome of every call kept
// in its tenant's health.
//
// A write is not sent while its tenant's service is paused (hold, when
// set, says for how long): it was admitted before a 429 closed the gate and
// reaches here after (its intent was being written). It fails with a
// throttled error that is not Graph's (StatusCode 0), and its job waits
// out the pause like the others.
type observedGraph struct {
	g    Graph
	h    *graphHealth
	hold func(tenant string, k *graph.Kind) time.Duration
}

// held is the error of a write not sent because its service is paused,
// or nil.
func (o observedGraph) held(op, tenant string, k *graph.Kind) error {
	if o.hold == nil {
		return nil
	}
	if d := o.hold(tenant, k); d > 0 {
		return &graph.Error{Class: graph.ClassThrottled, Op: op, RetryAfter: d, HasRetryAfter: true,
			Message: "not sent: the tenant's writes to this Intune service are paused by a Retry-After"}
	}
	return nil
}

func (o observedGraph) Create(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error) {
	if err := o.held(graph.OpCreate, tenant, k); err != nil {
		return graph.Assignment{}, err
	}
	out, err := o.g.Create(ctx, tenant, version, k, policyID, a)
	o.h.observe(tenant, err)
	return out, err
}

func (o observedGraph) List(ctx context.Context, tenant, version string, k *graph.Kind, policyID string) ([]graph.Assignment, error) {
	out, err := o.g.List(ctx, tenant, version, k, policyID)
	o.h.observe(tenant, err)
	return out, err
}

func (o observedGraph) Assign(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, set []graph.Assignment) ([]graph.Assignment, error) {
	if err := o.held(graph.OpAssign, tenant, k); err != nil {
		return nil, err
	}
	out, err := o.g.Assign(ctx, tenant, version, k, policyID, set)
	o.h.observe(tenant, err)
	return out, err
}

func (o observedGraph) Delete(ctx context.Context, tenant, version string, k *graph.Kind, policyID, assignmentID string) error {
	err := o.g.Delete(ctx, tenant, version, k, policyID, assignmentID)
	o.h.observe(tenant, err)
	return err
}
