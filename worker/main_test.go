package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/natsembed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bundle is what the integration tests share: an embedded nats-server
// with JetStream on a temporary directory, a connection that reconnects
// forever, an opened Store, the Graph simulator over real HTTP and a real
// graph.Client pointed at it.
type bundle struct {
	t     *testing.T
	dir   string
	port  int
	srv   *natsembed.Server
	nc    *nats.Conn
	store *jobs.Store
	sim   *graphtest.Server
	graph *graph.Client
}

// opts configures setup.
type opts struct {
	sim  graphtest.Config
	jobs jobs.Config
	// tokens defaults to one static token for every tenant.
	tokens graph.TokenSource
	// transport, when set, wraps the HTTP transport to the simulator.
	transport func(http.RoundTripper) http.RoundTripper
}

func setup(t *testing.T, o opts) *bundle {
	t.Helper()
	b := &bundle{t: t, dir: t.TempDir()}
	b.startNATS()
	nc, err := b.srv.Connect(nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectJitter(0, 0))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	b.nc = nc
	if o.jobs.AckWait == 0 {
		o.jobs.AckWait = 5 * time.Second
	}
	b.store, err = jobs.Provision(testCtx(t), nc, o.jobs)
	if err != nil {
		t.Fatalf("jobs.Provision: %v", err)
	}
	b.sim = graphtest.Start(t, o.sim)
	// httptest's client keeps 2 idle connections per host: with dozens of
	// concurrent calls nearly every request would dial. Keep a pool, as
	// the production client does.
	tr := b.sim.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	var rt http.RoundTripper = tr
	if o.transport != nil {
		rt = o.transport(tr)
	}
	hc := &http.Client{Transport: rt}
	t.Cleanup(tr.CloseIdleConnections)
	tokens := o.tokens
	if tokens == nil {
		tokens = graph.StaticToken("test-token")
	}
	b.graph, err = graph.NewClient(graph.Config{
		BaseURL: b.sim.URL(), Tokens: tokens, HTTPClient: hc,
		TenantHeader: graphtest.TenantHeader, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("graph.NewClient: %v", err)
	}
	t.Cleanup(b.graph.Close)
	return b
}

// startNATS starts the embedded server on b.dir: on a random port the
// first time, on the same port afterwards (a restart).
func (b *bundle) startNATS() {
	b.t.Helper()
	port := -1
	if b.port != 0 {
		port = b.port
	}
	srv, err := natsembed.Start(natsembed.Config{DataDir: b.dir, Port: port})
	if err != nil {
		b.t.Fatalf("natsembed.Start: %v", err)
	}
	b.t.Cleanup(srv.Shutdown)
	b.srv = srv
	if addr, ok := srv.Server().Addr().(*net.TCPAddr); ok {
		b.port = addr.Port
	}
}

// testLogger logs to the test's output at warn level (debug with
// BULKASSIGN_TEST_DEBUG=1).
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("BULKASSIGN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// newWorker builds a worker with test-friendly defaults (fast discovery,
// short drain) over g (default: the bundle's client).
func (b *bundle) newWorker(cfg Config, g Graph) *Worker {
	b.t.Helper()
	if g == nil {
		g = b.graph
	}
	if cfg.DiscoverInterval == 0 {
		cfg.DiscoverInterval = 100 * time.Millisecond
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 5 * time.Second
	}
	if cfg.MergeWindow == 0 {
		cfg.MergeWindow = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(b.t)
	}
	w, err := New(b.store, g, cfg)
	if err != nil {
		b.t.Fatalf("New: %v", err)
	}
	return w
}

// run runs w until the returned stop is called (or the test ends); stop
// cancels Run's context, waits for Run to return and reports how long that
// took.
func (b *bundle) run(w *Worker) (stop func() time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var stopped bool
	var took time.Duration
	stop = func() time.Duration {
		if stopped {
			return took
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.t.Errorf("Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			w.Abort()
			b.t.Fatalf("Run did not return within 60s of cancel")
		}
		took = time.Since(start)
		return took
	}
	b.t.Cleanup(func() { stop() })
	return stop
}

// publish enqueues js and waits for JetStream's acks.
func (b *bundle) publish(js []jobs.Job) {
	b.t.Helper()
	ctx := testCtx(b.t)
	p := b.store.NewPublisher(512)
	for _, j := range js {
		if err := p.Publish(ctx, j); err != nil {
			b.t.Fatalf("publish: %v", err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		b.t.Fatalf("flush: %v", err)
	}
}

// waitResults waits until the import has n results and returns them.
func (b *bundle) waitResults(importID string, n int, timeout time.Duration) []jobs.Result {
	b.t.Helper()
	var rs []jobs.Result
	waitFor(b.t, timeout, fmt.Sprintf("%d results of %s", n, importID), func() bool {
		// The count is one stream-info request; read the records only
		// once there are enough of them.
		if c, err := b.store.ResultCount(context.Background(), importID); err != nil || c < uint64(n) {
			return false
		}
		var err error
		rs, err = b.store.Results(context.Background(), importID)
		if err != nil {
			b.t.Logf("results: %v", err)
			return false
		}
		return len(rs) >= n
	})
	return rs
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testCtx is a context bounded so that a hung call fails the test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// guid returns a stable GUID for a name.
func guid(name string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)).String()
}

// spec describes a run of rows for makeJobs.
type spec struct {
	importID string
	tenant   string
	kind     string
	policies int // rows are spread over this many policies (default 1)
	rows     int
	firstRow int    // default 2
	group    string // group name prefix (default tenant)
}

// makeJobs builds valid jobs: rows targets distinct groups over the policies.
func makeJobs(s spec) []jobs.Job {
	k, err := graph.LookupKind(s.kind)
	if err != nil {
		panic(err)
	}
	s.policies = max(s.policies, 1)
	s.firstRow = max(s.firstRow, 2)
	if s.group == "" {
		s.group = s.tenant
	}
	out := make([]jobs.Job, 0, s.rows)
	for i := range s.rows {
		j := jobs.Job{
			ImportID: s.importID, Row: s.firstRow + i, Tenant: s.tenant, Kind: k.Name,
			PolicyID:   policyID(s.tenant, s.kind, i%s.policies),
			Target:     graph.TargetGroup,
			GroupID:    guid(fmt.Sprintf("group/%s/%d", s.group, i)),
			APIVersion: k.DefaultVersion(false),
		}
		if k.NeedsIntent {
			j.Intent = "required"
		}
		j.Key = j.ComputeKey()
		out = append(out, j)
	}
	return out
}

// policyID is the id of policy n of a tenant and kind.
func policyID(tenant, kind string, n int) string {
	return guid(fmt.Sprintf("policy/%s/%s/%d", tenant, kind, n))
}

// reimport returns js as rows of another import.
func reimport(js []jobs.Job, importID string) []jobs.Job {
	out := make([]jobs.Job, len(js))
	for i, j := range js {
		j.ImportID = importID
		out[i] = j
	}
	return out
}

// statuses counts results by status.
func statuses(rs []jobs.Result) map[jobs.Status]int {
	m := map[jobs.Status]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

// tenantTokens is a TokenSource with one static token per tenant (the
// simulator can reject one tenant's token).
type tenantTokens map[string]string

func (tt tenantTokens) Token(_ context.Context, tenant string) (string, error) {
	if tok, ok := tt[tenant]; ok {
		return tok, nil
	}
	return "default-token", nil
}

func (tenantTokens) Invalidate(string) {}
