package undo_test

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/undo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	tenant  = "contoso.onmicrosoft.com"
	policy  = "22222222-2222-2222-2222-222222222222"
	groupA  = "33333333-3333-3333-3333-333333333333"
	groupB  = "55555555-5555-5555-5555-555555555555"
	filterA = "44444444-4444-4444-4444-444444444444"
)

// result is the result of row with status s for job j of import "orig".
func result(row int, s jobs.Status, j jobs.Job) jobs.Result {
	j.ImportID, j.Row = "orig", row
	j.Key = j.ComputeKey()
	r := jobs.ResultFor(j, s)
	r.AssignmentID = policy + "_" + j.GroupID
	return r
}

// TestJobs: exactly the created rows become removals, with their rows,
// targets, filters, intents and versions as created (names are not looked
// up again: the ids they resolved to are kept), and removal keys.
func TestJobs(t *testing.T) {
	t.Parallel()
	conf := jobs.Job{Tenant: tenant, Kind: "deviceConfigurations", PolicyID: policy, Target: graph.TargetGroup, GroupID: groupA, APIVersion: graph.V1}
	filtered := conf
	filtered.GroupID, filtered.FilterID, filtered.FilterType, filtered.APIVersion = groupB, filterA, graph.FilterExclude, graph.Beta
	app := jobs.Job{Tenant: tenant, Kind: "mobileApps", PolicyID: policy, Target: graph.TargetGroup, GroupID: groupA,
		GroupName: "Pilot", Intent: "required", APIVersion: graph.V1}
	coll := jobs.Job{Tenant: tenant, Kind: "deviceConfigurations", PolicyID: policy, Target: graph.TargetConfigMgrCollection,
		CollectionID: "SMS00001", APIVersion: graph.Beta}
	results := []jobs.Result{
		result(2, jobs.StatusCreated, conf),
		result(3, jobs.StatusExisting, conf),
		result(4, jobs.StatusCreated, filtered),
		result(5, jobs.StatusConflict, filtered),
		result(6, jobs.StatusFailed, app),
		result(7, jobs.StatusDuplicate, conf),
		result(8, jobs.StatusCreated, app),
		result(9, jobs.StatusCreated, coll),
		{ImportID: "orig", Row: 10, Status: jobs.StatusInvalid},
	}
	js, err := undo.Jobs(results, "undo-1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]jobs.Job{2: conf, 4: filtered, 8: app, 9: coll}
	if len(js) != len(want) {
		t.Fatalf("%d jobs, want %d: %+v", len(js), len(want), js)
	}
	for i, j := range js {
		w, ok := want[j.Row]
		if !ok || (i > 0 && js[i-1].Row >= j.Row) {
			t.Fatalf("job %d is row %d: want rows 2, 4, 8, 9 in order", i, j.Row)
		}
		w.ImportID, w.Row, w.Action = "undo-1", j.Row, jobs.ActionRemove
		w.Key = w.ComputeKey()
		if j != w {
			t.Errorf("row %d: %+v\nwant %+v", j.Row, j, w)
		}
		if j.Key == results[0].Key {
			t.Errorf("row %d: the removal has the addition's key", j.Row)
		}
		if err := j.Validate(); err != nil {
			t.Errorf("row %d: %v", j.Row, err)
		}
	}

	// Nothing created: nothing to do. A created row without its job: no
	// undo at all.
	if js, err := undo.Jobs(results[1:2], "undo-2"); err != nil || len(js) != 0 {
		t.Errorf("undo of existing rows: %d jobs, %v", len(js), err)
	}
	lost := result(11, jobs.StatusCreated, conf)
	lost.Job = nil
	if js, err := undo.Jobs(append(results, lost), "undo-3"); !errors.Is(err, undo.ErrNotUndoable) || !strings.Contains(err.Error(), "row 11") || js != nil {
		t.Errorf("created row without its job: %d jobs, %v", len(js), err)
	}
	broken := result(12, jobs.StatusCreated, conf)
	broken.Job.GroupID = "not-a-guid"
	if _, err := undo.Jobs([]jobs.Result{broken}, "undo-4"); !errors.Is(err, undo.ErrNotUndoable) || !strings.Contains(err.Error(), "row 12") {
		t.Errorf("created row with an invalid job: %v", err)
	}
	if _, err := undo.Jobs(results, "not an id"); err == nil {
		t.Error("invalid import id accepted")
	}
}

// TestReady: an import is undone only once every row has its result; then
// jobs queued for its tenants (an interrupted undo of it) do not matter.
func TestReady(t *testing.T) {
	t.Parallel()
	var missing jobs.RowSet
	missing.Add(7)
	missing.Add(8)
	done := jobs.Import{Enqueued: true, Rows: 2}
	two := []jobs.Result{{Row: 2}, {Row: 3}}
	for _, tc := range []struct {
		name string
		imp  jobs.Import
		p    jobs.ImportProgress
		want string // "" for ready
	}{
		{"complete", done, jobs.ImportProgress{Results: two}, ""},
		{"complete, other jobs queued for its tenants", done, jobs.ImportProgress{Waiting: true, Results: two}, ""},
		{"waiting", done, jobs.ImportProgress{Waiting: true, Results: two[:1]}, "still on their way"},
		{"still enqueueing", jobs.Import{Rows: 2}, jobs.ImportProgress{Waiting: true, Results: two}, "still on their way"},
		{"rows lost", done, jobs.ImportProgress{Missing: 2, MissingRows: missing}, "rows 7-8"},
		{"rows lost, not named", done, jobs.ImportProgress{Missing: 2}, "2 rows have no result"},
	} {
		err := undo.Ready(tc.imp, tc.p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, undo.ErrNotUndoable) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want ErrNotUndoable with %q", tc.name, err, tc.want)
		}
	}
}
