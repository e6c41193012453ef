package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
	"github.com/bulkassign/bulkassign/resolve"
)

// ingestOptions are the CSV flags shared by run, ingest and validate.
type ingestOptions struct {
	tenant            string
	allowExtraColumns bool
	skipInvalid       bool
	maxErrors         int
	maxInFlight       int
	readLimit         int
}

func (o *ingestOptions) register(fs *flag.FlagSet, enqueue bool) {
	fs.StringVar(&o.tenant, "tenant", "", "tenant (GUID or domain) for rows without tenant_id")
	fs.BoolVar(&o.allowExtraColumns, "allow-extra-columns", false, "ignore unknown columns instead of rejecting the file")
	fs.IntVar(&o.maxErrors, "max-errors", 100, "invalid rows listed in full (the rest are counted)")
	if enqueue {
		fs.BoolVar(&o.skipInvalid, "skip-invalid", false, "enqueue the valid rows and report the invalid ones as invalid (exit 1)")
		fs.IntVar(&o.maxInFlight, "max-inflight-publishes", 1024, "JetStream publishes awaiting their ack at once")
		fs.IntVar(&o.readLimit, "read-limit", resolve.DefaultReadLimit, "Graph reads per 20 s per tenant to resolve group_name, filter_name and policy_name")
	}
}

// resolver returns the resolver of one import's names: it reads Graph
// through client, paced by --read-limit.
func (o *ingestOptions) resolver(client *graph.Client, log *slog.Logger) (*resolve.Resolver, error) {
	if o.readLimit <= 0 {
		return nil, fmt.Errorf("%w: --read-limit must be positive", errUsage)
	}
	reads, err := resolve.NewReads(resolve.ReadConfig{Limit: o.readLimit})
	if err != nil {
		return nil, err
	}
	return resolve.New(resolve.Config{Lookup: client, Reads: reads, Logger: log})
}

func (o *ingestOptions) options() ingest.Options {
	return ingest.Options{
		Tenant:            o.tenant,
		AllowExtraColumns: o.allowExtraColumns,
		SkipInvalid:       o.skipInvalid,
		MaxErrors:         o.maxErrors,
	}
}

// source is an input CSV that can be read twice (validate, then enqueue).
// Standard input ("-") is spooled to a temporary file.
type source struct {
	path    string // file to open
	name    string // as given by the user
	cleanup func()
}

func openSource(env *environment, arg string) (*source, error) {
	if arg != "-" {
		if _, err := os.Stat(arg); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		return &source{path: arg, name: arg, cleanup: func() {}}, nil
	}
	f, err := os.CreateTemp("", "bulkassign-stdin-*.csv")
	if err != nil {
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	if _, err := io.Copy(f, env.stdin); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	return &source{path: f.Name(), name: "-", cleanup: func() { os.Remove(f.Name()) }}, nil
}

func (s *source) open() (*os.File, error) { return os.Open(s.path) }

// validateSource runs the validation pass and prints what is wrong. It
// returns an exit-2 error when the file cannot be enqueued as asked.
func validateSource(ctx context.Context, env *environment, src *source, opts ingest.Options) (ingest.Summary, error) {
	f, err := src.open()
	if err != nil {
		return ingest.Summary{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	defer f.Close()
	sum, err := ingest.Validate(ctx, f, opts)
	printRowErrors(env.stderr, src.name, sum)
	switch {
	case err == nil:
		return sum, nil
	case ctx.Err() != nil:
		return sum, ctx.Err()
	}
	return sum, sourceError(env, src.name, sum, err)
}

// sourceError is the exit-2 error of a file that cannot be enqueued as it
// is; its invalid rows are printed already.
func sourceError(env *environment, name string, sum ingest.Summary, err error) error {
	if errors.Is(err, ingest.ErrInvalidRows) {
		fmt.Fprintf(env.stderr, "%s: %d of %d rows invalid; nothing enqueued (use --skip-invalid to enqueue the valid rows)\n", name, sum.Invalid, sum.Rows)
		return &exitError{code: exitUsage}
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", name, err)}
}

func printRowErrors(w io.Writer, name string, sum ingest.Summary) {
	for i := range sum.Errors {
		fmt.Fprintf(w, "%s: %v\n", name, &sum.Errors[i])
	}
	if more := sum.ErrorCount - len(sum.Errors); more > 0 {
		fmt.Fprintf(w, "%s: … and %d more invalid rows\n", name, more)
	}
}

// createImport validates src, resolves the names its rows give through
// names, and enqueues it as an import through importer, resuming an
// unfinished import of the same content (see package imports). With check,
// each tenant of the file is checked first. It prints what is wrong with
// invalid rows (names that match no object or several among them), and
// returns an exit-2 error when the file cannot be enqueued as asked.
func createImport(ctx context.Context, env *environment, importer *imports.Importer, src *source, o *ingestOptions, names imports.Names, check checkFunc) (jobs.Import, error) {
	opts := o.options()
	opts.AllowUnresolved = true
	rows, err := imports.ResolveNames(imports.CSVFile(src.path, opts), imports.NamesConfig{Names: names, Ingest: opts})
	if err != nil {
		return jobs.Import{}, err
	}
	imp, err := importer.Create(ctx, imports.Spec{Name: filepath.Base(src.name), Source: src.name, Check: check}, rows)
	var se *imports.SourceError
	if err == nil || errors.As(err, &se) {
		printRowErrors(env.stderr, src.name, rows.Summary())
	}
	if se == nil {
		return imp, err
	}
	return imp, sourceError(env, src.name, rows.Summary(), se.Err)
}

// checkFunc checks the tenants of a file before it is enqueued (see
// package preflight): one verdict per target.
type checkFunc = func(ctx context.Context, targets []preflight.Target) ([]preflight.Verdict, error)
