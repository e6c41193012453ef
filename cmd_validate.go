package main

import (
	"context"
	"fmt"
)

func cmdValidate(ctx context.Context, env *environment, args []string) error {
	var o ingestOptions
	fs := newFlagSet("validate", "FILE|-", "Check FILE as run and ingest would, without enqueueing anything. Exit 0 when every row is valid, 2 otherwise.\n"+
		"Rows that name a group, filter or policy (group_name, filter_name, policy_name) or remove an assignment\n"+
		"(action remove) are valid here without Graph: run, ingest and plan resolve the names in each row's tenant.")
	o.register(fs, false)
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
	opts := o.options()
	opts.AllowUnresolved = true
	sum, err := validateSource(ctx, env, src, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s: %d rows valid (%d assignments, %d duplicate rows), tenants: %d\n", src.name, sum.Rows, sum.Valid, sum.Duplicates, len(sum.Tenants))
	if sum.Unresolved > 0 || sum.Removals > 0 {
		fmt.Fprintf(env.stdout, "%s: %d rows give names to resolve in their tenant, %d remove assignments: bulkassign plan shows what they would do\n", src.name, sum.Unresolved, sum.Removals)
	}
	return nil
}
