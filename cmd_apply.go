package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/plan"
)

func cmdApply(ctx context.Context, env *environment, args []string) error {
	var f runFlags
	fs := newFlagSet("apply", "PLAN",
		"Enqueue exactly the create and remove rows of PLAN (written by bulkassign plan) as an import, under their row\n"+
			"numbers, process them against Graph in this process and write the per-row report (exit as run does).\n"+
			"A plan file changed after it was written is refused. Each row is still checked against Graph when it is\n"+
			"written: an assignment made since the plan is reported existing, never created twice.")
	f.register(fs, "PLAN")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one PLAN file"); err != nil {
		return err
	}
	if err := imports.CheckFormat(f.format); err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	path := fs.Arg(0)
	p, err := loadPlan(path)
	if err != nil {
		return err
	}
	// Create gives the import its own id; this one only lets Jobs validate.
	js, err := p.Jobs(jobs.NewImportID())
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", path, err)}
	}
	if len(js) == 0 {
		fmt.Fprintf(env.stdout, "%s: nothing to apply (no create or remove rows)\n", path)
		return nil
	}
	if f.report == "" {
		f.report = defaultReportPath(path, f.format)
	}
	log, err := f.log.logger(env)
	if err != nil {
		return err
	}
	pl, err := openPipeline(ctx, env, &f.nats, &f.graph, &f.work, f.metrics, 0, log)
	if err != nil {
		return err
	}
	defer pl.close()
	spec := imports.Spec{Name: "apply of " + filepath.Base(path), Source: path, Check: pl.preflight(env, &f)}
	return pl.processList(ctx, env, spec, imports.NewList(js, nil), f.report, f.format, f.quiet)
}

// loadPlan reads the plan file at path; a file that is not a plan, or a
// plan changed after it was written, is a usage error in plain words.
func loadPlan(path string) (*plan.Plan, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("plan: %w", err)}
	}
	defer r.Close()
	p, err := plan.Load(r)
	switch {
	case errors.Is(err, plan.ErrTampered):
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s: refused: the plan file was changed after bulkassign plan wrote it; run bulkassign plan again and review the new plan", path)}
	case err != nil:
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", path, err)}
	}
	return p, nil
}

// processList creates the import of a list of rows (apply, undo), says
// so unless quiet, processes it in this process and writes its report as
// run does.
func (p *pipeline) processList(ctx context.Context, env *environment, spec imports.Spec, list *imports.List, report, format string, quiet bool) error {
	imp, err := p.svc.Importer().Create(ctx, spec, list)
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(env.stderr, "import %s (%s): %d rows\n", imp.ID, spec.Name, imp.Rows)
	}
	return p.process(ctx, env, imp, report, format, quiet)
}
