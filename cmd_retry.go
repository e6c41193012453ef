package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/service"
)

func cmdRetry(ctx context.Context, env *environment, args []string) error {
	var (
		nats      natsOptions
		graphOpts graphOptions
		work      workerOptions
		logs      logOptions
		wait      bool
		quiet     bool
		report    string
	)
	fs := newFlagSet("retry", "IMPORT", "Re-enqueue the failed rows of IMPORT as a new import (same row numbers).\nWithout --wait, workers elsewhere (bulkassign serve) process it; with --wait, this process does,\nwaits for every row and writes the new import's report (exit as run does).")
	nats.register(fs)
	graphOpts.register(fs)
	work.register(fs)
	logs.register(fs)
	fs.BoolVar(&wait, "wait", false, "process the retried rows in this process, wait for them and write the report")
	fs.BoolVar(&quiet, "quiet", false, "no progress output")
	fs.StringVar(&report, "report", "", "report file with --wait (default IMPORT.report.csv for the new import)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one IMPORT"); err != nil {
		return err
	}
	var (
		p        *pipeline
		b        *service.Backend
		importer *imports.Importer
		err      error
	)
	if wait {
		log, err := logs.logger(env)
		if err != nil {
			return err
		}
		if p, err = openPipeline(ctx, env, &nats, &graphOpts, &work, "", 0, log); err != nil {
			return err
		}
		b, importer = p.b, p.svc.Importer()
	} else if b, importer, err = openBackend(ctx, env, &nats, &logs, 0); err != nil {
		return err
	}
	defer b.Close()
	orig, err := lookupImport(ctx, b.Store, fs.Arg(0))
	if err != nil {
		return err
	}
	failed, err := importer.FailedRows(ctx, orig)
	if err != nil {
		return err
	}
	if failed.Len() == 0 {
		fmt.Fprintf(env.stdout, "import %s has no failed rows to retry\n", orig.ID)
		return nil
	}
	imp, err := importer.Create(ctx, imports.Spec{Name: "retry of " + orig.ID, Source: orig.Source}, failed)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "import %s: %d failed rows of %s re-enqueued\n", imp.ID, imp.Rows, orig.ID)
	if !wait {
		return nil
	}
	return p.process(ctx, env, imp, cmp.Or(report, imp.ID+".report.csv"), "csv", quiet)
}
