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
	fs := newFlagSet("report", "IMPORT", "Write the per-row report of IMPORT (rows without a result yet are left out).\nExits 1, naming them, when rows have no result and will get none (lost results).")
	nats.register(fs)
	logs.register(fs)
	fs.StringVar(&out, "out", "-", "report file (- for standard output)")
	fs.StringVar(&format, "format", "csv", "report format: csv or json")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one IMPORT"); err != nil {
		return err
	}
	if format != "csv" && format != "json" {
		return fmt.Errorf("%w: --format %q (csv or json)", errUsage, format)
	}
	b, _, err := openBackend(ctx, env, &nats, &logs)
	if err != nil {
		return err
	}
	defer b.close()
	imp, err := lookupImport(ctx, b.store, fs.Arg(0))
	if err != nil {
		return err
	}
	prog, err := b.store.Progress(ctx, imp)
	if err != nil {
		return err
	}
	if err := writeReportFile(env, out, format, prog.Results); err != nil {
		return err
	}
	switch {
	case prog.Missing > 0:
		return &exitError{code: exitFailed, err: errors.New(missingText(imp, prog))}
	case len(prog.Results) < imp.Rows:
		fmt.Fprintf(env.stderr, "import %s: %d of %d rows have a result so far\n", imp.ID, len(prog.Results), imp.Rows)
	}
	return nil
}
