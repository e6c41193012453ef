package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/jobs"
)

func cmdStatus(ctx context.Context, env *environment, args []string) error {
	var (
		nats natsOptions
		logs logOptions
	)
	fs := newFlagSet("status", "[IMPORT]", "Show every import (or one) with its rows by status, and the jobs waiting per tenant.\nSTATE is enqueueing, running, done, or \"N rows missing\" when rows have no result and will get none.")
	nats.register(fs)
	logs.register(fs)
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 1, "at most one IMPORT"); err != nil {
		return err
	}
	b, importer, err := openBackend(ctx, env, &nats, &logs, 0)
	if err != nil {
		return err
	}
	defer b.Close()

	var imps []jobs.Import
	if fs.NArg() == 1 {
		imp, err := lookupImport(ctx, b.Store, fs.Arg(0))
		if err != nil {
			return err
		}
		imps = []jobs.Import{imp}
	} else if imps, err = b.Store.Imports(ctx); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMPORT\tNAME\tCREATED\tROWS\tDONE\tCREATED\tEXISTING\tDUPLICATE\tFAILED\tINVALID\tSTATE")
	var missing []string
	for _, imp := range imps {
		p, err := importer.Progress(ctx, imp)
		if err != nil {
			return err
		}
		if err := p.Err(); err != nil {
			missing = append(missing, err.Error())
		}
		c := p.Counts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", imp.ID, imp.Name, imp.Created.Format("2006-01-02 15:04:05"),
			imp.Rows, len(p.Results), c[contract.StatusCreated], c[contract.StatusExisting], c[contract.StatusDuplicate], c[contract.StatusFailed], c[contract.StatusInvalid], p.State())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range missing {
		fmt.Fprintf(env.stdout, "\n%s\n", m)
	}
	pending, err := b.Store.PendingTenants(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		fmt.Fprintln(env.stdout, "\nwaiting jobs per tenant:")
		for t, n := range pending {
			fmt.Fprintf(env.stdout, "  %s\t%d\n", t, n)
		}
	}
	return nil
}
