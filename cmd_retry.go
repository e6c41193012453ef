package main

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
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
	log, err := logs.logger(env)
	if err != nil {
		return err
	}
	var p *pipeline
	var b *backend
	if wait {
		if p, err = openPipeline(ctx, env, &nats, &graphOpts, &work, log); err != nil {
			return err
		}
		b = p.b
	} else if b, err = nats.open(ctx, env.stderr, log, lookUp); err != nil {
		return err
	}
	defer b.close()
	orig, err := lookupImport(ctx, b.store, fs.Arg(0))
	if err != nil {
		return err
	}
	imp, err := retryImport(ctx, b.store, orig)
	if err != nil {
		return err
	}
	if imp.Rows == 0 {
		fmt.Fprintf(env.stdout, "import %s has no failed rows to retry\n", orig.ID)
		return nil
	}
	fmt.Fprintf(env.stdout, "import %s: %d failed rows of %s re-enqueued\n", imp.ID, imp.Rows, orig.ID)
	if !wait {
		return nil
	}
	return p.process(ctx, env, imp, "", cmp.Or(report, imp.ID+".report.csv"), "csv", quiet)
}

// retryImport enqueues the failed rows of orig as a new import.
func retryImport(ctx context.Context, store *jobs.Store, orig jobs.Import) (jobs.Import, error) {
	results, err := store.Results(ctx, orig.ID)
	if err != nil {
		return jobs.Import{}, err
	}
	imp := jobs.Import{
		ID: jobs.NewImportID(), Name: "retry of " + orig.ID, Source: orig.Source, SHA256: orig.SHA256,
		Created: time.Now().UTC(),
	}
	var retry []jobs.Job
	tenants := map[string]bool{}
	for _, r := range results {
		if r.Status != jobs.StatusFailed || r.Job == nil {
			continue
		}
		j := *r.Job
		j.ImportID = imp.ID
		retry = append(retry, j)
		imp.RowSet.Add(j.Row)
		if !tenants[j.Tenant] {
			tenants[j.Tenant] = true
			imp.Tenants = append(imp.Tenants, j.Tenant)
		}
	}
	imp.Rows, imp.Jobs = len(retry), len(retry)
	if len(retry) == 0 {
		return imp, nil
	}
	if err := store.PutImport(ctx, imp); err != nil {
		return imp, err
	}
	pub := store.NewPublisher(1024)
	for _, j := range retry {
		if err := pub.Publish(ctx, j); err != nil {
			return imp, err
		}
	}
	if _, err := pub.Flush(ctx); err != nil {
		return imp, err
	}
	imp.Enqueued = true
	return imp, store.PutImport(ctx, imp)
}
