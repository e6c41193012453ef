package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
)

// TestApplyCommand: apply of a plan whose rows exist, conflict, are
// unresolved or are to create enqueues only the create rows under their
// row numbers; an assignment made in Graph between plan and apply is
// reported existing and not created again; a plan file edited after plan
// wrote it is refused (exit 2) and nothing is written.
func TestApplyCommand(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	const tn = "contoso.onmicrosoft.com"
	pilot := e.sim.SeedGroup(tn, "Pilot")
	other := e.sim.SeedGroup(tn, "Other")
	late := e.sim.SeedGroup(tn, "Late")
	e.sim.SeedGroup(tn, "Twins")
	e.sim.SeedGroup(tn, "Twins")
	policy, err := e.sim.SeedPolicy(tn, "deviceConfigurations", "Baseline")
	if err != nil {
		t.Fatal(err)
	}
	groupAssignment := func(g string) graph.Assignment {
		return graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: g}}
	}
	if err := e.sim.Seed(tn, "deviceConfigurations", policy, groupAssignment(other)); err != nil {
		t.Fatal(err)
	}
	in := e.writeFile("onboard.csv", "tenant_id,kind,policy_name,target,group_name,filter_id,filter_type\n"+
		tn+",deviceConfigurations,Baseline,group,Pilot,,\n"+ // row 2: create
		tn+",deviceConfigurations,Baseline,group,Other,,\n"+ // row 3: exists
		tn+",deviceConfigurations,Baseline,group,Twins,,\n"+ // row 4: unresolved
		tn+",deviceConfigurations,Baseline,group,Late,,\n"+ // row 5: create, made before apply
		tn+",deviceConfigurations,Baseline,group,Other,44444444-4444-4444-4444-444444444444,include\n") // row 6: conflict
	planPath := filepath.Join(e.dir, "onboard.plan.json")
	if code, out, errOut := e.run("plan", "--out", planPath, in); code != 2 || !strings.Contains(out, "5 rows: 2 create, 1 exists, 1 conflict, 1 unresolved") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := e.sim.Seed(tn, "deviceConfigurations", policy, groupAssignment(late)); err != nil {
		t.Fatal(err)
	}
	before := e.sim.Stats()

	// An edited plan is refused before anything is enqueued or written.
	data, err := os.ReadFile(planPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := e.writeFile("edited.plan.json", strings.Replace(string(data), `"decision": "unresolved"`, `"decision": "create"`, 1))
	if edited == planPath || string(data) == readString(t, edited) {
		t.Fatal("the plan file was not edited")
	}
	code, out, errOut := e.run(append([]string{"apply"}, append(fastWorker, edited)...)...)
	if code != 2 || !strings.Contains(errOut, "changed after bulkassign plan wrote it") || strings.Contains(errOut, "plan_sha256") {
		t.Errorf("apply of an edited plan: exit %d\n%s\n%s", code, out, errOut)
	}

	report := filepath.Join(e.dir, "apply.report.csv")
	code, out, errOut = e.run(append([]string{"apply", "--report", report}, append(fastWorker, planPath)...)...)
	if code != 0 || !strings.Contains(out, "2 rows: created 1, existing 1, duplicate 0, failed 0") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	got := map[string]map[string]string{}
	for _, r := range readReport(t, report) {
		got[r["row"]] = r
	}
	if len(got) != 2 || got["2"]["status"] != "created" || got["2"]["group_id"] != pilot || got["2"]["policy_id"] != policy ||
		got["2"]["group_name"] != "Pilot" || got["2"]["policy_name"] != "Baseline" || got["2"]["action"] != "add" ||
		got["5"]["status"] != "existing" || got["5"]["group_id"] != late {
		t.Errorf("apply report: %v", got)
	}
	after := e.sim.Stats()
	if n := after.CreatesApplied - before.CreatesApplied; n != 1 {
		t.Errorf("apply created %d assignments, want 1 (row 2 only)", n)
	}
	seen := map[string]int{}
	for _, a := range e.sim.Assignments(tn, "deviceConfigurations", policy) {
		seen[strings.ToLower(a.Target.GroupID)]++
	}
	if len(seen) != 3 || seen[pilot] != 1 || seen[other] != 1 || seen[late] != 1 {
		t.Errorf("Graph holds %v, want Pilot, Other and Late once each", seen)
	}
}

// readString returns the content of the file at path.
func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
