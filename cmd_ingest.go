package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/ingest"
)

func cmdIngest(ctx context.Context, env *environment, args []string) error {
	var (
		nats  natsOptions
		ing   ingestOptions
		logs  logOptions
		wait  bool
		quiet bool
	)
	fs := newFlagSet("ingest", "FILE|-", "Validate FILE and enqueue it as an import in NATS; workers (bulkassign serve) process it.\nWith --wait, follow it until every row has a result (exit as run does).")
	nats.register(fs)
	ing.register(fs, true)
	logs.register(fs)
	fs.BoolVar(&wait, "wait", false, "wait until every row has a result, showing progress")
	fs.BoolVar(&quiet, "quiet", false, "no progress output")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one FILE (or - for standard input)"); err != nil {
		return err
	}
	src, err := openSource(env, fs.Arg(0))
	if err != nil {
		return err
	}
	defer src.cleanup()
	b, importer, err := openBackend(ctx, env, &nats, &logs, ing.maxInFlight)
	if err != nil {
		return err
	}
	defer b.Close()
	if wait && b.Server != nil {
		// This process runs the data dir's server: no worker can reach it,
		// so waiting makes sense only when no row needs one.
		n, err := validJobs(ctx, src, &ing)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("--wait: no bulkassign serve or run is using data dir %s, so nothing would process the rows; start `bulkassign serve` first, or use `bulkassign run`", nats.dataDir)
		}
	}
	imp, err := createImport(ctx, env, importer, src, &ing, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "import %s: %d rows enqueued (%d jobs, %d invalid, %d duplicate)\n", imp.ID, imp.Rows, imp.Jobs, imp.Invalid, imp.Duplicates)
	if !wait {
		return nil
	}
	if err := waitImport(ctx, env, importer, imp, quiet, nil); err != nil {
		return err
	}
	return finishReport(context.WithoutCancel(ctx), env, importer, imp, defaultReportPath(src.name, "csv"), "csv")
}

// validJobs counts the rows of src that would become jobs (enqueue prints
// the invalid ones later).
func validJobs(ctx context.Context, src *source, o *ingestOptions) (int, error) {
	f, err := src.open()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errUsage, err)
	}
	defer f.Close()
	sum, err := ingest.Validate(ctx, f, o.options())
	if err != nil && !errors.Is(err, ingest.ErrInvalidRows) {
		return 0, err
	}
	return sum.Valid, nil
}
