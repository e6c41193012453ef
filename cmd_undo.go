package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/undo"
)

func cmdUndo(ctx context.Context, env *environment, args []string) error {
	var f runFlags
	fs := newFlagSet("undo", "IMPORT",
		"Remove exactly the assignments IMPORT created (from its results, never by matching names again), as a new\n"+
			"import under the same row numbers, processed in this process; writes the new import's report (exit as run\n"+
			"does). Rows already gone are reported absent: running undo again removes nothing more. After a crash, run\n"+
			"it again to finish. An import still on its way, or with rows that lost their result, is refused.")
	f.register(fs, "IMPORT")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one IMPORT"); err != nil {
		return err
	}
	if err := imports.CheckFormat(f.format); err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	log, err := f.log.logger(env)
	if err != nil {
		return err
	}
	p, err := openPipeline(ctx, env, &f.nats, &f.graph, &f.work, f.metrics, 0, log)
	if err != nil {
		return err
	}
	defer p.close()
	orig, err := lookupImport(ctx, p.b.Store, fs.Arg(0))
	if err != nil {
		return err
	}
	prog, err := p.svc.Importer().Progress(ctx, orig)
	if err != nil {
		return err
	}
	if err := undo.Ready(orig, prog.ImportProgress); err != nil {
		return undoRefused(orig, err)
	}
	// Create gives the import its own id; this one only lets Jobs validate.
	js, err := undo.Jobs(prog.Results, jobs.NewImportID())
	if err != nil {
		return undoRefused(orig, err)
	}
	if len(js) == 0 {
		fmt.Fprintf(env.stdout, "import %s created no assignment: nothing to undo\n", orig.ID)
		return nil
	}
	if f.report == "" {
		f.report = defaultReportPath("undo-"+orig.ID, f.format)
	}
	spec := imports.Spec{Name: "undo of " + orig.ID, Source: orig.Source, Check: p.preflight(env, &f)}
	return p.processList(ctx, env, spec, imports.NewList(js, nil), f.report, f.format, f.quiet)
}

// undoRefused says why orig cannot be undone (exit 2); nothing was
// enqueued.
func undoRefused(orig jobs.Import, err error) error {
	if errors.Is(err, undo.ErrNotUndoable) {
		return &exitError{code: exitUsage, err: fmt.Errorf("import %s: %w", orig.ID, err)}
	}
	return err
}
