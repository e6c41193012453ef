package plan_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/plan"
)

// TestPlanJobs: apply enqueues exactly the create and remove entries of a
// loaded plan, as additions and removals with their rows and the keys the
// plan recorded; an entry that cannot become a valid job fails the whole
// plan.
func TestPlanJobs(t *testing.T) {
	t.Parallel()
	entry := func(row int, d plan.Decision, action, group string) plan.Entry {
		e := plan.Entry{Row: row, Decision: d, Action: action, Tenant: "contoso.onmicrosoft.com", Kind: "deviceConfigurations",
			PolicyID: "22222222-2222-2222-2222-222222222222", Target: "group", GroupID: group, APIVersion: "beta"}
		e.Key = e.Job("").Key
		return e
	}
	p := &plan.Plan{Format: plan.FormatV1, Source: "in.csv", InputSHA256: strings.Repeat("ab", 32)}
	for i, d := range plan.Decisions() {
		action := jobs.ActionAdd
		if d == plan.Remove || d == plan.Absent {
			action = jobs.ActionRemove
		}
		p.Entries = append(p.Entries, entry(2+i, d, action, groupA))
	}
	p.Entries = append(p.Entries, entry(20, plan.Create, jobs.ActionAdd, groupB))
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	loaded, err := plan.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	js, err := loaded.Jobs("apply-1")
	if err != nil {
		t.Fatalf("Jobs: %v", err)
	}
	type got struct {
		row    int
		action string
		group  string
	}
	var have []got
	for _, j := range js {
		have = append(have, got{j.Row, j.Action, j.GroupID})
		if j.ImportID != "apply-1" || j.Validate() != nil {
			t.Errorf("row %d: import %q, Validate %v", j.Row, j.ImportID, j.Validate())
		}
	}
	// Decisions() order: create (row 2), exists, remove (row 4), …
	want := []got{{2, "", groupA}, {4, jobs.ActionRemove, groupA}, {20, "", groupB}}
	if len(have) != len(want) {
		t.Fatalf("jobs %+v, want %+v", have, want)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("job %d: %+v, want %+v", i, have[i], want[i])
		}
	}

	for name, mut := range map[string]func(*plan.Entry){
		"key of another assignment": func(e *plan.Entry) { e.Key = entry(2, plan.Create, jobs.ActionAdd, groupB).Key },
		"invalid group id":          func(e *plan.Entry) { e.GroupID = "not-a-guid"; e.Key = e.Job("").Key },
		"create with action remove": func(e *plan.Entry) { e.Action = jobs.ActionRemove; e.Key = e.Job("").Key },
	} {
		bad := &plan.Plan{Format: plan.FormatV1, Entries: []plan.Entry{entry(2, plan.Create, jobs.ActionAdd, groupB), entry(3, plan.Create, jobs.ActionAdd, groupA)}}
		mut(&bad.Entries[1])
		js, err := bad.Jobs("apply-2")
		if !errors.Is(err, plan.ErrNotApplicable) || !strings.Contains(err.Error(), "row 3") || js != nil {
			t.Errorf("%s: Jobs = %d jobs, %v; want ErrNotApplicable naming row 3", name, len(js), err)
		}
	}
	if _, err := p.Jobs("bad id"); err == nil {
		t.Error("an invalid import id was accepted")
	}
}
