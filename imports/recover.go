package imports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bulkassign/bulkassign/jobs"
)

// Recover completes the imports whose enqueue was interrupted (the
// process that took their request died) from the requests the store keeps
// for them, and drops the kept requests that are no longer needed: those
// of imports already enqueued, and those whose import was never recorded
// (its sender got no import id). It returns how many imports it completed
// and every failure. Completing an import another process is still
// enqueueing is harmless: both publish the same jobs, which JetStream
// stores once.
func (im *Importer) Recover(ctx context.Context) (int, error) {
	ids, err := im.store.KeptRequests(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		done, err := im.recover(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("recover import %s: %w", id, err))
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// recover completes import id from its kept request, or drops the request;
// true when it completed the import.
func (im *Importer) recover(ctx context.Context, id string) (bool, error) {
	imp, err := im.store.Import(ctx, id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return false, im.store.DeleteRequest(ctx, id)
	case err != nil:
		return false, err
	case imp.Enqueued || imp.Request == nil:
		return false, im.store.DeleteRequest(ctx, id)
	}
	body, err := im.store.Request(ctx, id)
	if err != nil {
		return false, err
	}
	src, err := im.kept(ctx, *imp.Request, body)
	if err != nil {
		return false, err
	}
	if _, err := src.Scan(ctx); err != nil {
		return false, err
	}
	if _, err := im.enqueue(ctx, imp, src, nil); err != nil {
		return false, err
	}
	im.log.InfoContext(ctx, "completed an interrupted import", slog.String("import", id), slog.Int("rows", imp.Rows))
	return true, nil
}
