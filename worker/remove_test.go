package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
)

// asRemoval returns j as a removal, its key recomputed.
func asRemoval(j jobs.Job) jobs.Job {
	j.Action = jobs.ActionRemove
	j.Key = j.ComputeKey()
	return j
}

// assignmentOf parses one raw assignment as Graph lists it.
func assignmentOf(t *testing.T, raw json.RawMessage) graph.Assignment {
	t.Helper()
	a, err := graph.ParseAssignment(raw)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// assertKept checks that a policy holds exactly what it held before except
// the assignments with the ids in gone: every one of them property for
// property, inherited ones still inherited.
func assertKept(t *testing.T, name string, before, after []json.RawMessage, gone map[string]bool) {
	t.Helper()
	afterByID := map[string]json.RawMessage{}
	for _, raw := range after {
		afterByID[assignmentOf(t, raw).ID] = raw
	}
	kept := 0
	for _, raw := range before {
		id := assignmentOf(t, raw).ID
		got, ok := afterByID[id]
		switch {
		case gone[id] && ok:
			t.Errorf("%s: assignment %s is still there", name, id)
		case gone[id]:
		case !ok:
			t.Errorf("%s: assignment %s was removed", name, id)
		case !jsonEqual(t, got, raw):
			t.Errorf("%s: assignment %s changed:\n was %s\n now %s", name, id, raw, got)
		default:
			kept++
		}
	}
	if kept != len(after) {
		t.Errorf("%s: holds %d assignments, want the %d kept", name, len(after), kept)
	}
}

// seedOthers gives a policy assignments a removal must leave alone: n
// direct ones (every other one with an include or exclude filter) and two
// inherited from a policy set. It returns the inherited ones' groups.
func seedOthers(t *testing.T, b *bundle, tenant, kind, pid string, n int) []string {
	t.Helper()
	var seed []graph.Assignment
	for i := range n {
		a := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: guid(fmt.Sprintf("other/%s/%d", pid, i))}}
		if i%2 == 0 {
			a.Target.FilterID = guid(fmt.Sprintf("other/filter/%d", i%3))
			a.Target.FilterType = []string{graph.FilterInclude, graph.FilterExclude}[i/2%2]
		}
		seed = append(seed, a)
	}
	if err := b.sim.Seed(tenant, kind, pid, seed...); err != nil {
		t.Fatal(err)
	}
	var groups []string
	var inherited []graph.Assignment
	for i := range 2 {
		groups = append(groups, guid(fmt.Sprintf("inherited/%s/%d", pid, i)))
		inherited = append(inherited, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: groups[i]}})
	}
	if err := b.sim.SeedInherited(tenant, kind, pid, guid("policyset/"+pid), inherited...); err != nil {
		t.Fatal(err)
	}
	return groups
}

// TestRemove: removals on a create kind (one DELETE), on a merge kind and
// on a merge kind with intents and settings (/assign of the set without
// the target, in beta), each policy also holding filtered and inherited
// assignments. Removed rows are gone; every other assignment is unchanged
// property for property and no inherited one is re-posted; a removal of
// an assignment that is not there is absent, of one held with another
// filter or intent or only through a policy set is conflict, and none of
// those writes anything. The same rows again remove nothing more.
func TestRemove(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	b := setup(t, opts{sim: fastSim(), transport: rec.wrap})
	m, reg := newMetrics(t)
	tenant := guid("tenant/remove")
	filter := guid("remove/filter")
	group := func(name string) string { return guid("remove/group/" + name) }
	conf := policyID(tenant, "deviceConfigurations", 0)
	comp := policyID(tenant, "deviceCompliancePolicies", 0)
	apps := policyID(tenant, "mobileApps", 0)

	confInherited := seedOthers(t, b, tenant, "deviceConfigurations", conf, 8)
	compInherited := seedOthers(t, b, tenant, "deviceCompliancePolicies", comp, 8)
	target := func(g, f, ft string) graph.Target {
		return graph.Target{Type: graph.TargetGroup, GroupID: g, FilterID: f, FilterType: ft}
	}
	seed := func(kind, policy string, as ...graph.Assignment) {
		t.Helper()
		if err := b.sim.Seed(tenant, kind, policy, as...); err != nil {
			t.Fatal(err)
		}
	}
	seed("deviceConfigurations", conf,
		graph.Assignment{Target: target(group("x"), filter, graph.FilterInclude)},
		graph.Assignment{Target: target(group("c"), filter, graph.FilterExclude)})
	seed("deviceCompliancePolicies", comp,
		graph.Assignment{Target: target(group("y1"), "", "")},
		graph.Assignment{Target: target(group("y2"), filter, graph.FilterExclude)})
	appItem := func(g, intent, settings string) graph.Assignment {
		raw := fmt.Sprintf(`{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":%q,%s"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":%q}}`, intent, settings, g)
		return graph.Assignment{Raw: json.RawMessage(raw)}
	}
	seed("mobileApps", apps,
		appItem(group("a1"), "required", ""),
		appItem(group("a2"), "available", `"settings":{"@odata.type":"#microsoft.graph.win32LobAppAssignmentSettings","notifications":"showReboot","deliveryOptimizationPriority":"foreground"},`),
		appItem(group("a3"), "uninstall", ""))

	row := func(n int, kind, policy, g string) jobs.Job {
		return asRemoval(newJob("rm1", n, tenant, kind, policy, g, graph.V1))
	}
	filtered := func(j jobs.Job, ft string) jobs.Job { return asRemoval(withFilter(j, filter, ft)) }
	intent := func(j jobs.Job, in string) jobs.Job { return asRemoval(withIntent(j, in)) }
	rows := []jobs.Job{
		filtered(row(2, "deviceConfigurations", conf, group("x")), graph.FilterInclude),
		row(3, "deviceConfigurations", conf, group("c")),
		row(4, "deviceConfigurations", conf, group("none")),
		row(5, "deviceConfigurations", conf, confInherited[0]),
		row(6, "deviceCompliancePolicies", comp, group("y1")),
		filtered(row(7, "deviceCompliancePolicies", comp, group("y2")), graph.FilterExclude),
		row(8, "deviceCompliancePolicies", comp, group("none")),
		row(9, "deviceCompliancePolicies", comp, compInherited[1]),
		intent(row(10, "mobileApps", apps, group("a1")), "required"),
		intent(row(11, "mobileApps", apps, group("a3")), "required"),
	}
	type want struct {
		status  jobs.Status
		message string
	}
	wants := map[int]want{
		2:  {jobs.StatusRemoved, ""},
		3:  {jobs.StatusConflict, "policy already assigns group " + group("c") + " with filter " + filter + " (exclude); row asks no filter"},
		4:  {jobs.StatusAbsent, ""},
		5:  {jobs.StatusConflict, "assignment " + conf + "_" + confInherited[0] + " is inherited from policy set " + guid("policyset/"+conf) + "; remove it from the policy set"},
		6:  {jobs.StatusRemoved, ""},
		7:  {jobs.StatusRemoved, ""},
		8:  {jobs.StatusAbsent, ""},
		9:  {jobs.StatusConflict, "assignment " + comp + "_" + compInherited[1] + " is inherited from policy set " + guid("policyset/"+comp) + "; remove it from the policy set"},
		10: {jobs.StatusRemoved, ""},
		11: {jobs.StatusConflict, "policy already assigns group " + group("a3") + " with no filter and intent uninstall; row asks no filter and intent required"},
	}
	before := map[string][]json.RawMessage{}
	for _, p := range []struct{ kind, pid string }{{"deviceConfigurations", conf}, {"deviceCompliancePolicies", comp}, {"mobileApps", apps}} {
		before[p.kind] = b.sim.RawAssignments(tenant, p.kind, p.pid)
	}
	writes := b.sim.Stats().Writes

	b.publish(rows)
	cfg := fastWorker()
	cfg.TenantConcurrency, cfg.MergeWindow, cfg.Metrics = 8, 300*time.Millisecond, m
	b.run(b.newWorker(cfg, nil))
	rs := resultsByRow(b.waitResults("rm1", len(rows), 60*time.Second))
	for _, j := range rows {
		r, w := rs[j.Row], wants[j.Row]
		if r.Status != w.status || r.ErrorMessage != w.message {
			t.Errorf("row %d: %s %q\nwant %s %q", j.Row, r.Status, r.ErrorMessage, w.status, w.message)
		}
		if (r.Status == jobs.StatusRemoved || r.Status == jobs.StatusConflict) && r.AssignmentID != j.PolicyID+"_"+j.GroupID {
			t.Errorf("row %d: assignment id %q", j.Row, r.AssignmentID)
		}
		if r.Status.OK() != (w.status != jobs.StatusConflict) {
			t.Errorf("row %d: status %s counts as success: %v", j.Row, r.Status, r.Status.OK())
		}
	}

	// Graph afterwards: only the removed targets are gone.
	assertKept(t, "configuration", before["deviceConfigurations"], b.sim.RawAssignments(tenant, "deviceConfigurations", conf),
		map[string]bool{conf + "_" + group("x"): true})
	assertKept(t, "compliance", before["deviceCompliancePolicies"], b.sim.RawAssignments(tenant, "deviceCompliancePolicies", comp),
		map[string]bool{comp + "_" + group("y1"): true, comp + "_" + group("y2"): true})
	assertKept(t, "app", before["mobileApps"], b.sim.RawAssignments(tenant, "mobileApps", apps),
		map[string]bool{apps + "_" + group("a1"): true})
	st := b.sim.Stats()
	if st.InheritedReposted != 0 {
		t.Errorf("%d inherited entries re-posted", st.InheritedReposted)
	}

	// What bulkassign sent: one DELETE, for the create kind; /assign in
	// beta for the merge kinds, each entry as listed, never an inherited
	// or new one.
	deletes := rec.requests(http.MethodDelete, "")
	if len(deletes) != 1 || !strings.HasSuffix(deletes[0].path, "/deviceConfigurations/"+conf+"/assignments/"+conf+"_"+group("x")) {
		t.Errorf("DELETE requests %+v, want one, of row 2's assignment", deletes)
	}
	if st.DeletesApplied != 1 {
		t.Errorf("%d deletes applied, want 1", st.DeletesApplied)
	}
	posts := rec.requests(http.MethodPost, "/assign")
	if len(posts) < 2 {
		t.Fatalf("%d /assign requests, want one per merge policy at least", len(posts))
	}
	listed := map[string]json.RawMessage{}
	for _, raws := range before {
		for _, raw := range raws {
			listed[assignmentOf(t, raw).ID] = raw
		}
	}
	for n, p := range posts {
		if !strings.HasPrefix(p.path, "/beta/") {
			t.Errorf("/assign %d went to %s, not beta", n, p.path)
		}
		var body map[string][]json.RawMessage
		if err := json.Unmarshal(p.body, &body); err != nil {
			t.Fatalf("/assign %d body: %v", n, err)
		}
		for _, items := range body {
			for _, item := range items {
				a := assignmentOf(t, item)
				switch raw, ok := listed[a.ID]; {
				case isPolicySet(a) || a.ID == "" || !ok:
					t.Errorf("/assign %d sent %s: not a direct assignment Graph listed", n, item)
				case !jsonEqual(t, item, raw):
					t.Errorf("/assign %d re-sent %s rebuilt:\n listed %s\n   sent %s", n, a.ID, raw, item)
				}
			}
		}
	}
	if got := st.Writes - writes; got != len(deletes)+len(posts) {
		t.Errorf("%d writes, want the %d DELETE and /assign requests", got, len(deletes)+len(posts))
	}
	if n := metricSumWhere(t, reg, "bulkassign_rows_total", "status", "removed"); n != 4 {
		t.Errorf("rows_total{status=removed} = %v, want 4", n)
	}
	if n := metricSumWhere(t, reg, "bulkassign_rows_total", "status", "absent"); n != 2 {
		t.Errorf("rows_total{status=absent} = %v, want 2", n)
	}

	// The same removals again: nothing more is removed, nothing written.
	writes = b.sim.Stats().Writes
	b.publish(reimport(rows, "rm2"))
	again := resultsByRow(b.waitResults("rm2", len(rows), 60*time.Second))
	for _, j := range rows {
		w := wants[j.Row].status
		if w == jobs.StatusRemoved {
			w = jobs.StatusAbsent
		}
		if again[j.Row].Status != w {
			t.Errorf("again, row %d: %s, want %s", j.Row, again[j.Row].Status, w)
		}
	}
	if got := b.sim.Stats().Writes - writes; got != 0 {
		t.Errorf("removing again made %d writes, want 0", got)
	}
}

// TestRemoveRouteFallback: where Graph does not route DELETE for a create
// kind, the first removal's 400 switches the kind's removals to /assign
// (the set without the target, in beta), which keeps every other
// assignment as it was.
func TestRemoveRouteFallback(t *testing.T) {
	t.Parallel()
	sim := fastSim()
	sim.DeleteNotRouted = []string{"deviceConfigurations", "deviceCompliancePolicies", "deviceEnrollmentConfigurations"}
	rec := &recorder{}
	b := setup(t, opts{sim: sim, transport: rec.wrap})
	tenant := guid("tenant/rmroute")
	pid := policyID(tenant, "deviceConfigurations", 0)
	seedOthers(t, b, tenant, "deviceConfigurations", pid, 6)
	var rows []jobs.Job
	gone := map[string]bool{}
	for i := range 3 {
		j := newJob("rmroute", 2+i, tenant, "deviceConfigurations", pid, guid(fmt.Sprintf("rmroute/%d", i)), graph.V1)
		if err := b.sim.Seed(tenant, j.Kind, pid, j.Assignment()); err != nil {
			t.Fatal(err)
		}
		gone[pid+"_"+j.GroupID] = true
		rows = append(rows, asRemoval(j))
	}
	before := b.sim.RawAssignments(tenant, "deviceConfigurations", pid)
	b.publish(rows)
	cfg := fastWorker()
	cfg.TenantConcurrency = 1 // one row at a time: only the first tries DELETE
	b.run(b.newWorker(cfg, nil))
	if got := statuses(b.waitResults("rmroute", len(rows), 60*time.Second)); got[jobs.StatusRemoved] != len(rows) {
		t.Fatalf("statuses %v, want all %d removed", got, len(rows))
	}
	assertKept(t, "configuration", before, b.sim.RawAssignments(tenant, "deviceConfigurations", pid), gone)
	if n := len(rec.requests(http.MethodDelete, "")); n != 1 {
		t.Errorf("%d DELETE requests, want 1 (then /assign)", n)
	}
	if n := b.sim.StatusCounts()[http.StatusBadRequest]; n != 1 {
		t.Errorf("%d answers 400, want the one route error", n)
	}
	st := b.sim.Stats()
	if st.InheritedReposted != 0 || st.DeletesApplied != 0 {
		t.Errorf("simulator: %+v", st)
	}
	for n, p := range rec.requests(http.MethodPost, "/assign") {
		if !strings.HasPrefix(p.path, "/beta/") {
			t.Errorf("/assign %d went to %s, not beta", n, p.path)
		}
	}
}

// lossyGraph loses the answer of the first removal write (a DELETE or an
// /assign): the simulator applies it, then resets the connection. The
// list that reconciles it at once fails with a 503, so the row is retried
// and its next delivery must find its own removal through its intent.
type lossyGraph struct {
	Graph          // the bundle's client
	t              *testing.T
	sim            *graphtest.Server
	lost, failList atomic.Bool
}

// write runs the removal write fn, losing its answer the first time.
func (g *lossyGraph) write(fn func() error) error {
	first := g.lost.CompareAndSwap(false, true)
	if first {
		if err := g.sim.SetFaults(graphtest.Faults{ResetAfterRate: 1}); err != nil {
			g.t.Error(err)
		}
	}
	err := fn()
	if first {
		if err := g.sim.SetFaults(graphtest.Faults{}); err != nil {
			g.t.Error(err)
		}
		g.failList.Store(true)
	}
	return err
}

func (g *lossyGraph) List(ctx context.Context, tenant, version string, k *graph.Kind, policyID string) ([]graph.Assignment, error) {
	if g.failList.CompareAndSwap(true, false) {
		return nil, &graph.Error{Op: graph.OpList, Class: graph.ClassTransient, StatusCode: http.StatusServiceUnavailable,
			Code: "ServiceUnavailable", Message: "injected 503"}
	}
	return g.Graph.List(ctx, tenant, version, k, policyID)
}

func (g *lossyGraph) Assign(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, set []graph.Assignment) ([]graph.Assignment, error) {
	var out []graph.Assignment
	err := g.write(func() error {
		var err error
		out, err = g.Graph.Assign(ctx, tenant, version, k, policyID, set)
		return err
	})
	return out, err
}

func (g *lossyGraph) Delete(ctx context.Context, tenant, version string, k *graph.Kind, policyID, assignmentID string) error {
	return g.write(func() error { return g.Graph.Delete(ctx, tenant, version, k, policyID, assignmentID) })
}

// TestRemoveLostAnswer: a removal whose answer is lost (applied, then the
// connection reset) and whose reconciling list fails is removed exactly
// once, reported removed (not absent) after 2 attempts with the id of the
// assignment it removed, for a DELETE and for an /assign.
func TestRemoveLostAnswer(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"deviceConfigurations", "deviceCompliancePolicies"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			b := setup(t, opts{sim: fastSim(), transport: rec.wrap})
			tenant := guid("tenant/rmlost/" + kind)
			pid := policyID(tenant, kind, 0)
			seedOthers(t, b, tenant, kind, pid, 4)
			j := withFilter(newJob("rmlost", 2, tenant, kind, pid, guid("rmlost/group"), graph.V1), guid("rmlost/filter"), graph.FilterInclude)
			if err := b.sim.Seed(tenant, kind, pid, j.Assignment()); err != nil {
				t.Fatal(err)
			}
			before := b.sim.RawAssignments(tenant, kind, pid)
			var wantID string
			for _, a := range b.sim.Assignments(tenant, kind, pid) {
				if a.SameTarget(j.Assignment()) {
					wantID = a.ID
				}
			}
			if wantID == "" {
				t.Fatal("the seeded assignment has no id")
			}
			g := &lossyGraph{Graph: b.graph, t: t, sim: b.sim}
			b.publish([]jobs.Job{asRemoval(j)})
			b.run(b.newWorker(fastWorker(), g))
			r := b.waitResults("rmlost", 1, 60*time.Second)[0]
			if r.Status != jobs.StatusRemoved || r.Attempts != 2 || r.AssignmentID != wantID {
				t.Errorf("%s %q after %d attempts (%s %q), want removed %q after 2", r.Status, r.AssignmentID, r.Attempts, r.ErrorCode, r.ErrorMessage, wantID)
			}
			st := b.sim.Stats()
			if st.ResetsAfter != 1 {
				t.Fatalf("%d answers lost, want 1: the test proves nothing", st.ResetsAfter)
			}
			writes := len(rec.requests(http.MethodDelete, "")) + len(rec.requests(http.MethodPost, "/assign"))
			if writes != 1 || st.Writes != 1 {
				t.Errorf("%d removal writes sent, %d seen by Graph: want exactly 1", writes, st.Writes)
			}
			assertKept(t, kind, before, b.sim.RawAssignments(tenant, kind, pid), map[string]bool{pid + "_" + j.GroupID: true})
			if st.InheritedReposted != 0 {
				t.Errorf("%d inherited entries re-posted", st.InheritedReposted)
			}
		})
	}
}

// TestRemoveCrashStates starts a worker on the states a crash leaves
// behind for removals, for a DELETE kind and an /assign kind: removed when
// this row's write landed, absent when another's did, a write only when
// the assignment is still there, a recorded outcome of this import
// re-emitted, and another import's outcome checked against Graph.
func TestRemoveCrashStates(t *testing.T) {
	t.Parallel()
	type state struct {
		name       string
		intent     *jobs.Intent
		outcome    *jobs.Outcome
		inGraph    bool
		wantStatus jobs.Status
		wantID     string
		wantWrite  bool
	}
	mine := func(settled bool) *jobs.Intent {
		return &jobs.Intent{Owner: "crashed", Attempt: 1, At: time.Now(), ImportID: "rmcrash", Settled: settled}
	}
	cases := []state{
		{name: "own removal landed before the crash", intent: mine(false), wantStatus: jobs.StatusRemoved},
		{name: "another import's removal landed", intent: &jobs.Intent{Owner: "x", Attempt: 1, ImportID: "other", Row: 9}, wantStatus: jobs.StatusAbsent},
		{name: "own removal did not land", intent: mine(false), inGraph: true, wantStatus: jobs.StatusRemoved, wantID: "graph", wantWrite: true},
		{name: "settled intent: throttled before", intent: &jobs.Intent{Owner: "x", Attempt: 1, ImportID: "rmcrash", Settled: true, LastHTTPStatus: 429},
			inGraph: true, wantStatus: jobs.StatusRemoved, wantID: "graph", wantWrite: true},
		{name: "outcome recorded, result lost", outcome: &jobs.Outcome{Status: jobs.StatusRemoved, AssignmentID: "id-from-outcome", ImportID: "rmcrash"},
			wantStatus: jobs.StatusRemoved, wantID: "id-from-outcome"},
		{name: "outcome of another row of this import", outcome: &jobs.Outcome{Status: jobs.StatusRemoved, AssignmentID: "id-other-row", ImportID: "rmcrash", Row: 99},
			wantStatus: jobs.StatusAbsent, wantID: "id-other-row"},
		{name: "outcome of another import, assigned again since", outcome: &jobs.Outcome{Status: jobs.StatusRemoved, ImportID: "other", Row: 5},
			inGraph: true, wantStatus: jobs.StatusRemoved, wantID: "graph", wantWrite: true},
		{name: "nothing recorded, not in Graph", wantStatus: jobs.StatusAbsent},
	}
	for _, kind := range []string{"deviceConfigurations", "deviceCompliancePolicies"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			b := setup(t, opts{sim: fastSim()})
			ctx := testCtx(t)
			tenant := guid("tenant/rmcrash/" + kind)
			adds := makeJobs(spec{importID: "rmcrash", tenant: tenant, kind: kind, rows: len(cases)})
			seedOthers(t, b, tenant, kind, adds[0].PolicyID, 4)
			var js []jobs.Job
			gone := map[string]bool{}
			for i, c := range cases {
				j := asRemoval(adds[i])
				js = append(js, j)
				if c.intent != nil {
					in := *c.intent
					if in.ImportID == "rmcrash" {
						in.Row = j.Row
					}
					if err := b.store.PutIntent(ctx, j.Key, in); err != nil {
						t.Fatal(err)
					}
				}
				if c.outcome != nil {
					o := *c.outcome
					if o.ImportID == "rmcrash" && o.Row == 0 {
						o.Row = j.Row
					}
					if err := b.store.PutOutcome(ctx, j.Key, o); err != nil {
						t.Fatal(err)
					}
				}
				if c.inGraph {
					if err := b.sim.Seed(tenant, kind, j.PolicyID, j.Assignment()); err != nil {
						t.Fatal(err)
					}
					gone[j.PolicyID+"_"+j.GroupID] = true
				}
			}
			before := b.sim.RawAssignments(tenant, kind, adds[0].PolicyID)
			b.publish(js)
			b.run(b.newWorker(fastWorker(), nil))
			rs := resultsByRow(b.waitResults("rmcrash", len(js), 30*time.Second))
			wantWrites := 0
			for i, c := range cases {
				r := rs[js[i].Row]
				if c.wantID == "graph" {
					c.wantID = js[i].PolicyID + "_" + js[i].GroupID
				}
				if r.Status != c.wantStatus || r.AssignmentID != c.wantID {
					t.Errorf("%s: %s %q, want %s %q", c.name, r.Status, r.AssignmentID, c.wantStatus, c.wantID)
				}
				if c.wantWrite {
					wantWrites++
				}
			}
			assertKept(t, kind, before, b.sim.RawAssignments(tenant, kind, adds[0].PolicyID), gone)
			st := b.sim.Stats()
			if kind == "deviceConfigurations" && (st.Writes != wantWrites || st.DeletesApplied != wantWrites) {
				t.Errorf("%d writes, %d deletes applied, want %d", st.Writes, st.DeletesApplied, wantWrites)
			}
			if st.Writes == 0 || st.Writes > wantWrites || st.InheritedReposted != 0 {
				t.Errorf("simulator: %+v, want 1 to %d writes", st, wantWrites)
			}
			for _, j := range js {
				if _, ok, err := b.store.Outcome(ctx, j.Key); err != nil || !ok {
					t.Errorf("row %d: no outcome (%v)", j.Row, err)
				}
			}
		})
	}
}
