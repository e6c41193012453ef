package imports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
)

// Spec describes an import to create.
type Spec struct {
	// Name labels the import (status shows it), e.g. a file's base name.
	Name string
	// Source says where the rows came from: a path, "-" for standard
	// input, "nats" for a queue message, …
	Source string
	// Check, when set, checks the import's tenants before anything is
	// enqueued (see package preflight), one target per tenant: the rows of
	// a tenant whose verdict fails are recorded failed with its code
	// instead of being enqueued. An error from Check fails Create.
	Check func(ctx context.Context, targets []preflight.Target) ([]preflight.Verdict, error)
	// Key, when set, is the import's idempotency key (a request's
	// request_id, or the stream sequence of its message): Create with a
	// key it has seen returns that key's import — resuming it when it is
	// unfinished, as it stands when it is finished — instead of creating
	// another, whatever the content of imports without key. The same key
	// with other content fails with [ErrKeyReused]. Default "": the import
	// is identified by its content (see the package documentation).
	Key string
	// RequestID is the request_id of the request the import comes from,
	// recorded with it. Default "".
	RequestID string
}

// ErrKeyReused is wrapped (in a *[SourceError]) by [Importer.Create] when
// Spec.Key names an import of other content.
var ErrKeyReused = errors.New("request_id already used for another request")

// SourceError is returned by [Importer.Create] when the source cannot be
// enqueued as it is (a bad file, invalid rows, a malformed message):
// nothing was recorded. Err is what the source's Scan returned, e.g. a
// *[ingest.FileError] or an error wrapping [ingest.ErrInvalidRows].
type SourceError struct {
	Err error
}

// Error implements error.
func (e *SourceError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *SourceError) Unwrap() error { return e.Err }

// Create creates an import of src's rows, or resumes the unfinished import
// of the same content (see the package documentation), and returns its
// record once every row is enqueued or has its result. It fails with a
// *[SourceError] when src is refused, and with ctx's error when ctx ends
// first (a resumable import then stays enqueueing).
func (im *Importer) Create(ctx context.Context, spec Spec, src RowSource) (jobs.Import, error) {
	content, err := src.Scan(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return jobs.Import{}, ctx.Err()
		}
		return jobs.Import{}, &SourceError{Err: err}
	}
	refused, err := check(ctx, spec, content)
	if err != nil {
		return jobs.Import{}, err
	}
	var (
		imp jobs.Import
		id  = jobs.NewImportID()
	)
	if spec.Key != "" {
		imp, id, err = im.keyed(ctx, spec.Key, id, content)
	} else {
		imp, err = im.resumable(ctx, content)
	}
	if err != nil {
		return jobs.Import{}, err
	}
	if imp.ID == "" {
		if imp, err = im.record(ctx, id, spec, src, content); err != nil {
			return imp, err
		}
	}
	return im.enqueue(ctx, imp, src, refused)
}

// keyed returns the import key is bound to, or, when it is not recorded
// yet (this call bound key, or the process that did died before recording
// it), an Import without ID and the id to record it under. id is the id to
// bind key to when it is bound to none.
func (im *Importer) keyed(ctx context.Context, key, id string, content Content) (jobs.Import, string, error) {
	id, err := im.store.ClaimImportKey(ctx, key, id)
	if err != nil {
		return jobs.Import{}, "", err
	}
	imp, err := im.store.Import(ctx, id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return jobs.Import{}, id, nil
	case err != nil:
		return jobs.Import{}, "", err
	case imp.SHA256 != content.SHA256 || imp.Rows != content.Rows:
		return jobs.Import{}, "", &SourceError{Err: fmt.Errorf("%w (import %s): use a new request_id for a new request", ErrKeyReused, imp.ID)}
	}
	return imp, id, nil
}

// check runs spec's tenant check and returns the verdicts that fail, by
// tenant.
func check(ctx context.Context, spec Spec, content Content) (map[string]preflight.Verdict, error) {
	refused := map[string]preflight.Verdict{}
	if spec.Check == nil {
		return refused, nil
	}
	verdicts, err := spec.Check(ctx, content.Targets)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	for _, v := range verdicts {
		if !v.OK() {
			refused[v.Tenant] = v
		}
	}
	return refused, nil
}

// resumable returns the newest unfinished import of the same content, or
// an Import without ID.
func (im *Importer) resumable(ctx context.Context, content Content) (jobs.Import, error) {
	imps, err := im.store.Imports(ctx)
	if err != nil {
		return jobs.Import{}, err
	}
	for _, imp := range imps {
		if imp.SHA256 != content.SHA256 || !slices.Equal(imp.Tenants, content.Tenants) || imp.Rows != content.Rows {
			continue
		}
		n, err := im.store.ResultCount(ctx, imp.ID)
		if err != nil {
			return jobs.Import{}, err
		}
		if n >= uint64(imp.Rows) {
			// Possibly finished (a row recorded twice counts twice here):
			// read the results to be sure.
			results, err := im.store.Results(ctx, imp.ID)
			if err != nil {
				return jobs.Import{}, err
			}
			if len(results) >= imp.Rows {
				continue // finished: the same content again is a new import
			}
		}
		return imp, nil
	}
	return jobs.Import{}, nil
}

// record records a new import of content under id, enqueueing, keeping src first
// when it is a Keeper.
func (im *Importer) record(ctx context.Context, id string, spec Spec, src RowSource, content Content) (jobs.Import, error) {
	imp := jobs.Import{
		ID:         id,
		Name:       spec.Name,
		Source:     spec.Source,
		RequestID:  spec.RequestID,
		SHA256:     content.SHA256,
		Created:    time.Now().UTC(),
		Rows:       content.Rows,
		Jobs:       content.Jobs,
		Invalid:    content.Invalid,
		Duplicates: content.Duplicates,
		Tenants:    content.Tenants,
		RowSet:     content.RowSet,
	}
	if k, ok := src.(Keeper); ok {
		// Kept before the record exists, so that no record ever lacks
		// what completes it.
		req, body := k.Keep()
		if err := im.store.PutRequest(ctx, imp.ID, body); err != nil {
			return jobs.Import{}, err
		}
		imp.Request = &req
	}
	if err := im.store.PutImport(ctx, imp); err != nil {
		return jobs.Import{}, err
	}
	return imp, nil
}

// enqueue emits what imp still needs from src (see pending), publishing
// jobs and recording results, then marks imp enqueued and drops its kept
// request.
func (im *Importer) enqueue(ctx context.Context, imp jobs.Import, src RowSource, refused map[string]preflight.Verdict) (jobs.Import, error) {
	want, err := im.pending(ctx, imp)
	if err != nil {
		return imp, err
	}
	e := &enqueuer{im: im, imp: &imp, pub: im.store.NewPublisher(im.cfg.MaxInFlight), want: want, refused: refused}
	if err := src.Emit(ctx, imp.ID, e); err != nil {
		return imp, fmt.Errorf("enqueue import %s: %w", imp.ID, err)
	}
	if err := e.flush(ctx); err != nil {
		return imp, err
	}
	imp.Enqueued = true
	if err := im.store.PutImport(ctx, imp); err != nil {
		return imp, err
	}
	if imp.Request != nil {
		if err := im.store.DeleteRequest(ctx, imp.ID); err != nil {
			// Recover drops it later.
			im.log.WarnContext(ctx, "drop the kept request of an enqueued import", slog.String("import", imp.ID), slog.Any("error", err))
		}
	}
	return imp, nil
}

// pending returns which rows of imp still need emitting, by their position
// n in the source (from 1) and their row number. While imp is being
// enqueued: the rows after those recorded as acknowledged, without a
// result. Once it is enqueued: the rows whose result can no longer come
// (their job or result was lost), and no other.
func (im *Importer) pending(ctx context.Context, imp jobs.Import) (func(n, row int) bool, error) {
	if imp.Enqueued {
		prog, err := im.store.Progress(ctx, imp)
		if err != nil {
			return nil, err
		}
		lost := map[int]bool{}
		if prog.Missing > 0 {
			for row := range prog.MissingRows.Rows() {
				lost[row] = true
			}
		}
		// An import recorded without its row numbers names no missing
		// row: every row without a result is redone then.
		unnamed := prog.Missing > 0 && prog.MissingRows.Len() == 0
		have := rowsOf(prog.Results)
		return func(_, row int) bool { return lost[row] || (unnamed && !have[row]) }, nil
	}
	results, err := im.store.Results(ctx, imp.ID)
	if err != nil {
		return nil, err
	}
	have := rowsOf(results)
	return func(n, row int) bool { return n > imp.Emitted && !have[row] }, nil
}

func rowsOf(results []jobs.Result) map[int]bool {
	have := make(map[int]bool, len(results))
	for _, r := range results {
		have[r.Row] = true
	}
	return have
}
