package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/internal/namestest"
	"github.com/bulkassign/bulkassign/internal/natstest"
)

// namesTenants are three tenants whose groups, filters and policies have
// the same names and other ids.
var namesTenants = []string{"contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "northwind.onmicrosoft.com"}

// tenantObjects are one tenant's objects named "Pilot" (group), "Corp"
// (filter) and "Baseline" (a deviceConfigurations and a
// deviceCompliancePolicies policy), and its group "Pilot 2".
type tenantObjects struct{ pilot, pilot2, corp, config, compliance string }

func seedNames(t *testing.T, e *e2e) map[string]tenantObjects {
	t.Helper()
	out := map[string]tenantObjects{}
	for _, tn := range namesTenants {
		out[tn] = tenantObjects{
			pilot:      e.sim.SeedGroup(tn, "Pilot"),
			pilot2:     e.sim.SeedGroup(tn, "Pilot 2"),
			corp:       namestest.SeedFilter(t, e.sim, tn, "Corp", "windows10AndLater"),
			config:     namestest.SeedPolicy(t, e.sim, tn, "deviceConfigurations", "Baseline"),
			compliance: namestest.SeedPolicy(t, e.sim, tn, "deviceCompliancePolicies", "Baseline"),
		}
	}
	return out
}

// namesHeader is the header of the named files.
const namesHeader = "tenant_id,kind,policy_id,policy_name,target,group_id,group_name,filter_name,filter_type,action\n"

// groupsOf returns the groups Graph holds on the policy, with their filter
// ("group" or "group/filter/type").
func (e *e2e) groupsOf(tenant, kind, policy string) map[string]string {
	out := map[string]string{}
	for _, a := range e.sim.Assignments(tenant, kind, policy) {
		v := "group"
		if a.Target.FilterID != "" {
			v = "group/" + strings.ToLower(a.Target.FilterID) + "/" + a.Target.FilterType
		}
		out[strings.ToLower(a.Target.GroupID)] = v
	}
	return out
}

// TestRunResolvesNames: run is plan and apply in one step.
//   - Three tenants whose objects have the same names: every named row
//     lands on its own tenant's ids (a create kind with a filter, a merge
//     kind), the report shows them beside the names, and a row naming by
//     ids what another names is its duplicate.
//   - A name matching two groups and one matching none are row errors
//     listing the candidates: the file is refused and nothing is written;
//     with --skip-invalid they are reported invalid and only the other row
//     is written.
//   - Remove rows by name remove their assignment (DELETE and /assign) and
//     report its id; one Graph does not hold is absent.
func TestRunResolvesNames(t *testing.T) {
	e := newE2E(t, fastSim())
	objs := seedNames(t, e)
	a, b, c := namesTenants[0], namesTenants[1], namesTenants[2]
	twins := []string{e.sim.SeedGroup(a, "Twins"), e.sim.SeedGroup(a, "Twins")}

	var in strings.Builder
	in.WriteString(namesHeader)
	for _, tn := range namesTenants {
		fmt.Fprintf(&in, "%s,deviceConfigurations,,Baseline,group,,Pilot,Corp,include,\n", tn)
		fmt.Fprintf(&in, "%s,deviceCompliancePolicies,,Baseline,group,,Pilot,,,\n", tn)
	}
	// Row 8: row 3 by ids.
	fmt.Fprintf(&in, "%s,deviceCompliancePolicies,%s,,group,%s,,,,\n", a, objs[a].compliance, objs[a].pilot)
	path := e.writeFile("names.csv", in.String())
	code, out, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 0 || !strings.Contains(out, "7 rows: created 6, existing 0, duplicate 1, failed 0") {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	report := readReport(t, path+".report.csv")
	if len(report) != 7 {
		t.Fatalf("report: %d rows, want 7", len(report))
	}
	for i, tn := range namesTenants {
		o := objs[tn]
		cfg, cmp := report[2*i], report[2*i+1]
		if cfg["status"] != "created" || cfg["tenant_id"] != tn || cfg["policy_id"] != o.config || cfg["group_id"] != o.pilot ||
			cfg["filter_id"] != o.corp || cfg["policy_name"] != "Baseline" || cfg["group_name"] != "Pilot" || cfg["filter_name"] != "Corp" ||
			cfg["assignment_id"] == "" || cfg["action"] != "add" {
			t.Errorf("%s deviceConfigurations row: %v, want its ids %+v", tn, cfg, o)
		}
		if cmp["status"] != "created" || cmp["policy_id"] != o.compliance || cmp["group_id"] != o.pilot || cmp["group_name"] != "Pilot" {
			t.Errorf("%s deviceCompliancePolicies row: %v, want its ids %+v", tn, cmp, o)
		}
		if got := e.groupsOf(tn, "deviceConfigurations", o.config); len(got) != 1 || got[o.pilot] != "group/"+o.corp+"/include" {
			t.Errorf("%s deviceConfigurations holds %v, want Pilot with Corp", tn, got)
		}
		if got := e.groupsOf(tn, "deviceCompliancePolicies", o.compliance); len(got) != 1 || got[o.pilot] != "group" {
			t.Errorf("%s deviceCompliancePolicies holds %v, want Pilot", tn, got)
		}
	}
	if r := report[6]; r["status"] != "duplicate" || r["duplicate_of"] != "3" {
		t.Errorf("row 8 (row 3 by ids): %v", r)
	}

	// Names that do not resolve: the file is refused, nothing written.
	bad := e.writeFile("bad.csv", namesHeader+
		a+",deviceConfigurations,,Baseline,group,,Twins,,,\n"+
		a+",deviceConfigurations,,Baseline,group,,Nobody,,,\n"+
		b+",deviceConfigurations,,Baseline,group,,Pilot 2,,,\n")
	writes := e.sim.Stats().Writes
	code, out, errOut = e.run(append([]string{"run"}, append(fastWorker, bad)...)...)
	for _, want := range []string{
		fmt.Sprintf(`row 2, column group_name: 2 groups named "Twins" in tenant %s (`, a), twins[0], twins[1],
		`row 3, column group_name: no group named "Nobody" in tenant ` + a,
		"2 of 3 rows invalid; nothing enqueued",
	} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("run of unresolved names: exit %d, stderr lacks %q\n%s\n%s", code, want, out, errOut)
		}
	}
	if n := e.sim.Stats().Writes - writes; n != 0 {
		t.Errorf("refused file: %d writes", n)
	}
	skipped := filepath.Join(e.dir, "bad.skip.csv")
	code, out, errOut = e.run(append([]string{"run", "--skip-invalid", "--report", skipped}, append(fastWorker, bad)...)...)
	if code != 1 || !strings.Contains(out, "3 rows: created 1, existing 0, duplicate 0, failed 0, invalid 2") {
		t.Fatalf("run --skip-invalid: exit %d\n%s\n%s", code, out, errOut)
	}
	rep := readReport(t, skipped)
	if r := rep[0]; r["status"] != "invalid" || !strings.Contains(r["error_message"], twins[0]) || !strings.Contains(r["error_message"], twins[1]) || r["group_name"] != "Twins" {
		t.Errorf("row 2: %v", r)
	}
	if r := rep[1]; r["status"] != "invalid" || !strings.Contains(r["error_message"], `no group named "Nobody"`) {
		t.Errorf("row 3: %v", r)
	}
	if r := rep[2]; r["status"] != "created" || r["group_id"] != objs[b].pilot2 || r["policy_id"] != objs[b].config {
		t.Errorf("row 4: %v", r)
	}
	if n := e.sim.Stats().Writes - writes; n != 1 {
		t.Errorf("--skip-invalid: %d writes, want 1", n)
	}
	if got := e.groupsOf(a, "deviceConfigurations", objs[a].config); got[twins[0]] != "" || got[twins[1]] != "" || len(got) != 1 {
		t.Errorf("%s deviceConfigurations holds %v: the unresolved rows were written", a, got)
	}

	// Removals by name.
	rm := e.writeFile("remove.csv", namesHeader+
		b+",deviceConfigurations,,Baseline,group,,Pilot,Corp,include,remove\n"+
		c+",deviceCompliancePolicies,,Baseline,group,,Pilot,,,remove\n"+
		a+",deviceCompliancePolicies,,Baseline,group,,Pilot 2,,,remove\n")
	code, out, errOut = e.run(append([]string{"run"}, append(fastWorker, rm)...)...)
	if code != 0 || !strings.Contains(out, "3 rows: created 0, existing 0, duplicate 0, failed 0, invalid 0, conflict 0, removed 2, absent 1") {
		t.Fatalf("run of removals: exit %d\n%s\n%s", code, out, errOut)
	}
	rep = readReport(t, rm+".report.csv")
	for i, want := range []struct{ status, policy, group string }{
		{"removed", objs[b].config, objs[b].pilot}, {"removed", objs[c].compliance, objs[c].pilot}, {"absent", objs[a].compliance, objs[a].pilot2},
	} {
		r := rep[i]
		if r["status"] != want.status || r["action"] != "remove" || r["policy_id"] != want.policy || r["group_id"] != want.group ||
			(want.status == "removed") != (r["assignment_id"] != "") {
			t.Errorf("removal row %d: %v, want %s of %s on %s", i+2, r, want.status, want.group, want.policy)
		}
	}
	if got := e.groupsOf(b, "deviceConfigurations", objs[b].config); len(got) != 1 || got[objs[b].pilot2] != "group" {
		t.Errorf("%s deviceConfigurations holds %v, want Pilot 2 only", b, got)
	}
	if got := e.groupsOf(c, "deviceCompliancePolicies", objs[c].compliance); len(got) != 0 {
		t.Errorf("%s deviceCompliancePolicies holds %v, want nothing", c, got)
	}
	if got := e.groupsOf(a, "deviceCompliancePolicies", objs[a].compliance); len(got) != 1 || got[objs[a].pilot] != "group" {
		t.Errorf("%s deviceCompliancePolicies holds %v, want Pilot", a, got)
	}
}

// TestIngestNames: ingest without Graph credentials refuses the rows that
// give names, saying how to give it Graph access, and enqueues nothing;
// with them, it resolves each row in its tenant and the workers of serve
// write the resolved ids.
func TestIngestNames(t *testing.T) {
	e := newE2E(t, fastSim())
	objs := seedNames(t, e)
	a, b := namesTenants[0], namesTenants[1]
	for _, v := range []string{graph.EnvTenantID, graph.EnvClientID, graph.EnvClientSecret, graph.EnvCertificatePath} {
		t.Setenv(v, "") // whatever this machine has: no Azure credential
	}
	path := e.writeFile("names.csv", namesHeader+
		a+",deviceConfigurations,,Baseline,group,,Pilot,Corp,include,\n"+
		b+",deviceCompliancePolicies,,Baseline,group,,Pilot 2,,,\n"+
		a+",deviceCompliancePolicies,"+objs[a].compliance+",,group,"+objs[a].pilot+",,,,\n")
	url := natstest.Plain(t)
	metricsAddr := freeAddr(t)
	s := e.serve(url, "tok-names", append([]string{"--metrics-addr", metricsAddr}, fastWorker...)...)
	waitFor(t, 30*time.Second, "serve /readyz", func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	code, out, errOut := e.runWith(map[string]string{"BULKASSIGN_GRAPH_TOKEN": ""}, "ingest", "--nats-url", url, path)
	for _, want := range []string{
		"row 2, column policy_name: names are looked up in Graph, and this command has no Graph access (missing environment variable AZURE_TENANT_ID)",
		"set BULKASSIGN_GRAPH_TOKEN, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)",
		"--cloud or --graph-url", "row 3, column policy_name:", "2 of 3 rows invalid; nothing enqueued",
	} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("ingest without Graph: exit %d, stderr lacks %q\n%s\n%s", code, want, out, errOut)
		}
	}

	code, out, errOut = e.run("ingest", "--nats-url", url, "--wait", path)
	if code != 0 || !strings.Contains(out, "3 rows: created 3,") {
		t.Fatalf("ingest --wait: exit %d\n%s\n%s\nserve: %s", code, out, errOut, s.out.String())
	}
	rep := readReport(t, path+".report.csv")
	if r := rep[0]; r["policy_id"] != objs[a].config || r["group_id"] != objs[a].pilot || r["filter_id"] != objs[a].corp || r["group_name"] != "Pilot" {
		t.Errorf("row 2: %v, want %s's ids", r, a)
	}
	if r := rep[1]; r["policy_id"] != objs[b].compliance || r["group_id"] != objs[b].pilot2 {
		t.Errorf("row 3: %v, want %s's ids", r, b)
	}
	if got := e.groupsOf(b, "deviceCompliancePolicies", objs[b].compliance); len(got) != 1 || got[objs[b].pilot2] != "group" {
		t.Errorf("%s deviceCompliancePolicies holds %v, want Pilot 2", b, got)
	}
	s.stopAndWait()
}

// TestDemoShowsNamesAndPlan: demo seeds its simulator's tenants with named
// objects, prints the plan of its file before running it (the named rows
// with the ids they resolve to, and the name two groups share refused),
// and the report carries the resolved ids beside the names; it exits 0.
func TestDemoShowsNamesAndPlan(t *testing.T) {
	e := newE2E(t, fastSim())
	report := filepath.Join(e.dir, "demo.report.csv")
	code, out, errOut := e.run("demo", "--report", report)
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"demo: plan (Graph read, nothing written yet): 351 rows: 341 create, 1 remove, 3 duplicate, 5 invalid, 1 unresolved",
		`demo:   row 345, tenant 6513270e…: create: "Baseline – Windows Compliance" → `,
		`demo:   row 351, tenant d23f0824…: remove: "Baseline – Windows" → `,
		`demo:   row 352, tenant contoso.onmicrosoft.com: unresolved: column group_name: 2 groups named "All Windows Devices"`,
		"351 rows: created 341, existing 0, duplicate 3, failed 0, invalid 6, conflict 0, removed 1, absent 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	rows := readReport(t, report)
	if len(rows) != 351 {
		t.Fatalf("report: %d rows, want 351", len(rows))
	}
	groups := map[string]string{}     // tenant → the id "Intune – Pilot Devices" resolved to
	for _, r := range rows[343:350] { // rows 345-351
		_, perr := graph.NormalizeGUID(r["policy_id"])
		_, gerr := graph.NormalizeGUID(r["group_id"])
		if r["policy_name"] == "" || r["group_name"] == "" || perr != nil || gerr != nil {
			t.Errorf("row %s: %v, want resolved ids beside the names", r["row"], r)
		}
		if r["group_name"] == demoGroup {
			if g, ok := groups[r["tenant_id"]]; ok && g != r["group_id"] {
				t.Errorf("row %s: %s in tenant %s is %s here, %s on another row", r["row"], demoGroup, r["tenant_id"], r["group_id"], g)
			}
			groups[r["tenant_id"]] = r["group_id"]
		}
	}
	distinct := map[string]bool{}
	for _, g := range groups {
		distinct[g] = true
	}
	if len(groups) != 3 || len(distinct) != 3 {
		t.Errorf("%s resolved to %v: want one id per tenant, each its own", demoGroup, groups)
	}
	if r := rows[349]; r["status"] != "removed" || r["action"] != "remove" || r["assignment_id"] == "" {
		t.Errorf("row 351: %v", r)
	}
	if r := rows[350]; r["status"] != "invalid" || !strings.Contains(r["error_message"], `2 groups named "All Windows Devices"`) {
		t.Errorf("row 352: %v", r)
	}
}
