package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/jobs"
)

// TestDamagedResultsBlock: an import finishes; then a block of the results
// stream is damaged while nothing runs. report writes the rows it still
// has, names the missing ones and exits 1; status says how many are
// missing instead of running or done; running the file again redoes only
// those rows (no new write to Graph) and completes the report.
func TestDamagedResultsBlock(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(14, 1, 300)
	path := e.writeCSV("block.csv", rows)
	code, out, errOut := e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	importID := strings.TrimSuffix(strings.Fields(out)[1], ":")
	blocks, err := filepath.Glob(filepath.Join(e.dataDir, "jetstream", "*", "streams", jobs.ResultsStream, "msgs", "*.blk"))
	if err != nil || len(blocks) != 1 {
		t.Fatalf("results blocks %v, %v: want one", blocks, err)
	}
	data, err := os.ReadFile(blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(data) / 2; i < len(data)/2+2000; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(blocks[0], data, 0o600); err != nil {
		t.Fatal(err)
	}

	report := filepath.Join(e.dir, "after.csv")
	code, _, errOut = e.run("report", "--out", report, importID)
	if code != exitFailed {
		t.Fatalf("report of a damaged import: exit %d, want %d\n%s", code, exitFailed, errOut)
	}
	m := regexp.MustCompile(`(\d+) of 300 rows have no result and will get none .*: rows ([0-9, -]+)\.`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("report does not count and name the missing rows:\n%s", errOut)
	}
	missing := parseRows(t, m[2])
	if n, _ := strconv.Atoi(m[1]); n != len(missing) || n == 0 {
		t.Fatalf("report says %s rows missing and names %d: %q", m[1], len(missing), m[2])
	}
	have := map[int]bool{}
	for _, r := range readReport(t, report) {
		row, _ := strconv.Atoi(r["row"])
		have[row] = true
	}
	for row := 2; row <= len(rows)+1; row++ {
		if have[row] == slices.Contains(missing, row) {
			t.Fatalf("row %d: in the report %v, named missing %v", row, have[row], slices.Contains(missing, row))
		}
	}
	t.Logf("%d rows missing: %s", len(missing), m[2])

	code, out, errOut = e.run("status", importID)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d rows missing", len(missing))) ||
		strings.Contains(out, "running") || strings.Contains(out, " done") {
		t.Fatalf("status: exit %d, want %q and neither running nor done\n%s\n%s", code, fmt.Sprintf("%d rows missing", len(missing)), out, errOut)
	}

	creates := e.sim.Stats().CreatesApplied
	code, out, errOut = e.run(append([]string{"run"}, append(fastWorker, path)...)...)
	if code != 0 || !strings.Contains(out, importID) {
		t.Fatalf("rerun: exit %d, want 0 resuming %s\n%s\n%s", code, importID, out, errOut)
	}
	if got := e.sim.Stats().CreatesApplied; got != creates {
		t.Errorf("the rerun made %d creates, want none (the rows were written)", got-creates)
	}
	e.assertExactlyOnce(rows, path+".report.csv")
	if code, _, errOut := e.run("report", "--out", report, importID); code != 0 {
		t.Errorf("report after the rerun: exit %d\n%s", code, errOut)
	}
}

// parseRows expands "2-4, 7" into [2 3 4 7].
func parseRows(t *testing.T, s string) []int {
	t.Helper()
	var out []int
	for part := range strings.SplitSeq(s, ", ") {
		first, last, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(first)
		if err != nil {
			t.Fatalf("rows %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(last); err != nil {
				t.Fatalf("rows %q: %v", s, err)
			}
		}
		for r := a; r <= b; r++ {
			out = append(out, r)
		}
	}
	return out
}
