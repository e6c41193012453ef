package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/plan"
	"github.com/bulkassign/bulkassign/resolve"
)

func cmdPlan(ctx context.Context, env *environment, args []string) error {
	var (
		g         graphOptions
		ing       ingestOptions
		logs      logOptions
		out       string
		readLimit int
	)
	fs := newFlagSet("plan", "FILE|-",
		"Validate FILE, resolve group, filter and policy names in each row's tenant, read each policy's assignments,\n"+
			"and write what applying FILE would do per row (create, exists, remove, absent, duplicate, conflict,\n"+
			"invalid, unresolved, failed) to a plan file, with a summary per tenant and kind. Reads Graph, never\n"+
			"writes it; needs no NATS. Exit 0 when every row can be applied as planned, 1 when a row conflicts or\n"+
			"Graph could not be read, 2 when a row is invalid or unresolved.")
	g.register(fs)
	ing.register(fs, false)
	logs.register(fs)
	fs.StringVar(&out, "out", "", "plan file to write (default: FILE's name with .plan.json, plan.json for -)")
	fs.IntVar(&readLimit, "read-limit", resolve.DefaultReadLimit, "Graph reads per 20 s per tenant")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one FILE (or - for standard input)"); err != nil {
		return err
	}
	if readLimit <= 0 {
		return fmt.Errorf("%w: --read-limit must be positive", errUsage)
	}
	log, err := logs.logger(env)
	if err != nil {
		return err
	}
	client, err := g.client(env, nil)
	if err != nil {
		return err
	}
	defer client.Close()
	reads, err := resolve.NewReads(resolve.ReadConfig{Limit: readLimit})
	if err != nil {
		return err
	}
	src, err := openSource(env, fs.Arg(0))
	if err != nil {
		return err
	}
	defer src.cleanup()
	f, err := src.open()
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer f.Close()

	p, err := plan.Build(ctx, plan.Config{Graph: client, Ingest: ing.options(), Reads: reads, Logger: log}, f, src.name)
	var fe *ingest.FileError
	switch {
	case errors.As(err, &fe):
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", src.name, fe)}
	case err != nil:
		return err
	}
	if out == "" {
		out = defaultPlanPath(src.name)
	}
	if err := writePlan(out, p); err != nil {
		return err
	}
	printPlanProblems(env, src.name, p, ing.maxErrors)
	sum := p.Summary()
	fmt.Fprintf(env.stdout, "%s: plan written to %s (plan_sha256 %s)\n", src.name, out, p.SHA256)
	if err := sum.WriteText(env.stdout); err != nil {
		return err
	}
	switch {
	case sum.Total[plan.Invalid]+sum.Total[plan.Unresolved] > 0:
		return &exitError{code: exitUsage}
	case !sum.OK():
		return &exitError{code: exitFailed}
	}
	return nil
}

// defaultPlanPath is FILE with its extension replaced by .plan.json.
func defaultPlanPath(name string) string {
	if name == "-" {
		return "plan.json"
	}
	return strings.TrimSuffix(name, filepath.Ext(name)) + ".plan.json"
}

// writePlan writes the plan to path through a temporary file renamed into
// place, so that a reader never sees half a plan.
func writePlan(path string, p *plan.Plan) error {
	if err := writeFile(path, 0o600, p.Write); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// printPlanProblems lists the first max rows that cannot be applied as
// planned (--max-errors); the plan file has them all.
func printPlanProblems(env *environment, name string, p *plan.Plan, max int) {
	n := 0
	for _, e := range p.Entries {
		if e.Decision.OK() {
			continue
		}
		if n++; n <= max {
			fmt.Fprintf(env.stderr, "%s: row %d: %s: %s\n", name, e.Row, e.Decision, e.Reason)
		}
	}
	if n > max {
		fmt.Fprintf(env.stderr, "%s: … and %d more rows that cannot be applied as planned (see the plan file)\n", name, n-max)
	}
}
