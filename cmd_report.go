package main

import (
	"context"
	"errors"
	"fmt"
)

func cmdReport(ctx context.Context, env *environment, args []string) error {
	var (
		nats   natsOptions
		logs   logOptions
		out    string
		format string
	)
	fs := newFlagSet("report", "IMPORT", "Write the per-row report of IMPORT (rows without a result yet are left out).")
	nats.register(fs)
	logs.register(fs)
	fs.StringVar(&out, "out", "-", "report file (- for standard output)")
	fs.StringVar(&format, "format", "csv", "report format: csv or json")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: exitUsage, err: errors.New("report takes one IMPORT")}
	}
	if format != "csv" && format != "json" {
		return fmt.Errorf("%w: --format %q (csv or json)", errUsage, format)
	}
	log, err := logs.logger(env)
	if err != nil {
		return err
	}
	b, err := nats.open(ctx, log)
	if err != nil {
		return err
	}
	defer b.close()
	imp, err := b.store.Import(ctx, fs.Arg(0))
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("import %q: %w", fs.Arg(0), err)}
	}
	results, err := b.store.Results(ctx, imp.ID)
	if err != nil {
		return err
	}
	if err := writeReportFile(env, out, format, results); err != nil {
		return err
	}
	if len(results) < imp.Rows {
		fmt.Fprintf(env.stderr, "import %s: %d of %d rows have a result so far\n", imp.ID, len(results), imp.Rows)
	}
	return nil
}
