package worker

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
)

// fastSim is a simulator with a 1 s window: 20 writes per second per
// tenant, so tests take seconds, not minutes.
func fastSim() graphtest.Config {
	return graphtest.Config{Window: time.Second, AppWriteLimit: 20, TenantWriteLimit: 40, EarlyGrace: 200 * time.Millisecond}
}

// fastWorker matches fastSim's limit.
func fastWorker() Config {
	return Config{WriteLimit: 20, WriteWindow: time.Second}
}

// assertAllAssigned checks that every job's target is a direct assignment
// of its policy in the simulator.
func assertAllAssigned(t *testing.T, sim *graphtest.Server, js []jobs.Job) {
	t.Helper()
	missing := 0
	for _, j := range js {
		set := sim.Assignments(j.Tenant, j.Kind, j.PolicyID)
		if _, ok := findDirect(set, j.Assignment()); !ok {
			missing++
			if missing < 5 {
				t.Errorf("row %d (%s %s): target %s not assigned", j.Row, j.Kind, j.PolicyID, j.GroupID)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d targets missing", missing, len(js))
	}
}

func TestCreateAndMergeExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	var all []jobs.Job
	for n := range 3 {
		tenant := guid(fmt.Sprintf("tenant/cm/%d", n))
		all = append(all, makeJobs(spec{importID: "imp1", tenant: tenant, kind: "deviceConfigurations", policies: 3, rows: 30, firstRow: 2 + n*100})...)
		all = append(all, makeJobs(spec{importID: "imp1", tenant: tenant, kind: "deviceCompliancePolicies", policies: 2, rows: 20, firstRow: 50 + n*100})...)
	}
	// Seed: one row's target already assigned (existing), and an inherited
	// policy-set entry on a merge policy that the merge must drop.
	pre := all[0]
	if err := b.sim.Seed(pre.Tenant, pre.Kind, pre.PolicyID, pre.Assignment()); err != nil {
		t.Fatal(err)
	}
	merged := all[30]
	inherited := fmt.Sprintf(`{"id":"%s_inherited","source":"policySets","sourceId":"ps1","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"%s"}}`,
		merged.PolicyID, guid("inherited-group"))
	if err := b.sim.Seed(merged.Tenant, merged.Kind, merged.PolicyID, graph.Assignment{Raw: json.RawMessage(inherited)}); err != nil {
		t.Fatal(err)
	}

	b.publish(all)
	start := time.Now()
	stop := b.run(b.newWorker(fastWorker(), nil))
	rs := b.waitResults("imp1", len(all), 60*time.Second)
	t.Logf("first import: %d rows in %s", len(rs), time.Since(start).Round(time.Millisecond))

	if got := statuses(rs); got[jobs.StatusCreated] != len(all)-1 || got[jobs.StatusExisting] != 1 {
		t.Fatalf("statuses = %v, want %d created and 1 existing", got, len(all)-1)
	}
	for _, r := range rs {
		if r.Row == pre.Row && r.Status != jobs.StatusExisting {
			t.Errorf("pre-assigned row %d: %s, want existing", r.Row, r.Status)
		}
		if r.Status == jobs.StatusCreated && r.AssignmentID == "" {
			t.Errorf("row %d created without an assignment id", r.Row)
		}
		if r.Attempts < 1 {
			t.Errorf("row %d: attempts %d", r.Row, r.Attempts)
		}
	}
	st := b.sim.Stats()
	if st.CreatesApplied != len(all)-1 || st.DuplicateCreates != 0 {
		t.Fatalf("simulator: %d creates applied (want %d), %d duplicates", st.CreatesApplied, len(all)-1, st.DuplicateCreates)
	}
	assertAllAssigned(t, b.sim, all)
	if st.InheritedReposted != 0 {
		t.Errorf("the merge re-posted %d inherited policySets entries", st.InheritedReposted)
	}
	stillInherited := false
	for _, a := range b.sim.Assignments(merged.Tenant, merged.Kind, merged.PolicyID) {
		stillInherited = stillInherited || (a.ID == merged.PolicyID+"_inherited" && isPolicySet(a))
	}
	if !stillInherited {
		t.Error("the inherited policySets entry is gone or no longer inherited after the merge")
	}
	// How well merges batched depends on which jobs a runner held at once
	// (TestMergeRace asserts batching); log it.
	t.Logf("60 merge rows in %d /assign writes", st.Writes-(90-1))

	// The same rows in a new import: all existing, no write at all.
	writes := st.Writes
	b.publish(reimport(all, "imp2"))
	rs2 := b.waitResults("imp2", len(all), 60*time.Second)
	if got := statuses(rs2); got[jobs.StatusExisting] != len(all) {
		t.Fatalf("rerun statuses = %v, want all %d existing", got, len(all))
	}
	for _, r := range rs2 {
		if r.AssignmentID == "" {
			t.Errorf("rerun row %d: existing without assignment id", r.Row)
			break
		}
	}
	if got := b.sim.Stats().Writes; got != writes {
		t.Fatalf("rerun made %d writes, want 0", got-writes)
	}
	stop()
}

// resultsByRow indexes results.
func resultsByRow(rs []jobs.Result) map[int]jobs.Result {
	m := make(map[int]jobs.Result, len(rs))
	for _, r := range rs {
		m[r.Row] = r
	}
	return m
}
