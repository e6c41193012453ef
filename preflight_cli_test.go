package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker"
)

// waitProc waits for a process started by a test, failing it after within.
func waitProc(t *testing.T, p *proc, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("still running after %s:\n%s", within, p.out.String())
	}
}

// TestRunGraphUnreachable: with Graph on a closed port, run does not wait
// for the 24-hour job deadline: past --connect-deadline every row is
// failed graph_unreachable, with a message naming the host.
func TestRunGraphUnreachable(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(21, 2, 5)
	path := e.writeCSV("unreachable.csv", rows)
	addr := graphtest.ClosedAddr(t)
	const deadline = 2 * time.Second
	start := time.Now()
	code, out, errOut := e.runWith(map[string]string{"BULKASSIGN_GRAPH_URL": "http://" + addr}, "run", "--connect-deadline", deadline.String(), path)
	took := time.Since(start)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitFailed, out, errOut)
	}
	if took < deadline || took > deadline+15*time.Second {
		t.Errorf("took %s, connect deadline %s", took, deadline)
	}
	report := readReport(t, path+".report.csv")
	if len(report) != len(rows) {
		t.Fatalf("report: %d rows, want %d", len(report), len(rows))
	}
	for _, r := range report {
		if r["status"] != "failed" || r["error_code"] != jobs.CodeGraphUnreachable ||
			!strings.Contains(r["error_message"], addr) || !strings.Contains(r["error_message"], "connection refused") || r["attempts"] != "0" {
			t.Fatalf("row %s: %v", r["row"], r)
		}
	}
}

// TestRunIdentityUnreachable: azidentity pointed at a host that does not
// resolve (AZURE_AUTHORITY_HOST): every row fails identity_unreachable
// within the connect deadline, naming the host, and Graph is never asked.
// In a separate process, since azidentity reads the process environment.
func TestRunIdentityUnreachable(t *testing.T) {
	t.Parallel()
	if _, err := net.DefaultResolver.LookupHost(context.Background(), "nonexistent.invalid"); err == nil {
		t.Fatal("nonexistent.invalid resolves on this machine")
	}
	e := newE2E(t, fastSim())
	rows := genRows(22, 2, 5)
	path := e.writeCSV("identity.csv", rows)
	const deadline = 3 * time.Second
	start := time.Now()
	p := e.startWith([]string{
		"BULKASSIGN_GRAPH_TOKEN=",
		"AZURE_TENANT_ID=" + rows[0].tenant,
		"AZURE_CLIENT_ID=" + graphtest.DefaultClientID,
		"AZURE_CLIENT_SECRET=" + graphtest.DefaultClientSecret,
		"AZURE_AUTHORITY_HOST=https://nonexistent.invalid",
	}, "run", "--connect-deadline", deadline.String(), path)
	waitProc(t, p, deadline+30*time.Second)
	took := p.exited.Sub(start)
	if p.exitCode() != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", p.exitCode(), exitFailed, p.out.String())
	}
	if took > deadline+15*time.Second {
		t.Errorf("took %s, connect deadline %s", took, deadline)
	}
	for _, r := range readReport(t, path+".report.csv") {
		if r["status"] != "failed" || r["error_code"] != jobs.CodeIdentityUnreachable || !strings.Contains(r["error_message"], "nonexistent.invalid") {
			t.Fatalf("row %s: %v", r["row"], r)
		}
	}
	if n := e.sim.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached Graph", n)
	}
}

// tenantTokens is a TokenSource with one static token per tenant, so the
// simulator can refuse one tenant's token. It is our own interface, not a
// stand-in for anything external.
type tenantTokens map[string]string

func (tt tenantTokens) Token(_ context.Context, tenant string) (string, error) {
	return tt[tenant], nil
}

func (tenantTokens) Invalidate(string) {}

// TestRunRefusedTenant: run with a Graph client whose token for one tenant
// Graph refuses (the CLI has a single credential, so the test builds the
// pipeline as run does, with that client): the tenant's rows fail
// tenant_unauthorized after its preflight, without a write, while the other
// tenant's rows are created.
func TestRunRefusedTenant(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(23, 2, 20)
	refused, other := rows[0].tenant, rows[len(rows)-1].tenant
	path := e.writeCSV("refused.csv", rows)
	e.sim.RejectToken("refused-token")

	env := e.env(nil)
	f, file, err := parseRun(env, append([]string{"run", path}, fastWorker...)[1:])
	if err != nil {
		t.Fatal(err)
	}
	log, err := f.log.logger(env)
	if err != nil {
		t.Fatal(err)
	}
	src, err := openSource(env, file)
	if err != nil {
		t.Fatal(err)
	}
	f.report = defaultReportPath(src.name, f.format)
	ctx := context.Background()
	p, err := openPipeline(ctx, env, &f.nats, &f.graph, &f.work, f.metrics, f.ing.maxInFlight, log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	p.client, err = graph.NewClient(graph.Config{BaseURL: e.sim.URL(), Tokens: tenantTokens{refused: "refused-token", other: "good-token"}, TenantHeader: graphtest.TenantHeader})
	if err != nil {
		t.Fatal(err)
	}
	defer p.client.Close()
	err = p.run(ctx, env, f, src)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFailed {
		t.Fatalf("run: %v, want exit %d", err, exitFailed)
	}
	var otherRows []csvRow
	for _, r := range rows {
		if r.tenant == other {
			otherRows = append(otherRows, r)
		}
	}
	report := readReport(t, path+".report.csv")
	if len(report) != len(rows) {
		t.Fatalf("report: %d rows, want %d", len(report), len(rows))
	}
	for _, r := range report {
		switch r["tenant_id"] {
		case refused:
			if r["status"] != "failed" || r["error_code"] != jobs.CodeTenantUnauthorized || r["http_status"] != "401" || !strings.Contains(r["error_message"], refused) {
				t.Errorf("refused tenant's row %s: %v", r["row"], r)
			}
		case other:
			if r["status"] != "created" {
				t.Errorf("other tenant's row %s: %v", r["row"], r)
			}
		}
	}
	for _, a := range e.sim.AllAssignments() {
		for _, x := range a {
			if strings.Contains(x.ID, rows[0].policy) {
				t.Errorf("the refused tenant's policy got an assignment: %s", x.ID)
			}
		}
	}
	if got := len(e.sim.AllAssignments()); got == 0 {
		t.Fatal("nothing was created")
	}
	e.assertSimHas(otherRows)
}

// TestRunShortTokenMessagesIntact: a one-character token is no secret to
// redact: Graph's refusal reaches the report word for word.
func TestRunShortTokenMessagesIntact(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(24, 1, 3)
	path := e.writeCSV("short.csv", rows)
	e.sim.RejectToken("e")
	code, out, errOut := e.runWith(map[string]string{"BULKASSIGN_GRAPH_TOKEN": "e"}, "run", path)
	if code != exitFailed {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, r := range readReport(t, path+".report.csv") {
		if r["error_code"] != jobs.CodeTenantUnauthorized || !strings.Contains(r["error_message"], "Access token has expired or is not yet valid.") {
			t.Errorf("row %s: %v", r["row"], r)
		}
	}
}

// TestRunShowsWaitingTenants: while a tenant is throttled, the progress
// line says so and for how long.
func TestRunShowsWaitingTenants(t *testing.T) {
	t.Parallel()
	// Three writes per 6 s; a fourth is told to come back in 6 s, which the
	// plain progress line (every 5 s) catches.
	e := newE2E(t, graphtest.Config{Window: 6 * time.Second, AppWriteLimit: 3, TenantWriteLimit: 3, RetryAfterValue: 6 * time.Second})
	rows := genRows(25, 1, 6)
	for i := range rows {
		rows[i].kind, rows[i].version, rows[i].intent = "deviceConfigurations", "", ""
	}
	path := e.writeCSV("throttled.csv", rows)
	code, out, errOut := e.runWith(map[string]string{"BULKASSIGN_QUIET": ""}, "run", "--write-limit", "100", "--write-window", "1s", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if want := rows[0].tenant + ": throttled, retry in "; !strings.Contains(errOut, want) {
		t.Errorf("progress output lacks %q:\n%s", want, errOut)
	}
}

// TestWaitingLine: how the progress line names waiting tenants.
func TestWaitingLine(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		given []worker.TenantState
		want  string
	}{
		{"none", nil, ""},
		{"throttled rounds up", []worker.TenantState{{Tenant: "contoso", Reason: worker.WaitThrottled, Until: now.Add(11200 * time.Millisecond)}},
			"contoso: throttled, retry in 12s"},
		{"blocked", []worker.TenantState{{Tenant: "fabrikam", Reason: worker.WaitBlocked, Detail: jobs.CodeTenantUnauthorized, Until: now.Add(4 * time.Minute)}},
			"fabrikam: blocked (tenant_unauthorized), rows fail for 4m0s"},
		{"unreachable", []worker.TenantState{{Tenant: "tailspin", Reason: worker.WaitUnreachable, Detail: "Graph: dial tcp 127.0.0.1:1: connect: connection refused", Since: now.Add(-40 * time.Second)}},
			"tailspin: unreachable (Graph: dial tcp 127.0.0.1:1: connect: connection refused) for 40s, retrying"},
		{"at most three", []worker.TenantState{
			{Tenant: "a", Reason: worker.WaitBackingOff, Detail: "Graph: HTTP 503", Since: now},
			{Tenant: "b", Reason: worker.WaitThrottled, Until: now},
			{Tenant: "c", Reason: worker.WaitThrottled, Until: now.Add(time.Second)},
			{Tenant: "d", Reason: worker.WaitThrottled, Until: now},
			{Tenant: "e", Reason: worker.WaitThrottled, Until: now},
		}, "a: backing off (Graph: HTTP 503) for 0s, retrying; b: throttled, retry in 0s; c: throttled, retry in 1s; 2 more"},
	}
	for _, tt := range tests {
		if got := waitingLine(tt.given, now); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
