package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/plan"
)

// writeFile writes content to name in the bundle's directory.
func (e *e2e) writeFile(name, content string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// TestPlanCommand: plan resolves names in the simulator, writes a plan file
// that loads, prints a summary per tenant and kind, exits by the worst
// decision, and writes nothing to Graph.
func TestPlanCommand(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	const tn = "contoso.onmicrosoft.com"
	pilot := e.sim.SeedGroup(tn, "Pilot")
	other := e.sim.SeedGroup(tn, "Other")
	e.sim.SeedGroup(tn, "Twins")
	e.sim.SeedGroup(tn, "Twins")
	policy, err := e.sim.SeedPolicy(tn, "deviceConfigurations", "Baseline")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Seed(tn, "deviceConfigurations", policy, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: other}}); err != nil {
		t.Fatal(err)
	}
	const h = "tenant_id,kind,policy_name,target,group_name\n"
	good := e.writeFile("good.csv", h+tn+",deviceConfigurations,Baseline,group,Pilot\n"+tn+",deviceConfigurations,Baseline,group,Other\n")
	writes := e.sim.Stats().Writes

	code, out, errOut := e.run("plan", good)
	if code != 0 || !strings.Contains(out, "2 rows: 1 create, 1 exists") ||
		!strings.Contains(out, "tenant "+tn+": 1 create, 1 exists") || !strings.Contains(out, "kind deviceConfigurations: 1 create, 1 exists") {
		t.Fatalf("plan good: exit %d\n%s\n%s", code, out, errOut)
	}
	f, err := os.Open(filepath.Join(e.dir, "good.plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Load(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if p.Entries[0].Decision != plan.Create || p.Entries[0].GroupID != pilot || p.Entries[0].PolicyID != policy || p.Source != good ||
		!strings.Contains(out, p.SHA256) {
		t.Errorf("plan %+v", p)
	}

	bad := e.writeFile("bad.csv", h+tn+",deviceConfigurations,Baseline,group,Twins\n")
	out2 := filepath.Join(e.dir, "custom.json")
	code, _, errOut = e.run("plan", "--out", out2, bad)
	if code != 2 || !strings.Contains(errOut, "row 2: unresolved: column group_name: 2 groups named \"Twins\"") {
		t.Errorf("plan ambiguous: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(out2); err != nil {
		t.Errorf("--out: %v", err)
	}
	conflict := e.writeFile("conflict.csv", "tenant_id,kind,policy_name,target,group_name,filter_id,filter_type\n"+
		tn+",deviceConfigurations,Baseline,group,Other,44444444-4444-4444-4444-444444444444,include\n")
	if code, _, errOut := e.run("plan", conflict); code != 1 || !strings.Contains(errOut, "conflict") {
		t.Errorf("plan conflict: exit %d\n%s", code, errOut)
	}
	if n := e.sim.Stats().Writes - writes; n != 0 {
		t.Errorf("plan wrote %d times", n)
	}
}

// TestValidateAcceptsNamesRunResolvesThem: validate checks a file of
// names and removals without Graph; run resolves the names in the row's
// tenant and writes the rows (plan and apply in one step): the addition is
// created, the removal of an assignment Graph does not hold is absent.
func TestValidateAcceptsNamesRunResolvesThem(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	const tn = "contoso.onmicrosoft.com"
	pilot := e.sim.SeedGroup(tn, "Pilot")
	e.sim.SeedGroup(tn, "Other")
	policy, err := e.sim.SeedPolicy(tn, "deviceConfigurations", "Baseline")
	if err != nil {
		t.Fatal(err)
	}
	in := e.writeFile("names.csv", "tenant_id,kind,policy_name,target,group_name,action\n"+
		tn+",deviceConfigurations,Baseline,group,Pilot,\n"+
		tn+",deviceConfigurations,Baseline,group,Other,remove\n")
	code, out, errOut := e.run("validate", in)
	if code != 0 || !strings.Contains(out, "2 rows valid") || !strings.Contains(out, "2 rows give names to resolve in their tenant, 1 remove assignments") {
		t.Fatalf("validate: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = e.run(append([]string{"run"}, append(fastWorker, in)...)...)
	if code != 0 || !strings.Contains(out, "2 rows: created 1, existing 0, duplicate 0, failed 0, invalid 0, conflict 0, removed 0, absent 1") {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.sim.Assignments(tn, "deviceConfigurations", policy); len(got) != 1 || got[0].Target.GroupID != pilot {
		t.Errorf("Graph holds %+v, want Pilot (%s) only", got, pilot)
	}
}
