package main

import (
	"context"
	"fmt"

	"github.com/bulkassign/bulkassign/imports"
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
	if err := imports.CheckFormat(format); err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	b, importer, err := openBackend(ctx, env, &nats, &logs, 0)
	if err != nil {
		return err
	}
	defer b.Close()
	imp, err := lookupImport(ctx, b.Store, fs.Arg(0))
	if err != nil {
		return err
	}
	p, err := writeReport(ctx, env, importer, imp, out, format)
	if err != nil {
		return err
	}
	if err := p.Err(); err != nil {
		return err // exit 1
	}
	if len(p.Results) < imp.Rows {
		fmt.Fprintf(env.stderr, "import %s: %d of %d rows have a result so far\n", imp.ID, len(p.Results), imp.Rows)
	}
	return nil
}
