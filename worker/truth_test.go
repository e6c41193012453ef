package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// recorder passes every request to the simulator on and keeps a copy of
// what bulkassign sent: method, path, query and body.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []sentRequest
}

// sentRequest is one request as the recorder saw it.
type sentRequest struct {
	method, path, query string
	body                []byte
}

// wrap is the bundle's transport option.
func (rec *recorder) wrap(rt http.RoundTripper) http.RoundTripper {
	rec.base = rt
	return rec
}

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	out := req
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		out = req.Clone(req.Context())
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, sentRequest{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, body: body})
	rec.mu.Unlock()
	return rec.base.RoundTrip(out)
}

// requests returns the recorded requests with method and a path ending
// in suffix.
func (rec *recorder) requests(method, suffix string) []sentRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []sentRequest
	for _, r := range rec.reqs {
		if r.method == method && strings.HasSuffix(r.path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// newJob builds a valid job with its key.
func newJob(importID string, row int, tenant, kind, policy, group, version string) jobs.Job {
	j := jobs.Job{ImportID: importID, Row: row, Tenant: tenant, Kind: kind, PolicyID: policy,
		Target: graph.TargetGroup, GroupID: group, APIVersion: version}
	j.Key = j.ComputeKey()
	return j
}

// withFilter returns j with a filter, in beta, with its key recomputed.
func withFilter(j jobs.Job, filterID, filterType string) jobs.Job {
	j.FilterID, j.FilterType, j.APIVersion = filterID, filterType, graph.Beta
	j.Key = j.ComputeKey()
	return j
}

// withIntent returns j with an install intent, its key recomputed.
func withIntent(j jobs.Job, intent string) jobs.Job {
	j.Intent = intent
	j.Key = j.ComputeKey()
	return j
}

// TestMergeKeepsEverything: a merge-kind policy holding 60 direct
// assignments (half with filters, over two list pages) and 2 inherited
// from a policy set gets 20 new rows, some left on v1.0 and some with
// filters. Every earlier assignment is re-sent and kept exactly as it was,
// the inherited ones are never sent, every /assign goes to beta with rows
// of both versions in one batch, and every new row is there with its
// filter.
func TestMergeKeepsEverything(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	sim := fastSim()
	sim.PageSize = 40
	b := setup(t, opts{sim: sim, transport: rec.wrap})
	tenant := guid("tenant/keep")
	k, err := graph.LookupKind("deviceCompliancePolicies")
	if err != nil {
		t.Fatal(err)
	}
	pid := policyID(tenant, k.Name, 0)

	var seed []graph.Assignment
	for i := range 60 {
		a := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: guid(fmt.Sprintf("keep/old/%d", i))}}
		if i%2 == 0 {
			a.Target.FilterID = guid(fmt.Sprintf("keep/filter/%d", i%3))
			a.Target.FilterType = []string{graph.FilterInclude, graph.FilterExclude}[i/2%2]
		}
		seed = append(seed, a)
	}
	inherited := map[string]bool{}
	for i := range 2 {
		id := fmt.Sprintf("%s_policyset%d", pid, i)
		inherited[id] = true
		raw := fmt.Sprintf(`{"@odata.type":%q,"id":%q,"source":"policySets","sourceId":%q,"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":%q}}`,
			k.AssignmentType, id, guid("keep/policyset"), guid(fmt.Sprintf("keep/inherited/%d", i)))
		seed = append(seed, graph.Assignment{ID: id, Source: "policySets", Raw: json.RawMessage(raw)})
	}
	if err := b.sim.Seed(tenant, k.Name, pid, seed...); err != nil {
		t.Fatal(err)
	}
	before := b.sim.Assignments(tenant, k.Name, pid)
	if len(before) != 62 {
		t.Fatalf("seeded %d assignments, want 62", len(before))
	}

	// 20 new rows: v1.0 without filter, beta with an include or exclude
	// filter, beta without filter.
	var js []jobs.Job
	v1Groups, betaGroups := map[string]bool{}, map[string]bool{}
	for i := range 20 {
		j := newJob("keep", 2+i, tenant, k.Name, pid, guid(fmt.Sprintf("keep/new/%d", i)), graph.V1)
		switch i % 4 {
		case 1:
			j = withFilter(j, guid("keep/newfilter"), graph.FilterInclude)
		case 2:
			j.APIVersion = graph.Beta
			j.Key = j.ComputeKey()
		case 3:
			j = withFilter(j, guid("keep/newfilter"), graph.FilterExclude)
		}
		if j.APIVersion == graph.V1 {
			v1Groups[j.GroupID] = true
		} else {
			betaGroups[j.GroupID] = true
		}
		js = append(js, j)
	}
	b.publish(js)
	cfg := fastWorker()
	cfg.TenantConcurrency, cfg.MergeWindow = 8, 500*time.Millisecond
	b.run(b.newWorker(cfg, nil))
	rs := b.waitResults("keep", len(js), 60*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(js) {
		t.Fatalf("statuses = %v, want all %d created", got, len(js))
	}

	// Graph afterwards: every earlier direct assignment unchanged,
	// property for property; every new row there with its filter.
	after := b.sim.Assignments(tenant, k.Name, pid)
	afterByID := map[string]graph.Assignment{}
	direct := 0
	for _, a := range after {
		afterByID[a.ID] = a
		if !isPolicySet(a) {
			direct++
		}
	}
	for _, a := range before {
		if inherited[a.ID] {
			continue
		}
		got, ok := afterByID[a.ID]
		switch {
		case !ok:
			t.Errorf("assignment %s was removed", a.ID)
		case !jsonEqual(t, got.Raw, a.Raw):
			t.Errorf("assignment %s changed:\n was %s\n now %s", a.ID, a.Raw, got.Raw)
		}
	}
	for _, j := range js {
		have, found := findDirect(after, j.Assignment())
		if !found || have.Compare(j.Assignment()) != graph.MatchSame {
			t.Errorf("row %d (%s, filter %q %q): Graph holds %+v (found %v)", j.Row, j.APIVersion, j.FilterID, j.FilterType, have.Target, found)
		}
	}
	for id := range inherited {
		if a, ok := afterByID[id]; !ok || !isPolicySet(a) {
			t.Errorf("inherited assignment %s is gone or no longer inherited: %+v", id, a)
		}
	}
	if n := b.sim.Stats().InheritedReposted; n != 0 {
		t.Errorf("the simulator saw %d inherited entries re-posted", n)
	}
	if direct != 80 {
		t.Errorf("policy holds %d direct assignments, want 80", direct)
	}

	// What bulkassign sent.
	if pages := len(rec.requests(http.MethodGet, "/assignments")); pages < 2 {
		t.Errorf("%d list requests: the set was not read over two pages", pages)
	}
	var paged bool
	for _, r := range rec.requests(http.MethodGet, "/assignments") {
		paged = paged || strings.Contains(r.query, "skiptoken")
	}
	if !paged {
		t.Error("no list request followed a nextLink: the test does not span two pages")
	}
	posts := rec.requests(http.MethodPost, "/assign")
	if len(posts) == 0 {
		t.Fatal("no /assign was sent")
	}
	mixed := false
	for n, p := range posts {
		if !strings.HasPrefix(p.path, "/beta/") {
			t.Errorf("/assign %d went to %s, not beta", n, p.path)
		}
		var body map[string][]json.RawMessage
		if err := json.Unmarshal(p.body, &body); err != nil {
			t.Fatalf("/assign %d body: %v", n, err)
		}
		sent := map[string]json.RawMessage{}
		var newV1, newBeta bool
		for _, item := range body[k.AssignKey] {
			a, err := graph.ParseAssignment(item)
			if err != nil {
				t.Fatal(err)
			}
			if isPolicySet(a) || inherited[a.ID] {
				t.Errorf("/assign %d re-posted inherited assignment %s: %s", n, a.ID, item)
			}
			if a.ID != "" {
				sent[a.ID] = item
				continue
			}
			newV1 = newV1 || v1Groups[a.Target.GroupID]
			newBeta = newBeta || betaGroups[a.Target.GroupID]
		}
		mixed = mixed || (newV1 && newBeta)
		for _, a := range before {
			if inherited[a.ID] {
				continue
			}
			item, ok := sent[a.ID]
			switch {
			case !ok:
				t.Errorf("/assign %d left out existing assignment %s", n, a.ID)
			case !jsonEqual(t, item, a.Raw):
				t.Errorf("/assign %d re-sent %s rebuilt:\n listed %s\n   sent %s", n, a.ID, a.Raw, item)
			}
		}
	}
	if !mixed {
		t.Error("no /assign carried a v1.0 row and a beta row together: rows of one policy were batched by version")
	}
	t.Logf("20 rows in %d /assign writes", len(posts))
}

// TestConflict: a row whose target the policy already assigns with another
// filter or intent is reported conflict with what Graph holds, and Graph
// is left unchanged: for merge kinds (intent, filter) and create kinds
// (found in the listing, answered 409, found by a reconcile). A later row
// on the same policy keeps every earlier property, settings included.
func TestConflict(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	ctx := testCtx(t)
	tenant := guid("tenant/conflict")
	filter := guid("conflict/filter")
	group := func(name string) string { return guid("conflict/group/" + name) }
	apps := policyID(tenant, "mobileApps", 0)
	comp := policyID(tenant, "deviceCompliancePolicies", 0)
	conf := policyID(tenant, "deviceConfigurations", 0)
	conf409 := policyID(tenant, "deviceConfigurations", 1)
	confDoubt := policyID(tenant, "deviceConfigurations", 2)

	// Graph before: an app with two assignments written through /assign
	// (one carrying settings), a compliance policy and two configurations.
	appsKind, _ := graph.LookupKind("mobileApps")
	appItem := func(g, intent, settings string) graph.Assignment {
		raw := fmt.Sprintf(`{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":%q,%s"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":%q}}`, intent, settings, g)
		return graph.Assignment{Raw: json.RawMessage(raw)}
	}
	if _, err := b.graph.Assign(ctx, tenant, graph.Beta, appsKind, apps, []graph.Assignment{
		appItem(group("x"), "available", ""),
		appItem(group("w"), "required", `"settings":{"@odata.type":"#microsoft.graph.win32LobAppAssignmentSettings","notifications":"showReboot","deliveryOptimizationPriority":"foreground"},`),
	}); err != nil {
		t.Fatal(err)
	}
	seed := func(kind, policy string, a graph.Assignment) {
		t.Helper()
		if err := b.sim.Seed(tenant, kind, policy, a); err != nil {
			t.Fatal(err)
		}
	}
	target := func(g, f, ft string) graph.Target {
		return graph.Target{Type: graph.TargetGroup, GroupID: g, FilterID: f, FilterType: ft}
	}
	seed("deviceCompliancePolicies", comp, graph.Assignment{Target: target(group("y"), "", "")})
	seed("deviceConfigurations", conf, graph.Assignment{Target: target(group("z"), filter, graph.FilterExclude)})
	seed("deviceConfigurations", confDoubt, graph.Assignment{Target: target(group("d"), filter, graph.FilterInclude)})

	rows := []jobs.Job{
		withIntent(newJob("conflict", 2, tenant, "mobileApps", apps, group("x"), graph.V1), "required"),
		withFilter(newJob("conflict", 3, tenant, "deviceCompliancePolicies", comp, group("y"), graph.V1), filter, graph.FilterInclude),
		newJob("conflict", 4, tenant, "deviceConfigurations", conf, group("z"), graph.V1),
		newJob("conflict", 5, tenant, "deviceConfigurations", conf409, group("c"), graph.V1),
		newJob("conflict", 6, tenant, "deviceConfigurations", confDoubt, group("d"), graph.Beta),
	}
	// Row 6: another import's write of the same key may have landed (an
	// unsettled intent): the worker reconciles instead of using its list.
	if err := b.store.PutIntent(ctx, rows[4].Key, jobs.Intent{Owner: "crashed", ImportID: "other", Row: 9, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	before := b.sim.AllAssignments()
	writes := b.sim.Stats().Writes

	// Row 5: someone assigns the group with a filter after the worker
	// listed the policy; the create is answered 409.
	var seeded atomic.Bool
	g := graphFunc{Graph: b.graph, create: func(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error) {
		if strings.EqualFold(a.Target.GroupID, group("c")) && seeded.CompareAndSwap(false, true) {
			seed("deviceConfigurations", conf409, graph.Assignment{Target: target(group("c"), filter, graph.FilterInclude)})
		}
		return b.graph.Create(ctx, tenant, version, k, policyID, a)
	}}
	b.publish(rows)
	b.run(b.newWorker(fastWorker(), g))
	rs := resultsByRow(b.waitResults("conflict", len(rows), 30*time.Second))

	want := map[int]string{
		2: "policy already assigns group " + group("x") + " with no filter and intent available; row asks no filter and intent required",
		3: "policy already assigns group " + group("y") + " with no filter; row asks filter " + filter + " (include)",
		4: "policy already assigns group " + group("z") + " with filter " + filter + " (exclude); row asks no filter",
		5: "policy already assigns group " + group("c") + " with filter " + filter + " (include); row asks no filter",
		6: "policy already assigns group " + group("d") + " with filter " + filter + " (include); row asks no filter",
	}
	for _, j := range rows {
		r := rs[j.Row]
		if r.Status != jobs.StatusConflict || r.ErrorMessage != want[j.Row] || r.AssignmentID != j.PolicyID+"_"+j.GroupID {
			t.Errorf("row %d: %s %q (assignment %q)\nwant conflict %q", j.Row, r.Status, r.ErrorMessage, r.AssignmentID, want[j.Row])
		}
		if r.Status.OK() {
			t.Errorf("row %d: status %s counts as success", j.Row, r.Status)
		}
	}
	if !seeded.Load() {
		t.Fatal("row 5 was never created: the 409 path was not exercised")
	}
	if n := b.sim.StatusCounts()[http.StatusConflict]; n != 1 {
		t.Errorf("%d answers 409, want 1 (row 5)", n)
	}
	// Graph unchanged: the one write was the create Graph refused.
	if got := b.sim.Stats().Writes - writes; got != 1 {
		t.Errorf("%d writes, want 1 (row 5's refused create)", got)
	}
	afterAll := b.sim.AllAssignments()
	for key, set := range before {
		assertSameSet(t, key, set, afterAll[key])
	}
	if got := b.sim.Assignments(tenant, "deviceConfigurations", conf409); len(got) != 1 || got[0].Target.FilterID != filter {
		t.Errorf("policy %s: %+v, want only the filtered assignment", conf409, got)
	}

	// A later row on the app: the merge re-sends the others as they were
	// (intent, settings).
	appsBefore := b.sim.Assignments(tenant, "mobileApps", apps)
	more := withIntent(newJob("conflict2", 2, tenant, "mobileApps", apps, group("v"), graph.V1), "required")
	b.publish([]jobs.Job{more})
	if r := b.waitResults("conflict2", 1, 30*time.Second)[0]; r.Status != jobs.StatusCreated {
		t.Fatalf("new app row: %s %q", r.Status, r.ErrorMessage)
	}
	appsAfter := b.sim.Assignments(tenant, "mobileApps", apps)
	if len(appsAfter) != 3 {
		t.Fatalf("app holds %d assignments, want 3", len(appsAfter))
	}
	assertSameSet(t, "app", appsBefore, appsAfter[:2])
	if !strings.Contains(string(appsAfter[1].Raw), "showReboot") {
		t.Errorf("settings lost: %s", appsAfter[1].Raw)
	}
}

// assertSameSet checks that two listings hold the same assignments,
// property for property, in order.
func assertSameSet(t *testing.T, name string, want, got []graph.Assignment) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d assignments, want %d", name, len(got), len(want))
		return
	}
	for i := range want {
		if !jsonEqual(t, got[i].Raw, want[i].Raw) {
			t.Errorf("%s: assignment %d changed:\n was %s\n now %s", name, i, want[i].Raw, got[i].Raw)
		}
	}
}

// TestRerunAsksGraph: whether an assignment exists is Graph's answer, not
// the store's. A rerun after Graph lost the assignments creates them
// again; a rerun while they are there reports every row existing with no
// write, listing each create-kind policy once.
func TestRerunAsksGraph(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	b := setup(t, opts{sim: fastSim(), transport: rec.wrap})
	tenant := guid("tenant/rerun")
	create := makeJobs(spec{importID: "r1", tenant: tenant, kind: "deviceConfigurations", policies: 2, rows: 10})
	merge := makeJobs(spec{importID: "r1", tenant: tenant, kind: "deviceCompliancePolicies", rows: 6, firstRow: 20})
	create[1] = withFilter(create[1], guid("rerun/filter"), graph.FilterInclude)
	merge[1] = withFilter(merge[1], guid("rerun/filter"), graph.FilterExclude)
	all := append(create, merge...)
	b.publish(all)
	b.run(b.newWorker(fastWorker(), nil))
	if got := statuses(b.waitResults("r1", len(all), 60*time.Second)); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("first import: %v, want all %d created", got, len(all))
	}

	b.sim.Reset() // the assignments were deleted in Graph
	b.publish(reimport(all, "r2"))
	if got := statuses(b.waitResults("r2", len(all), 60*time.Second)); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("rerun after deletion: %v, want all %d created again", got, len(all))
	}
	if st := b.sim.Stats(); st.CreatesApplied != len(all) || st.DuplicateCreates != 0 {
		t.Fatalf("rerun after deletion: %d creates applied (%d duplicates), want %d", st.CreatesApplied, st.DuplicateCreates, len(all))
	}
	for _, j := range all {
		have, found := findDirect(b.sim.Assignments(j.Tenant, j.Kind, j.PolicyID), j.Assignment())
		if !found || have.Compare(j.Assignment()) != graph.MatchSame {
			t.Errorf("row %d not recreated as asked: %+v", j.Row, have.Target)
		}
	}

	writes := b.sim.Stats().Writes
	rec.mu.Lock()
	rec.reqs = nil
	rec.mu.Unlock()
	b.publish(reimport(all, "r3"))
	rs := b.waitResults("r3", len(all), 60*time.Second)
	if got := statuses(rs); got[jobs.StatusExisting] != len(all) {
		t.Fatalf("rerun while present: %v, want all %d existing", got, len(all))
	}
	for _, r := range rs {
		if r.AssignmentID == "" {
			t.Errorf("row %d: existing without an assignment id", r.Row)
		}
	}
	if got := b.sim.Stats().Writes - writes; got != 0 {
		t.Errorf("rerun while present made %d writes, want 0", got)
	}
	for n := range 2 {
		suffix := policyID(tenant, "deviceConfigurations", n) + "/assignments"
		if got := len(rec.requests(http.MethodGet, suffix)); got != 1 {
			t.Errorf("create-kind policy %d listed %d times in one import, want once", n, got)
		}
	}
}

// TestAttemptsCountGraphAttempts: with an AckWait of 2 s, a row whose key
// a dead worker still holds comes back "held" several times, and a row
// whose first create gets a 503 is tried twice: attempts are 1 and 2, the
// Graph attempts, not the deliveries. The key lease the worker takes lives
// as long as the AckWait, not LeaseTTL.
func TestAttemptsCountGraphAttempts(t *testing.T) {
	t.Parallel()
	const ackWait = 2 * time.Second
	b := setup(t, opts{sim: fastSim(), jobs: jobs.Config{AckWait: ackWait}})
	ctx := testCtx(t)
	m, reg := newMetrics(t)
	js := makeJobs(spec{importID: "tries", tenant: guid("tenant/tries"), kind: "deviceConfigurations", rows: 3})
	held, failing := js[0], js[1]
	keys := map[string]string{}
	for _, j := range js {
		keys[j.GroupID] = j.Key
	}
	// A worker died holding the first row's key with a lease longer than
	// the AckWait.
	if _, err := b.store.Acquire(ctx, "key/"+held.Key, "dead-worker", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var failedOnce atomic.Bool
	var longest atomic.Int64 // the longest key lease seen while a create runs
	g := graphFunc{Graph: b.graph, create: func(cctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error) {
		l, err := b.store.Acquire(ctx, "key/"+keys[a.Target.GroupID], "probe", time.Second)
		var he *jobs.HeldError
		switch {
		case errors.As(err, &he):
			if d := int64(time.Until(he.Expires)); d > longest.Load() {
				longest.Store(d)
			}
		case err == nil:
			_ = l.Release(ctx)
			t.Errorf("row with group %s: the key was not leased during its create", a.Target.GroupID)
		}
		if a.Target.GroupID == failing.GroupID && failedOnce.CompareAndSwap(false, true) {
			return graph.Assignment{}, &graph.Error{Op: graph.OpCreate, Class: graph.ClassTransient, StatusCode: http.StatusServiceUnavailable,
				Code: "ServiceUnavailable", Message: "injected 503"}
		}
		return b.graph.Create(cctx, tenant, version, k, policyID, a)
	}}
	cfg := fastWorker()
	cfg.Metrics, cfg.LeaseTTL = m, 30*time.Second
	b.publish(js)
	b.run(b.newWorker(cfg, g))
	rs := resultsByRow(b.waitResults("tries", len(js), 60*time.Second))

	want := map[int]int{held.Row: 1, failing.Row: 2, js[2].Row: 1}
	for row, n := range want {
		if r := rs[row]; r.Status != jobs.StatusCreated || r.Attempts != n {
			t.Errorf("row %d: %s after %d attempts, want created after %d", row, r.Status, r.Attempts, n)
		}
	}
	if n := metricSumWhere(t, reg, "bulkassign_job_attempts_total", "outcome", "held"); n < 1 {
		t.Fatalf("%v deliveries handed back as held: the test proves nothing", n)
	}
	if d := time.Duration(longest.Load()); d <= 0 || d > ackWait+500*time.Millisecond {
		t.Errorf("key lease had %s left during a create, want at most the AckWait %s", d, ackWait)
	}
	if st := b.sim.Stats(); st.CreatesApplied != len(js) || st.DuplicateCreates != 0 {
		t.Errorf("simulator: %d creates, %d duplicates", st.CreatesApplied, st.DuplicateCreates)
	}
}
