package main

import (
	"context"
	"fmt"
)

func cmdValidate(ctx context.Context, env *environment, args []string) error {
	var o ingestOptions
	fs := newFlagSet("validate", "FILE|-", "Check FILE as run and ingest would, without enqueueing anything. Exit 0 when every row is valid, 2 otherwise.")
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
	sum, err := validateSource(ctx, env, src, o.options(""), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s: %d rows valid (%d assignments, %d duplicate rows), tenants: %d\n", src.name, sum.Rows, sum.Valid, sum.Duplicates, len(sum.Tenants))
	return nil
}
