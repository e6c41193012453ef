package main

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/contract"
)

// TestParseFlagsAnywhere: flags are read before, between and after the
// positional arguments; "--" ends them; "-" is an argument.
func TestParseFlagsAnywhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantArgs []string
		wait     bool
		format   string
	}{
		{"after", []string{"FILE", "--wait", "--format", "json"}, []string{"FILE"}, true, "json"},
		{"before", []string{"--format=json", "FILE"}, []string{"FILE"}, false, "json"},
		{"between", []string{"A", "--wait", "B", "--format", "json", "C"}, []string{"A", "B", "C"}, true, "json"},
		{"stdin", []string{"-", "--wait"}, []string{"-"}, true, "csv"},
		{"double dash", []string{"FILE", "--", "--wait", "-x"}, []string{"FILE", "--wait", "-x"}, false, "csv"},
		{"none", nil, nil, false, "csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFlagSet("x", "", "")
			wait := fs.Bool("wait", false, "")
			format := fs.String("format", "csv", "")
			env := &environment{stderr: io.Discard, getenv: func(string) string { return "" }}
			if err := env.parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fs.Args(), tt.wantArgs) || *wait != tt.wait || *format != tt.format {
				t.Errorf("args %q wait %v format %q; want %q %v %q", fs.Args(), *wait, *format, tt.wantArgs, tt.wait, tt.format)
			}
		})
	}
	fs := newFlagSet("x", "", "")
	fs.Bool("wait", false, "")
	env := &environment{stderr: io.Discard, getenv: func(string) string { return "" }}
	if err := env.parse(fs, []string{"FILE", "--no-such-flag"}); err == nil {
		t.Error("an unknown flag after an argument was accepted")
	}
}

// TestFlagsAfterArguments: the README's spelling of the commands, flags
// after the positional argument, does what it says.
func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(31, 1, 10)
	bad := []string{rows[0].tenant, "deviceConfigurations", rows[0].policy, "group", "not-a-guid", "", ""}
	path := e.writeCSV("after.csv", rows, bad)

	// run FILE --skip-invalid: the valid rows are created, exit 1 (not 2:
	// the flag was read).
	code, out, errOut := e.run(append([]string{"run", path, "--skip-invalid"}, fastWorker...)...)
	if code != exitFailed {
		t.Fatalf("run FILE --skip-invalid: exit %d\n%s\n%s", code, out, errOut)
	}
	e.assertSimHas(rows)
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")

	// report IMPORT --format json: JSON, not CSV.
	code, out, errOut = e.run("report", id, "--format", "json")
	if code != 0 {
		t.Fatalf("report IMPORT --format json: exit %d\n%s", code, errOut)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != len(rows)+1 {
		t.Fatalf("report IMPORT --format json: %d rows, %v:\n%.300s", len(got), err, out)
	}

	// ingest FILE --skip-invalid --wait: with --wait it waits for every
	// row's result and writes the report (all rows are invalid here, so
	// no worker is needed), exit 1.
	invalidOnly := e.writeCSV("invalid.csv", nil, bad, bad)
	code, out, errOut = e.run("ingest", invalidOnly, "--skip-invalid", "--wait")
	if code != exitFailed {
		t.Fatalf("ingest FILE --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	if r := readReport(t, invalidOnly+".report.csv"); len(r) != 2 || r[0]["status"] != "invalid" {
		t.Errorf("ingest --wait report: %v", r)
	}
}

// TestReportToStandardOutput: with --report - stdout is exactly the
// report; the summary goes to stderr.
func TestReportToStandardOutput(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rows := genRows(32, 1, 5)
	path := e.writeCSV("stdout.csv", rows)
	code, out, errOut := e.run(append([]string{"run", path, "--report", "-"}, fastWorker...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("stdout is not a CSV report: %v\n%s", err, out)
	}
	if len(recs) != len(rows)+1 || !slices.Equal(recs[0], contract.ReportColumns()) {
		t.Fatalf("stdout has %d records, header %q:\n%s", len(recs), recs[0], out)
	}
	for _, r := range recs[1:] {
		if r[6] != "created" {
			t.Errorf("row %s: %s", r[0], r[6])
		}
	}
	if !strings.Contains(errOut, "created 5") {
		t.Errorf("summary not on stderr:\n%s", errOut)
	}
}

// TestHelpShowsRealDefaults: --help shows the default each command really
// uses, not the one the shared flag was registered with, and not one set
// by an environment twin.
func TestHelpShowsRealDefaults(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	help := func(cmd string) string {
		t.Helper()
		code, out, errOut := e.runWith(map[string]string{"BULKASSIGN_LOG_LEVEL": "debug"}, cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d\n%s", cmd, code, errOut)
		}
		return out + errOut
	}
	serve, run := help("serve"), help("run")
	if !strings.Contains(serve, `log level: debug, info, warn, error (default "info")`) {
		t.Errorf("serve --help does not show its log level default (info):\n%s", serve)
	}
	if !strings.Contains(run, `log level: debug, info, warn, error (default "warn")`) {
		t.Errorf("run --help does not show its log level default (warn):\n%s", run)
	}
	if !strings.Contains(run, "-connect-deadline duration") || !strings.Contains(run, "(default 2m0s)") {
		t.Errorf("run --help does not show --connect-deadline with its default:\n%s", run)
	}
}

// TestGoModTidy: go.mod lists what the code needs and nothing else, its
// direct dependencies as direct ("go mod tidy" has nothing to change).
func TestGoModTidy(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "mod", "tidy", "-diff").CombinedOutput()
	if err != nil {
		t.Fatalf("go mod tidy -diff: %v\n%s", err, out)
	}
}
