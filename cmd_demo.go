package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

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
	fs := newFlagSet("demo", "", "Run the whole pipeline on one machine: an embedded NATS, the Graph simulator with Intune-like throttling\n(100 writes per 20 s per tenant) and a few percent transient faults, and the bundled examples/demo.csv\n(5 tenants, both write strategies, some invalid and duplicate rows, --skip-invalid).")
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
	url, _, waitSim, err := startSim(simCtx, "127.0.0.1:0", simCfg, log)
	if err != nil {
		stopSim()
		return err
	}
	defer func() {
		stopSim()
		_ = waitSim()
	}()

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
	fmt.Fprintln(env.stdout, "demo: the example CSV has 5 invalid and 3 duplicate rows on purpose; they are reported, the rest is created")
	start := time.Now()
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
