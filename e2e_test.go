package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// e2e is a test bundle: a simulator, a data directory and a way to run
// bulkassign commands in-process against them.
type e2e struct {
	t       testing.TB
	sim     *graphtest.Server
	dir     string
	dataDir string
}

func newE2E(t testing.TB, cfg graphtest.Config) *e2e {
	t.Helper()
	dir := t.TempDir()
	return &e2e{t: t, sim: graphtest.Start(t, cfg), dir: dir, dataDir: filepath.Join(dir, "data")}
}

// run runs a bulkassign command with the bundle's simulator and data dir,
// and returns its exit code, stdout and stderr.
func (e *e2e) run(args ...string) (int, string, string) {
	e.t.Helper()
	return e.runWith(nil, args...)
}

// runWith is run with vars overriding the bundle's environment variables.
func (e *e2e) runWith(override map[string]string, args ...string) (int, string, string) {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	env := e.env(override)
	env.stdout, env.stderr = &stdout, &stderr
	code := realMain(context.Background(), args, env)
	return code, stdout.String(), stderr.String()
}

// env is the environment of an in-process command: the bundle's variables
// with override's on top, no input, output discarded until set.
func (e *e2e) env(override map[string]string) *environment {
	vars := map[string]string{
		"BULKASSIGN_GRAPH_TOKEN": "e2e-token",
		"BULKASSIGN_GRAPH_URL":   e.sim.URL(),
		"BULKASSIGN_DATA_DIR":    e.dataDir,
		"BULKASSIGN_NATS_PORT":   "-1",
		"BULKASSIGN_QUIET":       "true",
	}
	maps.Copy(vars, override)
	return &environment{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return vars[k] }, hard: context.Background()}
}

// csvRow is one row of a generated import.
type csvRow struct {
	tenant, kind, policy, target, group, intent, version string
}

func (r csvRow) fields() []string {
	return []string{r.tenant, r.kind, r.policy, r.target, r.group, r.intent, r.version}
}

// writeCSV writes rows under the header the generated files use.
func (e *e2e) writeCSV(name string, rows []csvRow, extra ...[]string) string {
	e.t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"tenant_id", "kind", "policy_id", "target", "group_id", "intent", "api_version"})
	for _, r := range rows {
		_ = w.Write(r.fields())
	}
	for _, x := range extra {
		_ = w.Write(x)
	}
	w.Flush()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func guid(r *rand.Rand) string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// genRows makes tenants×perTenant distinct rows across create kinds
// (deviceConfigurations, configurationPolicies) and merge kinds
// (deviceCompliancePolicies, mobileApps).
func genRows(seed uint64, tenants, perTenant int) []csvRow {
	r := rand.New(rand.NewPCG(seed, 1))
	var rows []csvRow
	for t := 0; t < tenants; t++ {
		tenant := guid(r)
		policies := map[string][]string{}
		for _, k := range []string{"deviceConfigurations", "configurationPolicies", "deviceCompliancePolicies", "mobileApps"} {
			policies[k] = []string{guid(r), guid(r)}
		}
		for i := 0; i < perTenant; i++ {
			row := csvRow{tenant: tenant, target: "group", group: guid(r)}
			switch i % 10 {
			case 0, 1, 2, 3, 4, 5:
				row.kind = "deviceConfigurations"
			case 6, 7:
				row.kind, row.version = "configurationPolicies", "beta"
			case 8:
				row.kind = "deviceCompliancePolicies"
			case 9:
				row.kind, row.intent = "mobileApps", "required"
			}
			row.policy = policies[row.kind][i%2]
			rows = append(rows, row)
		}
	}
	return rows
}

// readReport parses a CSV report into maps keyed by column.
func readReport(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// The original 13 columns, in their order, then the appended ones.
	want := "row,tenant_id,kind,policy_id,target,group_id,status,assignment_id,http_status,error_code,error_message,attempts,key" +
		",filter_id,filter_type,intent,api_version,duplicate_of,action,group_name,filter_name,policy_name"
	if got := strings.Join(recs[0], ","); got != want {
		t.Fatalf("report header\n got %s\nwant %s", got, want)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

// assertSimHas checks that the simulator holds every row's assignment
// exactly once.
func (e *e2e) assertSimHas(rows []csvRow) {
	e.t.Helper()
	type pol struct{ tenant, kind, policy string }
	want := map[pol]map[string]bool{}
	for _, r := range rows {
		p := pol{r.tenant, r.kind, r.policy}
		if want[p] == nil {
			want[p] = map[string]bool{}
		}
		want[p][strings.ToLower(r.group)] = true
	}
	for p, groups := range want {
		got := e.sim.Assignments(p.tenant, p.kind, p.policy)
		seen := map[string]int{}
		for _, a := range got {
			seen[strings.ToLower(a.Target.GroupID)]++
		}
		for g := range groups {
			if seen[g] != 1 {
				e.t.Errorf("%s %s %s: group %s assigned %d times, want 1", p.tenant, p.kind, p.policy, g, seen[g])
			}
		}
		if len(got) != len(groups) {
			e.t.Errorf("%s %s %s: %d assignments, want %d", p.tenant, p.kind, p.policy, len(got), len(groups))
		}
	}
}

func fastSim() graphtest.Config {
	return graphtest.Config{Window: time.Second, AppWriteLimit: 60, TenantWriteLimit: 120, AppRequestLimit: 600, TenantRequestLimit: 1200}
}

var fastWorker = []string{"--write-limit", "60", "--write-window", "1s"}

// TestRunEndToEnd: 3 tenants × 200 rows across create and merge kinds are
// created exactly once with a complete report; a re-run writes nothing and
// reports every row existing.
func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(1, 3, 200)
	path := e.writeCSV("big.csv", rows)

	code, out, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 0 {
		t.Fatalf("run exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	report := readReport(t, path+".report.csv")
	if len(report) != len(rows) {
		t.Fatalf("report has %d rows, want %d", len(report), len(rows))
	}
	for i, r := range report {
		if r["row"] != strconv.Itoa(i+2) {
			t.Fatalf("report row %d is %s, want %d (sorted by row)", i, r["row"], i+2)
		}
		if r["status"] != "created" || r["assignment_id"] == "" || r["key"] == "" {
			t.Fatalf("row %s: %v", r["row"], r)
		}
		src := rows[i]
		if r["tenant_id"] != src.tenant || r["policy_id"] != src.policy || r["group_id"] != src.group {
			t.Fatalf("row %s does not match its source: %v vs %v", r["row"], r, src)
		}
	}
	e.assertSimHas(rows)
	st := e.sim.Stats()
	if st.DuplicateCreates != 0 {
		t.Errorf("duplicate creates: %d", st.DuplicateCreates)
	}
	if st.CreatesApplied != len(rows) {
		t.Errorf("creates applied %d, want %d", st.CreatesApplied, len(rows))
	}
	if !strings.Contains(out, "created 600") {
		t.Errorf("summary: %s", out)
	}

	// Run again: nothing new, every row existing.
	writes := e.sim.Stats().Writes
	code, out, errOut = e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 0 {
		t.Fatalf("re-run exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, r := range readReport(t, path+".report.csv") {
		if r["status"] != "existing" {
			t.Fatalf("re-run row %s: status %s, want existing", r["row"], r["status"])
		}
	}
	if got := e.sim.Stats().Writes; got != writes {
		t.Errorf("re-run made %d writes, want 0", got-writes)
	}
}

// TestRunInvalidAndDuplicates: invalid rows stop the import (exit 2,
// nothing written) unless --skip-invalid (exit 1, rows reported invalid);
// duplicate rows are reported with the row they repeat.
func TestRunInvalidAndDuplicates(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(2, 1, 20)
	dup := rows[3]
	dup.group = strings.ToUpper(dup.group)
	dup.target = "#microsoft.graph.groupAssignmentTarget"
	bad := []string{rows[0].tenant, "deviceConfigurations", rows[0].policy, "group", "not-a-guid", "", ""}
	path := e.writeCSV("mixed.csv", append(rows, dup), bad)

	code, _, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 2 {
		t.Fatalf("run with an invalid row: exit %d, want 2\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "row 23") || !strings.Contains(errOut, "group_id") {
		t.Errorf("error output does not name row 23 and column group_id:\n%s", errOut)
	}
	if w := e.sim.Stats().Writes; w != 0 {
		t.Fatalf("%d writes after a refused file", w)
	}

	code, out, errOut := e.run(append([]string{"run", "--skip-invalid"}, append(fastWorker, path)...)...)
	if code != 1 {
		t.Fatalf("run --skip-invalid: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	report := readReport(t, path+".report.csv")
	if len(report) != 22 {
		t.Fatalf("report rows %d, want 22", len(report))
	}
	statuses := map[string]string{}
	for _, r := range report {
		statuses[r["row"]] = r["status"]
	}
	if statuses["22"] != "duplicate" || statuses["23"] != "invalid" {
		t.Errorf("row 22 %q (want duplicate), row 23 %q (want invalid)", statuses["22"], statuses["23"])
	}
	for row := 2; row <= 21; row++ {
		if s := statuses[strconv.Itoa(row)]; s != "created" {
			t.Errorf("row %d: %s", row, s)
		}
	}
	e.assertSimHas(rows)
}

// TestValidateCommand: exit 0 on a good file, 2 with row/column/reason on a
// bad one; unknown command and bad flags exit 2.
func TestValidateCommand(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	good := e.writeCSV("good.csv", genRows(4, 1, 5))
	if code, out, errOut := e.run("validate", good); code != 0 || !strings.Contains(out, "5 rows valid") {
		t.Fatalf("validate good: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := e.writeCSV("bad.csv", nil, []string{"contoso.onmicrosoft.com", "noSuchKind", "6b0d549b-6f03-675a-1600-a35a099950d8", "group", "ae97ba94-d0ed-a82f-8f6d-05584ef8aa38", "", ""})
	code, _, errOut := e.run("validate", bad)
	if code != 2 || !strings.Contains(errOut, "row 2") || !strings.Contains(errOut, "kind") {
		t.Fatalf("validate bad: exit %d\n%s", code, errOut)
	}
	if code, _, _ := e.run("frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := e.run("run", "--no-such-flag", good); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	if code, _, _ := e.run("run", "--help"); code != 0 {
		t.Errorf("--help: exit %d, want 0", code)
	}
}

// TestRetryFailedRows: rows that failed (their policy answered 404) are
// re-enqueued by retry as a new import with the same row numbers; with
// --wait the retry processes them itself and reports them created.
func TestRetryFailedRows(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(9, 1, 20)
	missing := rows[0].policy // deviceConfigurations: rows 2, 4, 6, 12, 14, 16
	e.sim.SetMissingPolicy(missing)
	path := e.writeCSV("retry.csv", rows)
	code, out, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 1 {
		t.Fatalf("run with a missing policy: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	failedRows := map[string]bool{}
	for _, r := range readReport(t, path+".report.csv") {
		if r["policy_id"] == missing {
			if r["status"] != "failed" || r["http_status"] != "404" || r["error_code"] == "" {
				t.Errorf("row %s: %v, want failed with 404", r["row"], r)
			}
			failedRows[r["row"]] = true
		} else if r["status"] != "created" {
			t.Errorf("row %s: %s", r["row"], r["status"])
		}
	}
	if len(failedRows) != 6 {
		t.Fatalf("%d failed rows, want 6", len(failedRows))
	}
	orig := strings.Fields(out)[1]
	orig = strings.TrimSuffix(orig, ":")

	e.sim.Reset() // the policy exists now (and the simulator forgot the rest)
	report := filepath.Join(e.dir, "retry.report.csv")
	code, out, errOut = e.run(append([]string{"retry", "--wait", "--report", report}, append(fastWorker, orig)...)...)
	if code != 0 {
		t.Fatalf("retry --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "6 failed rows of "+orig) {
		t.Errorf("retry output: %s", out)
	}
	got := readReport(t, report)
	if len(got) != 6 {
		t.Fatalf("retry report: %d rows, want 6", len(got))
	}
	for _, r := range got {
		if !failedRows[r["row"]] || r["status"] != "created" {
			t.Errorf("retry row %s: %s (failed rows %v)", r["row"], r["status"], failedRows)
		}
	}
	if n := e.sim.Stats().CreatesApplied; n != 6 {
		t.Errorf("retry made %d creates, want 6 (only the failed rows)", n)
	}
	if code, out, _ := e.run("retry", orig+"x"); code != 2 {
		t.Errorf("retry of an unknown import: exit %d\n%s", code, out)
	}
}

// TestRunTruthfulOutcomes: run reports what is true in Graph. A file with
// filtered rows is created; after Graph lost every assignment the same
// file creates them again; run again while they are there, every row is
// existing and nothing is written. A row whose target Graph holds with
// another filter is a conflict (exit 1, saying what Graph has), and the
// report re-states every row (filter, intent, version, duplicate_of).
func TestRunTruthfulOutcomes(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	r := rand.New(rand.NewPCG(11, 1))
	tenant, conf, comp, app, filter := guid(r), guid(r), guid(r), guid(r), guid(r)
	type row struct{ kind, policy, group, filter, filterType, intent, version string }
	var rows []row
	for i := range 12 {
		rw := row{group: guid(r), version: "v1.0"}
		switch i % 4 {
		case 0:
			rw.kind, rw.policy = "deviceConfigurations", conf
		case 1:
			rw.kind, rw.policy, rw.filter, rw.filterType, rw.version = "deviceConfigurations", conf, filter, "include", "beta"
		case 2:
			rw.kind, rw.policy, rw.filter, rw.filterType, rw.version = "deviceCompliancePolicies", comp, filter, "exclude", "beta"
		case 3:
			rw.kind, rw.policy, rw.intent = "mobileApps", app, "required"
		}
		rows = append(rows, rw)
	}
	writeFile := func(name string, rows []row) string {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write([]string{"tenant_id", "kind", "policy_id", "target", "group_id", "filter_id", "filter_type", "intent"})
		for _, rw := range rows {
			_ = w.Write([]string{tenant, rw.kind, rw.policy, "group", rw.group, rw.filter, rw.filterType, rw.intent})
		}
		w.Flush()
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path := writeFile("truth.csv", rows)
	runAll := func(what, want string, wantCode int) []map[string]string {
		t.Helper()
		code, out, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", what, code, wantCode, out, errOut)
		}
		report := readReport(t, path+".report.csv")
		for i, got := range report {
			rw := rows[i]
			if got["status"] != want || got["assignment_id"] == "" || got["filter_id"] != rw.filter ||
				got["filter_type"] != rw.filterType || got["intent"] != rw.intent || got["api_version"] != rw.version {
				t.Fatalf("%s: row %s: %v, want %s with %+v", what, got["row"], got, want, rw)
			}
		}
		return report
	}
	runAll("first run", "created", 0)

	e.sim.Reset() // the assignments were deleted in Graph
	runAll("run after deletion", "created", 0)
	if n := e.sim.Stats().CreatesApplied; n != len(rows) {
		t.Fatalf("run after deletion created %d assignments, want %d", n, len(rows))
	}

	writes := e.sim.Stats().Writes
	runAll("run while present", "existing", 0)
	if got := e.sim.Stats().Writes - writes; got != 0 {
		t.Fatalf("run while present made %d writes, want 0", got)
	}

	// Graph holds a group with an exclude filter; the file asks it without
	// one, twice.
	taken := guid(r)
	if err := e.sim.Seed(tenant, "deviceConfigurations", conf, graph.Assignment{
		Target: graph.Target{Type: graph.TargetGroup, GroupID: taken, FilterID: filter, FilterType: graph.FilterExclude}}); err != nil {
		t.Fatal(err)
	}
	writes = e.sim.Stats().Writes
	path = writeFile("conflict.csv", []row{
		{kind: "deviceConfigurations", policy: conf, group: taken},
		{kind: "deviceConfigurations", policy: conf, group: strings.ToUpper(taken)},
	})
	code, out, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 1 || !strings.Contains(out, "conflict 1") {
		t.Fatalf("conflicting row: exit %d, want 1 with \"conflict 1\" in the summary\n%s\n%s", code, out, errOut)
	}
	report := readReport(t, path+".report.csv")
	wantMsg := "policy already assigns group " + taken + " with filter " + filter + " (exclude); row asks no filter"
	if got := report[0]; got["status"] != "conflict" || got["error_message"] != wantMsg || got["api_version"] != "v1.0" {
		t.Errorf("row 2: %v\nwant conflict %q", got, wantMsg)
	}
	if got := report[1]; got["status"] != "duplicate" || got["duplicate_of"] != "2" {
		t.Errorf("row 3: %v, want a duplicate of row 2", got)
	}
	if got := e.sim.Stats().Writes - writes; got != 0 {
		t.Errorf("a conflict made %d writes, want 0", got)
	}
}
