package worker

import (
	"context"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// TestCrashStates starts a worker on the states a crash leaves behind in
// the outcome and intent buckets and in Graph, and checks the decision for
// each: created when this row's write landed, existing when another's did,
// a write only when nothing landed, a recorded outcome of this import
// re-emitted, and another import's outcome checked against Graph.
func TestCrashStates(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	ctx := testCtx(t)
	js := makeJobs(spec{importID: "crash", tenant: guid("tenant/crash"), kind: "deviceConfigurations", rows: 8})
	type state struct {
		name       string
		intent     *jobs.Intent
		outcome    *jobs.Outcome
		inGraph    bool
		wantStatus jobs.Status
		wantID     string // "graph": the simulator's id for the target
		wantWrite  bool
	}
	mine := func(settled bool) *jobs.Intent {
		return &jobs.Intent{Owner: "crashed", Attempt: 1, At: time.Now(), ImportID: "crash", Row: 0, Settled: settled}
	}
	cases := []state{
		{name: "own write landed before the crash", intent: mine(false), inGraph: true, wantStatus: jobs.StatusCreated},
		{name: "another import's write landed", intent: &jobs.Intent{Owner: "x", Attempt: 1, ImportID: "other", Row: 9}, inGraph: true, wantStatus: jobs.StatusExisting},
		{name: "own write did not land", intent: mine(false), wantStatus: jobs.StatusCreated, wantWrite: true},
		{name: "settled intent: throttled before", intent: &jobs.Intent{Owner: "x", Attempt: 1, ImportID: "crash", Settled: true, LastHTTPStatus: 429}, wantStatus: jobs.StatusCreated, wantWrite: true},
		{name: "outcome recorded, result lost", outcome: &jobs.Outcome{Status: jobs.StatusCreated, AssignmentID: "id-from-outcome", ImportID: "crash"}, inGraph: true, wantStatus: jobs.StatusCreated, wantID: "id-from-outcome"},
		{name: "outcome of another import", outcome: &jobs.Outcome{Status: jobs.StatusCreated, AssignmentID: "id-other", ImportID: "other", Row: 5}, inGraph: true, wantStatus: jobs.StatusExisting, wantID: "graph"},
		{name: "outcome of another import, deleted from Graph since", outcome: &jobs.Outcome{Status: jobs.StatusCreated, AssignmentID: "id-gone", ImportID: "other", Row: 6}, wantStatus: jobs.StatusCreated, wantWrite: true},
		{name: "nothing recorded, already in Graph", inGraph: true, wantStatus: jobs.StatusExisting},
	}
	wantWrites := 0
	for i, c := range cases {
		j := js[i]
		if c.intent != nil {
			in := *c.intent
			if in.ImportID == "crash" {
				in.Row = j.Row
			}
			if err := b.store.PutIntent(ctx, j.Key, in); err != nil {
				t.Fatal(err)
			}
		}
		if c.outcome != nil {
			o := *c.outcome
			if o.ImportID == "crash" {
				o.Row = j.Row
			}
			if err := b.store.PutOutcome(ctx, j.Key, o); err != nil {
				t.Fatal(err)
			}
		}
		if c.inGraph {
			if err := b.sim.Seed(j.Tenant, j.Kind, j.PolicyID, j.Assignment()); err != nil {
				t.Fatal(err)
			}
		}
		if c.wantWrite {
			wantWrites++
		}
	}
	b.publish(js)
	b.run(b.newWorker(fastWorker(), nil))
	rs := resultsByRow(b.waitResults("crash", len(js), 30*time.Second))
	for i, c := range cases {
		r := rs[js[i].Row]
		if c.wantID == "graph" {
			c.wantID = js[i].PolicyID + "_" + js[i].GroupID
		}
		if r.Status != c.wantStatus || (c.wantID != "" && r.AssignmentID != c.wantID) || r.AssignmentID == "" {
			t.Errorf("%s: %s %q, want %s %q", c.name, r.Status, r.AssignmentID, c.wantStatus, c.wantID)
		}
	}
	if st := b.sim.Stats(); st.Writes != wantWrites || st.DuplicateCreates != 0 {
		t.Errorf("%d writes (%d duplicates), want %d", st.Writes, st.DuplicateCreates, wantWrites)
	}
	// Every key now has an outcome.
	for _, j := range js {
		if _, ok, err := b.store.Outcome(context.Background(), j.Key); err != nil || !ok {
			t.Errorf("row %d: no outcome (%v)", j.Row, err)
		}
	}
}
