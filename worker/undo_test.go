package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/undo"
)

// TestUndo: an import of 200 rows over 3 tenants and both strategies
// (configurations by create, compliance policies and apps by merge), onto
// policies that already hold filtered, inherited and app assignments with
// settings, some rows already there (existing) and one per tenant in
// conflict, is undone from its results: with 5% of the removals' answers
// lost and the worker aborted a third of the way through, every created
// row is removed exactly once (no DELETE ever finds its assignment gone)
// and Graph is exactly as before the import. A second undo removes
// nothing: every row absent, no write.
func TestUndo(t *testing.T) {
	t.Parallel()
	const seed = 5
	t.Logf("simulator seed %d", seed)
	sim := fastSim()
	sim.Seed = seed
	b := setup(t, opts{sim: sim})

	var rows []jobs.Job
	next := 2
	add := func(js []jobs.Job) {
		for _, j := range js {
			j.Row = next
			next++
			rows = append(rows, j)
		}
	}
	type policy struct{ tenant, kind, pid string }
	policies := map[policy]bool{}
	var existing, conflicts int
	for n := range 3 {
		tenant := guid(fmt.Sprintf("tenant/undo/%d", n))
		conf := makeJobs(spec{importID: "src", tenant: tenant, kind: "deviceConfigurations", policies: 2, rows: 34, group: "conf"})
		comp := makeJobs(spec{importID: "src", tenant: tenant, kind: "deviceCompliancePolicies", rows: 22, group: "comp"})
		apps := makeJobs(spec{importID: "src", tenant: tenant, kind: "mobileApps", rows: 11 - n/2, group: "apps"})
		for i := range conf {
			if i%5 == 1 {
				conf[i] = withFilter(conf[i], guid("undo/filter"), graph.FilterInclude)
			}
		}
		for i := range comp {
			if i%4 == 1 {
				comp[i] = withFilter(comp[i], guid("undo/filter"), graph.FilterExclude)
			}
		}
		for _, js := range [][]jobs.Job{conf, comp, apps} {
			for _, j := range js {
				policies[policy{j.Tenant, j.Kind, j.PolicyID}] = true
			}
			add(js)
		}
		// Already there: the first configuration and compliance rows.
		// In conflict: the third compliance row's group, with a filter.
		for _, j := range []jobs.Job{conf[0], comp[0]} {
			if err := b.sim.Seed(tenant, j.Kind, j.PolicyID, j.Assignment()); err != nil {
				t.Fatal(err)
			}
			existing++
		}
		other := withFilter(comp[2], guid("undo/other-filter"), graph.FilterInclude)
		if err := b.sim.Seed(tenant, other.Kind, other.PolicyID, other.Assignment()); err != nil {
			t.Fatal(err)
		}
		conflicts++
	}
	if len(rows) != 200 {
		t.Fatalf("%d rows, want 200", len(rows))
	}
	for p := range policies {
		if p.kind == "mobileApps" {
			settings := fmt.Sprintf(`{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"available","settings":{"@odata.type":"#microsoft.graph.win32LobAppAssignmentSettings","notifications":"showReboot"},"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":%q}}`,
				guid("undo/app-settings/"+p.pid))
			if err := b.sim.Seed(p.tenant, p.kind, p.pid, graph.Assignment{Raw: json.RawMessage(settings)}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		seedOthers(t, b, p.tenant, p.kind, p.pid, 6)
	}
	before := map[policy][]json.RawMessage{}
	for p := range policies {
		before[p] = b.sim.RawAssignments(p.tenant, p.kind, p.pid)
	}
	assertAsBefore := func(when string) {
		t.Helper()
		for p, raws := range before {
			assertKept(t, when+": "+p.kind+" "+p.pid, raws, b.sim.RawAssignments(p.tenant, p.kind, p.pid), nil)
		}
		if n := len(b.sim.AllAssignments()); n != len(before) {
			t.Errorf("%s: %d policies hold assignments, want %d", when, n, len(before))
		}
	}

	// The import.
	b.publish(rows)
	stop := b.run(b.newWorker(fastWorker(), nil))
	results := b.waitResults("src", len(rows), 90*time.Second)
	stop()
	got := statuses(results)
	created := len(rows) - existing - conflicts
	if got[jobs.StatusCreated] != created || got[jobs.StatusExisting] != existing || got[jobs.StatusConflict] != conflicts {
		t.Fatalf("import: %v, want %d created, %d existing, %d conflict", got, created, existing, conflicts)
	}

	// The undo, with lost answers and a worker aborted on its way.
	js, err := undo.Jobs(results, "undo-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != created {
		t.Fatalf("undo has %d jobs, want the %d created rows", len(js), created)
	}
	if err := b.sim.SetFaults(graphtest.Faults{ResetAfterRate: 0.05}); err != nil {
		t.Fatal(err)
	}
	b.publish(js)
	w := b.newWorker(fastWorker(), nil)
	stop = b.run(w)
	waitFor(t, 60*time.Second, "a third of the undo", func() bool {
		n, err := b.store.ResultCount(context.Background(), "undo-1")
		return err == nil && n >= uint64(created/3)
	})
	w.Abort()
	stop()
	b.run(b.newWorker(fastWorker(), nil))
	undone := b.waitResults("undo-1", len(js), 90*time.Second)
	if got := statuses(undone); got[jobs.StatusRemoved] != created {
		for _, r := range undone {
			if r.Status != jobs.StatusRemoved {
				t.Logf("row %d: %s %s %q", r.Row, r.Status, r.ErrorCode, r.ErrorMessage)
			}
		}
		t.Fatalf("undo: %v, want all %d removed", got, created)
	}
	st := b.sim.Stats()
	t.Logf("simulator: %+v", st)
	if st.ResetsAfter == 0 {
		t.Error("no removal's answer was lost: the test proves less than it says")
	}
	if n := b.sim.StatusCounts()[404]; n != 0 {
		t.Errorf("%d answers 404: a removal was sent twice", n)
	}
	if st.InheritedReposted != 0 {
		t.Errorf("%d inherited entries re-posted", st.InheritedReposted)
	}
	assertAsBefore("after undo")

	// Again: nothing more to remove.
	if err := b.sim.SetFaults(graphtest.Faults{}); err != nil {
		t.Fatal(err)
	}
	writes := b.sim.Stats().Writes
	js, err = undo.Jobs(results, "undo-2")
	if err != nil {
		t.Fatal(err)
	}
	b.publish(js)
	if got := statuses(b.waitResults("undo-2", len(js), 90*time.Second)); got[jobs.StatusAbsent] != created {
		t.Fatalf("second undo: %v, want all %d absent", got, created)
	}
	if n := b.sim.Stats().Writes - writes; n != 0 {
		t.Errorf("second undo made %d writes, want 0", n)
	}
	assertAsBefore("after the second undo")
}
