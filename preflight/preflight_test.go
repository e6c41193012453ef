package preflight_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	good    = "contoso.onmicrosoft.com"
	refused = "fabrikam.onmicrosoft.com"
	missing = "tailspin.onmicrosoft.com"
	policy  = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	gone    = "9a9a9a9a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
)

// tenantTokens is a TokenSource with one static token per tenant, so the
// simulator can refuse one tenant's token. It is our own interface, not a
// stand-in for anything external.
type tenantTokens map[string]string

func (tt tenantTokens) Token(_ context.Context, tenant string) (string, error) {
	return tt[tenant], nil
}

func (tenantTokens) Invalidate(string) {}

func client(t *testing.T, base string, tokens graph.TokenSource) *graph.Client {
	t.Helper()
	c, err := graph.NewClient(graph.Config{BaseURL: base, Tokens: tokens, TenantHeader: graphtest.TenantHeader, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func target(t *testing.T, tenant, policyID string) preflight.Target {
	t.Helper()
	k, err := graph.LookupKind("deviceConfigurations")
	if err != nil {
		t.Fatal(err)
	}
	return preflight.Target{Tenant: tenant, Kind: k, APIVersion: graph.V1, PolicyID: policyID}
}

// TestCheckVerdicts against the simulator: a tenant whose read answers
// 200 or 404 passes; one whose token Graph refuses fails
// tenant_unauthorized with Graph's status and request id, at once.
func TestCheckVerdicts(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	s.SetMissingPolicy(gone)
	s.RejectToken("refused-token-value")
	c := client(t, s.URL(), tenantTokens{good: "good-token-value", refused: "refused-token-value", missing: "good-token-value"})
	start := time.Now()
	vs, err := preflight.Check(context.Background(), c,
		[]preflight.Target{target(t, good, policy), target(t, refused, policy), target(t, missing, gone)},
		preflight.Config{GraphHost: "graph.test"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s: a refused token must not be retried", took)
	}
	if len(vs) != 3 || !vs[0].OK() || vs[0].Tenant != good || !vs[2].OK() {
		t.Fatalf("verdicts %+v", vs)
	}
	v := vs[1]
	if v.OK() || v.Code != jobs.CodeTenantUnauthorized || v.HTTPStatus != 401 || v.RequestID == "" ||
		!strings.Contains(v.Message, refused) || !strings.Contains(v.Message, "graph.test") {
		t.Errorf("refused tenant: %+v", v)
	}
	if strings.Contains(v.Message, "refused-token-value") {
		t.Error("the token is in the message")
	}
	// Two reads for the refused tenant (the client refreshes once), one
	// each for the others.
	if n := s.Stats().Requests; n != 4 {
		t.Errorf("%d requests, want 4", n)
	}

	j := jobs.Job{ImportID: "imp", Row: 7, Tenant: refused, Kind: "deviceConfigurations", PolicyID: policy, Target: graph.TargetGroup, GroupID: policy, APIVersion: graph.V1}
	r := v.Result(j)
	if r.Status != jobs.StatusFailed || r.ErrorCode != v.Code || r.ErrorMessage != v.Message || r.Row != 7 || r.Job == nil || r.Attempts != 0 || r.At.IsZero() {
		t.Errorf("result %+v", r)
	}
}

// TestCheckForbidden: a 403 fails the tenant forbidden, naming the
// permission. (The simulator has no 403: a Graph-shaped answer from a
// plain loopback server.)
func TestCheckForbidden(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":{"code":"Forbidden","message":"Application is not authorized to perform this operation.","innerError":{"request-id":"r-403"}}}`))
	}))
	t.Cleanup(srv.Close)
	vs, err := preflight.Check(context.Background(), client(t, srv.URL, graph.StaticToken("token-value")), []preflight.Target{target(t, good, policy)}, preflight.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tg := target(t, good, policy)
	if v := vs[0]; v.Code != jobs.CodeForbidden || v.HTTPStatus != 403 || v.RequestID != "r-403" || !strings.Contains(v.Message, tg.Kind.Permission) {
		t.Errorf("verdict %+v", v)
	}
}

// TestCheckGraphUnreachable: Graph on a closed port is tried again with
// backoff and fails graph_unreachable at the connect deadline, naming the
// host; OnWait hears of it once, at the start.
func TestCheckGraphUnreachable(t *testing.T) {
	t.Parallel()
	addr := graphtest.ClosedAddr(t)
	const deadline = 1500 * time.Millisecond
	var waits atomic.Int32
	start := time.Now()
	vs, err := preflight.Check(context.Background(), client(t, "http://"+addr, graph.StaticToken("token-value")),
		[]preflight.Target{target(t, good, policy)},
		preflight.Config{ConnectDeadline: deadline, GraphHost: addr, OnWait: func(tenant string, err error, until time.Time) {
			waits.Add(1)
			if tenant != good || !errors.Is(err, graph.ErrUnreachable) || until.Before(time.Now()) {
				t.Errorf("OnWait(%s, %v, %s)", tenant, err, until)
			}
		}})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	v := vs[0]
	if v.Code != jobs.CodeGraphUnreachable || !strings.Contains(v.Message, addr) || !strings.Contains(v.Message, "connection refused") {
		t.Errorf("verdict %+v", v)
	}
	if strings.Contains(v.Message, "(1 attempt)") {
		t.Errorf("not retried: %s", v.Message)
	}
	if took < deadline || took > deadline+2*time.Second {
		t.Errorf("took %s, want about the connect deadline %s", took, deadline)
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("OnWait called %d times, want 1", n)
	}
}

// TestCheckIdentityUnreachable: an identity provider whose name does not
// resolve (azidentity retrying inside, cut by the deadline) fails
// identity_unreachable within the connect deadline, naming its host, and
// Graph is never asked.
func TestCheckIdentityUnreachable(t *testing.T) {
	t.Parallel()
	if _, err := net.DefaultResolver.LookupHost(context.Background(), "nonexistent.invalid"); err == nil {
		t.Fatal("nonexistent.invalid resolves on this machine")
	}
	s := graphtest.Start(t, graphtest.Config{})
	cred, err := azidentity.NewClientSecretCredential(good, graphtest.DefaultClientID, graphtest.DefaultClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:              azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://nonexistent.invalid/"}},
		AdditionallyAllowedTenants: []string{"*"}, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	const deadline = 2 * time.Second
	start := time.Now()
	vs, err := preflight.Check(context.Background(), client(t, s.URL(), graph.NewCredentialTokens(cred, graph.CloudGlobal)),
		[]preflight.Target{target(t, good, policy)},
		preflight.Config{ConnectDeadline: deadline, IdentityHost: "nonexistent.invalid"})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if v := vs[0]; v.Code != jobs.CodeIdentityUnreachable || !strings.Contains(v.Message, "identity provider at nonexistent.invalid for tenant "+good) {
		t.Errorf("verdict %+v", v)
	}
	if took > deadline+2*time.Second {
		t.Errorf("took %s, connect deadline %s", took, deadline)
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached Graph", n)
	}
}

// boundedProber counts the probes in flight.
type boundedProber struct {
	p         preflight.Prober
	mu        sync.Mutex
	now, peak int
}

func (b *boundedProber) Probe(ctx context.Context, tenant, version string, k *graph.Kind, policyID string) error {
	b.mu.Lock()
	b.now++
	b.peak = max(b.peak, b.now)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.now--
		b.mu.Unlock()
	}()
	return b.p.Probe(ctx, tenant, version, k, policyID)
}

// TestCheckConcurrencyBound: tenants are checked concurrently, never more
// than Concurrency at once.
func TestCheckConcurrencyBound(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{Latency: 50 * time.Millisecond})
	bp := &boundedProber{p: client(t, s.URL(), graph.StaticToken("token-value"))}
	var targets []preflight.Target
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
		targets = append(targets, target(t, name+".onmicrosoft.com", policy))
	}
	vs, err := preflight.Check(context.Background(), bp, targets, preflight.Config{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if !v.OK() || v.Tenant != targets[i].Tenant {
			t.Errorf("verdict %d: %+v", i, v)
		}
	}
	if bp.peak != 3 {
		t.Errorf("peak %d probes at once, want 3", bp.peak)
	}
}

// TestCheckCanceled: a cancelled context ends the check with its error,
// not with verdicts.
func TestCheckCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, err := preflight.Check(ctx, client(t, "http://"+graphtest.ClosedAddr(t), graph.StaticToken("token-value")),
		[]preflight.Target{target(t, good, policy)},
		preflight.Config{OnWait: func(string, error, time.Time) { once.Do(cancel) }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if _, err := preflight.Check(context.Background(), nil, nil, preflight.Config{Concurrency: -1}); err == nil {
		t.Error("a negative concurrency was accepted")
	}
}

// TestCollector keeps the first job of each tenant.
func TestCollector(t *testing.T) {
	t.Parallel()
	var c preflight.Collector
	for i, tenant := range []string{good, refused, good} {
		j := jobs.Job{Row: i + 2, Tenant: tenant, Kind: "deviceCompliancePolicies", PolicyID: []string{policy, gone, gone}[i], APIVersion: graph.Beta}
		if err := c.Job(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Result(context.Background(), jobs.Result{}); err != nil {
		t.Fatal(err)
	}
	got := c.Targets()
	if len(got) != 2 || got[0].Tenant != good || got[0].PolicyID != policy || got[1].Tenant != refused ||
		got[0].Kind.Name != "deviceCompliancePolicies" || got[0].APIVersion != graph.Beta {
		t.Errorf("targets %+v", got)
	}
}
