package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphsim"
	"github.com/bulkassign/bulkassign/plan"
	"github.com/bulkassign/bulkassign/resolve"
)

//go:embed examples/demo.csv
var demoCSV []byte

func cmdDemo(ctx context.Context, env *environment, args []string) error {
	var (
		f       runFlags
		sim     simOptions
		keepDir string
	)
	fs := newFlagSet("demo", "", "Run the whole pipeline on one machine: an embedded NATS, the Graph simulator with Intune-like throttling\n(100 writes per 20 s per tenant) and a few percent transient faults, and the bundled examples/demo.csv\n(5 tenants, both write strategies, some invalid and duplicate rows, --skip-invalid), whose last rows give\ngroup, filter and policy names: the plan of the file is shown first, then it is run.")
	f.work.register(fs)
	f.log.register(fs)
	simDef := simDefaults()
	simDef.faultRate, simDef.resetAfter = 0.03, 0.01 // a few percent transient and ambiguous faults
	sim.register(fs, "sim-", simDef)
	fs.StringVar(&keepDir, "data-dir", "", "JetStream store directory (default: a temporary one, removed afterwards)")
	fs.StringVar(&f.report, "report", "", "report file (default: in the temporary directory, kept)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress output")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 0, "no arguments"); err != nil {
		return err
	}
	log, err := f.log.logger(env)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bulkassign-demo-")
	if err != nil {
		return err
	}
	dataDir := keepDir
	if dataDir == "" {
		dataDir = filepath.Join(work, "data")
		defer os.RemoveAll(dataDir)
	}
	csvPath := filepath.Join(work, "demo.csv")
	if err := os.WriteFile(csvPath, demoCSV, 0o600); err != nil {
		return err
	}
	if f.report == "" {
		f.report = filepath.Join(work, "demo.report.csv")
	}

	simCfg, err := sim.config(log)
	if err != nil {
		return err
	}
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	url, simSrv, waitSim, err := startSim(simCtx, "127.0.0.1:0", simCfg, log)
	if err != nil {
		stopSim()
		return err
	}
	defer func() {
		stopSim()
		_ = waitSim()
	}()
	if err := seedDemoNames(simSrv); err != nil {
		return err
	}

	f.nats = natsOptions{dataDir: dataDir, host: "127.0.0.1", replicas: 1, command: "demo"}
	f.graph = graphOptions{cloud: "global", graphURL: url, timeout: 10 * time.Second}
	f.ing = ingestOptions{skipInvalid: true, maxErrors: 100, maxInFlight: 1024, readLimit: resolve.DefaultReadLimit}
	f.format = "csv"
	demoEnv := *env
	demoEnv.getenv = func(k string) string {
		if k == "BULKASSIGN_GRAPH_TOKEN" {
			return "demo-token"
		}
		return ""
	}
	fmt.Fprintf(env.stdout, "demo: Graph simulator at %s (%d writes per %s per tenant, %.0f%% faults), embedded NATS in %s\n",
		url, sim.appWrites, sim.window, 100*(sim.faultRate+sim.resetAfter), dataDir)
	fmt.Fprintln(env.stdout, "demo: the example CSV has 6 invalid and 3 duplicate rows on purpose; they are reported, the rest is created.\n"+
		"demo: its last 8 rows give names instead of ids (the same names in 3 tenants, one removal, one name two groups share)")
	start := time.Now()
	if err := showDemoPlan(ctx, env, &demoEnv, &f, csvPath, log); err != nil {
		return err
	}
	err = runPipeline(ctx, &demoEnv, &f, &source{path: csvPath, name: csvPath, cleanup: func() {}}, log)
	var ee *exitError
	if errors.As(err, &ee) && ee.code == exitFailed && ee.err == nil {
		// Invalid rows are part of the demo; failed rows are not.
		err = demoCheck(f.report)
	}
	if err == nil {
		fmt.Fprintf(env.stdout, "demo finished in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	return err
}

// Names of the demo's tenants (examples/demo.csv's last rows give them).
const (
	demoGroup      = "Intune – Pilot Devices"
	demoFilter     = "Corporate Windows"
	demoCompliance = "Baseline – Windows Compliance"
	demoConfig     = "Baseline – Windows"
	demoOldGroup   = "Old Pilot"           // assigned already; a row removes it
	demoTwinsGroup = "All Windows Devices" // two groups: a row naming it is refused
)

// seedDemoNames gives three of the demo's tenants a group, a filter and
// two policies of the same names (and their own ids), one tenant an
// assignment to remove, and one two groups of the same name.
func seedDemoNames(sim *graphsim.Server) error {
	for _, tn := range []string{"6513270e-269e-0d37-f2a7-4de452e6b438", "d23f0824-128b-2f33-0c5c-7fd0a6a3a450", "contoso.onmicrosoft.com"} {
		sim.SeedGroup(tn, demoGroup)
		if _, err := sim.SeedFilter(tn, demoFilter, "windows10AndLater"); err != nil {
			return err
		}
		if _, err := sim.SeedPolicy(tn, "deviceCompliancePolicies", demoCompliance); err != nil {
			return err
		}
		config, err := sim.SeedPolicy(tn, "deviceConfigurations", demoConfig)
		if err != nil {
			return err
		}
		switch tn {
		case "d23f0824-128b-2f33-0c5c-7fd0a6a3a450":
			old := sim.SeedGroup(tn, demoOldGroup)
			if err := sim.Seed(tn, "deviceConfigurations", config, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: old}}); err != nil {
				return err
			}
		case "contoso.onmicrosoft.com":
			sim.SeedGroup(tn, demoTwinsGroup)
			sim.SeedGroup(tn, demoTwinsGroup)
		}
	}
	return nil
}

// showDemoPlan prints what bulkassign plan says of the demo's file before
// it is run: the totals, and each named row with the ids its names
// resolved to in its tenant (or why they did not).
func showDemoPlan(ctx context.Context, env, demoEnv *environment, f *runFlags, csvPath string, log *slog.Logger) error {
	client, err := f.graph.client(demoEnv, nil)
	if err != nil {
		return err
	}
	defer client.Close()
	in, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer in.Close()
	p, err := plan.Build(ctx, plan.Config{Graph: client, Ingest: f.ing.options(), Logger: log}, in, csvPath)
	if err != nil {
		return err
	}
	sum := p.Summary()
	fmt.Fprintf(env.stdout, "demo: plan (Graph read, nothing written yet): %d rows: %s\n", sum.Rows, sum.Total)
	short := func(id string) string { // a GUID's first 8 digits; a domain as it is
		if len(id) < 36 {
			return id
		}
		return id[:8] + "…"
	}
	for _, e := range p.Entries {
		if e.PolicyName == "" && e.GroupName == "" && e.FilterName == "" {
			continue
		}
		var what []string
		for _, n := range []struct{ name, id string }{{e.PolicyName, e.PolicyID}, {e.GroupName, e.GroupID}, {e.FilterName, e.FilterID}} {
			if n.name != "" && n.id != "" {
				what = append(what, fmt.Sprintf("%q → %s", n.name, short(n.id)))
			}
		}
		if !e.Decision.OK() {
			what = append(what, e.Reason)
		}
		fmt.Fprintf(env.stdout, "demo:   row %d, tenant %s: %s: %s\n", e.Row, short(e.Tenant), e.Decision, strings.Join(what, ", "))
	}
	return nil
}

// demoCheck succeeds when the report has no failed row (invalid ones are
// the demo's own).
func demoCheck(report string) error {
	data, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	if n := countStatus(data, "failed"); n > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d rows failed: see %s", n, report)}
	}
	return nil
}

// countStatus counts the report rows with the given status.
func countStatus(report []byte, status string) int {
	recs, err := csv.NewReader(bytes.NewReader(report)).ReadAll()
	if err != nil || len(recs) == 0 {
		return 0
	}
	col := slices.Index(recs[0], "status")
	n := 0
	for _, r := range recs[1:] {
		if col >= 0 && col < len(r) && r[col] == status {
			n++
		}
	}
	return n
}
