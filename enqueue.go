package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
)

// ingestOptions are the CSV flags shared by run, ingest and validate.
type ingestOptions struct {
	tenant            string
	allowExtraColumns bool
	skipInvalid       bool
	maxErrors         int
	maxInFlight       int
}

func (o *ingestOptions) register(fs *flag.FlagSet, enqueue bool) {
	fs.StringVar(&o.tenant, "tenant", "", "tenant (GUID or domain) for rows without tenant_id")
	fs.BoolVar(&o.allowExtraColumns, "allow-extra-columns", false, "ignore unknown columns instead of rejecting the file")
	fs.IntVar(&o.maxErrors, "max-errors", 100, "invalid rows listed in full (the rest are counted)")
	if enqueue {
		fs.BoolVar(&o.skipInvalid, "skip-invalid", false, "enqueue the valid rows and report the invalid ones as invalid (exit 1)")
		fs.IntVar(&o.maxInFlight, "max-inflight-publishes", 1024, "JetStream publishes awaiting their ack at once")
	}
}

func (o *ingestOptions) options(importID string) ingest.Options {
	return ingest.Options{
		Tenant:            o.tenant,
		AllowExtraColumns: o.allowExtraColumns,
		SkipInvalid:       o.skipInvalid,
		MaxErrors:         o.maxErrors,
		ImportID:          importID,
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
// returns an exit-2 error when the file cannot be enqueued as asked. sink,
// when set, sees the pass's jobs and results (nothing is enqueued).
func validateSource(ctx context.Context, env *environment, src *source, opts ingest.Options, sink ingest.Sink) (ingest.Summary, error) {
	f, err := src.open()
	if err != nil {
		return ingest.Summary{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	defer f.Close()
	var sum ingest.Summary
	if sink == nil {
		sum, err = ingest.Validate(ctx, f, opts)
	} else {
		sum, err = ingest.Ingest(ctx, f, opts, sink)
	}
	printRowErrors(env.stderr, src.name, sum)
	switch {
	case err == nil:
		return sum, nil
	case errors.Is(err, ingest.ErrInvalidRows) && opts.SkipInvalid:
		return sum, nil
	case errors.Is(err, ingest.ErrInvalidRows):
		fmt.Fprintf(env.stderr, "%s: %d of %d rows invalid; nothing enqueued (use --skip-invalid to enqueue the valid rows)\n", src.name, sum.Invalid, sum.Rows)
		return sum, &exitError{code: exitUsage}
	case ctx.Err() != nil:
		return sum, ctx.Err()
	default:
		return sum, &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", src.name, err)}
	}
}

func printRowErrors(w io.Writer, name string, sum ingest.Summary) {
	for i := range sum.Errors {
		fmt.Fprintf(w, "%s: %v\n", name, &sum.Errors[i])
	}
	if more := sum.ErrorCount - len(sum.Errors); more > 0 {
		fmt.Fprintf(w, "%s: … and %d more invalid rows\n", name, more)
	}
}

// enqueueSink publishes valid rows as jobs and records invalid and
// duplicate rows' results, skipping rows that already have a result (a
// resumed import); rows collects every row number. The rows of a tenant
// that failed its preflight are recorded failed instead of published.
type enqueueSink struct {
	store   *jobs.Store
	pub     *jobs.Publisher
	done    map[int]bool
	refused map[string]preflight.Verdict
	rows    jobs.RowSet
}

func (s *enqueueSink) Job(ctx context.Context, j jobs.Job) error {
	s.rows.Add(j.Row)
	if s.done[j.Row] {
		return nil
	}
	if v, ok := s.refused[j.Tenant]; ok {
		return s.store.PutResult(ctx, v.Result(j))
	}
	return s.pub.Publish(ctx, j)
}

func (s *enqueueSink) Result(ctx context.Context, r jobs.Result) error {
	s.rows.Add(r.Row)
	if s.done[r.Row] {
		return nil
	}
	r.At = time.Now().UTC()
	return s.store.PutResult(ctx, r)
}

// checkFunc checks the tenants of a file before it is enqueued (see
// package preflight): one verdict per target.
type checkFunc func(ctx context.Context, targets []preflight.Target) ([]preflight.Verdict, error)

// enqueue validates src and enqueues it as an import. An unfinished import
// of the same content (same SHA-256 and tenants) is resumed rather than
// started again, so that "run it again" after a crash finishes the rest;
// a finished one is started afresh (its rows then report existing). With
// check, each tenant of the file is checked first, and the rows of those
// that fail are recorded failed with the verdict's code, not enqueued.
func enqueue(ctx context.Context, env *environment, b *backend, src *source, o *ingestOptions, check checkFunc) (jobs.Import, error) {
	var targets preflight.Collector
	var sink ingest.Sink
	if check != nil {
		sink = &targets
	}
	sum, err := validateSource(ctx, env, src, o.options(""), sink)
	if err != nil {
		return jobs.Import{}, err
	}
	refused := map[string]preflight.Verdict{}
	if check != nil {
		verdicts, err := check(ctx, targets.Targets())
		if err != nil {
			return jobs.Import{}, fmt.Errorf("preflight: %w", err)
		}
		for _, v := range verdicts {
			if !v.OK() {
				refused[v.Tenant] = v
			}
		}
	}
	imp, done, err := resumable(ctx, b.store, sum)
	if err != nil {
		return jobs.Import{}, err
	}
	if imp.ID == "" {
		imp = jobs.Import{
			ID:         jobs.NewImportID(),
			Name:       filepath.Base(src.name),
			Source:     src.name,
			SHA256:     sum.SHA256,
			Created:    time.Now().UTC(),
			Rows:       sum.Rows,
			Jobs:       sum.Valid,
			Invalid:    sum.Invalid,
			Duplicates: sum.Duplicates,
			Tenants:    sum.Tenants,
		}
	}
	if err := b.store.PutImport(ctx, imp); err != nil {
		return imp, err
	}
	f, err := src.open()
	if err != nil {
		return imp, err
	}
	defer f.Close()
	es := &enqueueSink{store: b.store, pub: b.store.NewPublisher(cmp.Or(o.maxInFlight, 1024)), done: done, refused: refused}
	_, ingErr := ingest.Ingest(ctx, f, o.options(imp.ID), es)
	_, flushErr := es.pub.Flush(ctx)
	if ingErr != nil && !errors.Is(ingErr, ingest.ErrInvalidRows) {
		return imp, fmt.Errorf("enqueue %s: %w", src.name, ingErr)
	}
	if flushErr != nil {
		return imp, fmt.Errorf("enqueue %s: %w", src.name, flushErr)
	}
	imp.Enqueued, imp.RowSet = true, es.rows
	if err := b.store.PutImport(ctx, imp); err != nil {
		return imp, err
	}
	return imp, nil
}

// resumable finds the newest unfinished import of the same content and the
// rows it already has results for.
func resumable(ctx context.Context, store *jobs.Store, sum ingest.Summary) (jobs.Import, map[int]bool, error) {
	imps, err := store.Imports(ctx)
	if err != nil {
		return jobs.Import{}, nil, err
	}
	for _, imp := range imps {
		if imp.SHA256 != sum.SHA256 || !slices.Equal(imp.Tenants, sum.Tenants) || imp.Rows != sum.Rows {
			continue
		}
		results, err := store.Results(ctx, imp.ID)
		if err != nil {
			return jobs.Import{}, nil, err
		}
		if len(results) >= imp.Rows {
			continue // finished: a new run starts a new import
		}
		done := make(map[int]bool, len(results))
		for _, r := range results {
			done[r.Row] = true
		}
		return imp, done, nil
	}
	return jobs.Import{}, nil, nil
}
