package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// TestUndoCommand: a file over 2 tenants and both strategies (create
// kinds, merge kinds), onto policies that already hold filtered
// assignments, is run and then undone: every created row is removed and
// Graph is byte for byte as before the run (the seeded assignments kept);
// a second undo reports every row absent and writes nothing. An unknown
// import is refused (exit 2).
func TestUndoCommand(t *testing.T) {
	t.Parallel()
	const seed = 21
	t.Logf("seed %d", seed)
	e := newE2E(t, fastSim())
	rows := genRows(seed, 2, 20)
	r := rand.New(rand.NewPCG(seed, 2))
	policies, snapshot := seedPolicies(t, e, r, rows, graph.FilterExclude, "available")
	kinds := map[string]bool{}
	for _, p := range policies {
		kinds[p.kind] = true
	}
	if !kinds["deviceConfigurations"] || !kinds["deviceCompliancePolicies"] {
		t.Fatalf("kinds %v: want a create kind and a merge kind", kinds)
	}
	before := snapshot()

	path := e.writeCSV("undo.csv", rows)
	code, out, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d rows: created %d,", len(rows), len(rows))) {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	orig := strings.TrimSuffix(strings.Fields(out)[1], ":")

	report := filepath.Join(e.dir, "undo.report.csv")
	code, out, errOut = e.run(append([]string{"undo", "--report", report}, append(fastWorker, orig)...)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("removed %d, absent 0", len(rows))) {
		t.Fatalf("undo: exit %d\n%s\n%s", code, out, errOut)
	}
	got := readReport(t, report)
	if len(got) != len(rows) {
		t.Errorf("undo report: %d rows, want %d", len(got), len(rows))
	}
	for i, row := range got {
		if row["status"] != "removed" || row["action"] != "remove" || row["row"] != fmt.Sprint(i+2) || !strings.EqualFold(row["group_id"], rows[i].group) {
			t.Errorf("undo row %d: %v, want removed %s", i+2, row, rows[i].group)
		}
	}
	after := snapshot()
	for _, p := range policies {
		if before[p] != after[p] {
			t.Errorf("%s %s %s after undo:\n got %s\nwant %s", p.tenant, p.kind, p.policy, after[p], before[p])
		}
	}

	writes := e.sim.Stats().Writes
	again := filepath.Join(e.dir, "undo2.report.csv")
	code, out, errOut = e.run(append([]string{"undo", "--report", again}, append(fastWorker, orig)...)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("removed 0, absent %d", len(rows))) {
		t.Fatalf("second undo: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, row := range readReport(t, again) {
		if row["status"] != "absent" {
			t.Errorf("second undo row %s: %s, want absent", row["row"], row["status"])
		}
	}
	if n := e.sim.Stats().Writes - writes; n != 0 {
		t.Errorf("second undo wrote %d times, want 0", n)
	}
	if code, _, errOut := e.run("undo", orig+"x"); code != 2 || !strings.Contains(errOut, "no import") {
		t.Errorf("undo of an unknown import: exit %d\n%s", code, errOut)
	}
}

// TestUndoSurvivesKill9: an undo killed with SIGKILL part-way (once the
// simulator has seen a random number of its DELETE and /assign writes,
// seed logged), then run again, ends with every policy's raw assignments
// exactly as before the import (the assignments seeded before it kept
// byte for byte); a second undo after that is all absent and writes
// nothing.
func TestUndoSurvivesKill9(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	cfg := graphtest.Config{Window: time.Second, AppWriteLimit: 20, TenantWriteLimit: 40, AppRequestLimit: 600, TenantRequestLimit: 1200,
		Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}
	e := newE2E(t, cfg)
	rows := genRows(seed, 3, 40)
	r := rand.New(rand.NewPCG(seed, 3))
	policies, snapshot := seedPolicies(t, e, r, rows, graph.FilterInclude, "required")
	before := snapshot()
	args := []string{"--ack-wait", "2s", "--write-limit", "20", "--write-window", "1s"}

	path := e.writeCSV("kill-undo.csv", rows)
	code, out, errOut := e.run(append(append([]string{"run"}, args...), path)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d rows: created %d,", len(rows), len(rows))) {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	orig := strings.TrimSuffix(strings.Fields(out)[1], ":")

	report := filepath.Join(e.dir, "kill-undo.report.csv")
	undoArgs := append(append([]string{"undo", "--report", report}, args...), orig)
	writes := e.sim.Stats().Writes
	killAt := writes + 10 + r.IntN(30)
	p := e.start(undoArgs...)
	waitFor(t, 90*time.Second, fmt.Sprintf("%d undo writes", killAt-writes), func() bool {
		select {
		case <-p.done:
			t.Fatalf("undo exited before it was killed (exit %d):\n%s", p.exitCode(), p.out.String())
		default:
		}
		return e.sim.Stats().Writes >= killAt
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	t.Logf("killed after %d undo writes", e.sim.Stats().Writes-writes)
	if reflect.DeepEqual(snapshot(), before) {
		t.Fatal("the undo had removed everything before it was killed: the test tests nothing")
	}

	code, out, errOut = e.run(undoArgs...)
	if code != 0 {
		t.Fatalf("undo again: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("undo again: %s", strings.SplitN(out, "\n", 2)[0])
	got := readReport(t, report)
	if len(got) != len(rows) {
		t.Errorf("undo report: %d rows, want %d", len(got), len(rows))
	}
	for _, row := range got {
		if row["status"] != "removed" && row["status"] != "absent" {
			t.Errorf("undo row %s: %s %s", row["row"], row["status"], row["error_message"])
		}
	}
	after := snapshot()
	for _, p := range policies {
		if before[p] != after[p] {
			t.Errorf("%s %s %s after the undo:\n got %s\nwant %s", p.tenant, p.kind, p.policy, after[p], before[p])
		}
	}

	writes = e.sim.Stats().Writes
	again := filepath.Join(e.dir, "kill-undo2.report.csv")
	code, out, errOut = e.run(append(append([]string{"undo", "--report", again}, args...), orig)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("removed 0, absent %d", len(rows))) {
		t.Fatalf("second undo: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := e.sim.Stats().Writes - writes; n != 0 {
		t.Errorf("second undo wrote %d times, want 0", n)
	}
}

// undoPolicy is a policy of an import under test.
type undoPolicy struct{ tenant, kind, policy string }

// seedPolicies seeds each policy of rows with one assignment of its own
// before the import (a random group and filter of type ft; intent for
// apps), which an undo must leave as it is, and returns the policies and a
// snapshot of their raw assignments in Graph, byte for byte.
func seedPolicies(t *testing.T, e *e2e, r *rand.Rand, rows []csvRow, ft, intent string) ([]undoPolicy, func() map[undoPolicy]string) {
	t.Helper()
	var policies []undoPolicy
	for _, row := range rows {
		if p := (undoPolicy{row.tenant, row.kind, row.policy}); !slices.Contains(policies, p) {
			policies = append(policies, p)
		}
	}
	for _, p := range policies {
		kept := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: guid(r), FilterID: guid(r), FilterType: ft}}
		if p.kind == "mobileApps" {
			kept.Intent = intent
		}
		if err := e.sim.Seed(p.tenant, p.kind, p.policy, kept); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() map[undoPolicy]string {
		out := map[undoPolicy]string{}
		for _, p := range policies {
			b, err := json.Marshal(e.sim.RawAssignments(p.tenant, p.kind, p.policy))
			if err != nil {
				t.Fatal(err)
			}
			out[p] = string(b)
		}
		return out
	}
	return policies, snapshot
}
