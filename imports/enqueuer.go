package imports

import (
	"context"
	"fmt"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
)

// enqueuer is the sink of an enqueueing pass: it publishes the jobs and
// records the results of the rows want asks for (the jobs of a refused
// tenant become failed results), and records imp's progress every
// Config.Checkpoint rows while imp is being enqueued.
type enqueuer struct {
	im      *Importer
	imp     *jobs.Import
	pub     *jobs.Publisher
	want    func(n, row int) bool
	refused map[string]preflight.Verdict
	n       int // rows seen, in source order
	unsaved int // rows emitted since the last checkpoint
}

// Job implements ingest.Sink.
func (e *enqueuer) Job(ctx context.Context, j jobs.Job) error {
	e.n++
	if !e.want(e.n, j.Row) {
		return nil
	}
	if v, ok := e.refused[j.Tenant]; ok {
		if err := e.im.store.PutResult(ctx, v.Result(j)); err != nil {
			return err
		}
	} else if err := e.pub.Publish(ctx, j); err != nil {
		return err
	}
	return e.emitted(ctx)
}

// Result implements ingest.Sink.
func (e *enqueuer) Result(ctx context.Context, r jobs.Result) error {
	e.n++
	if !e.want(e.n, r.Row) {
		return nil
	}
	r.At = time.Now().UTC()
	if err := e.im.store.PutResult(ctx, r); err != nil {
		return err
	}
	return e.emitted(ctx)
}

// emitted counts one emitted row and records a checkpoint when due.
func (e *enqueuer) emitted(ctx context.Context) error {
	if e.unsaved++; e.unsaved < e.im.cfg.Checkpoint || e.imp.Enqueued {
		return nil
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	return e.im.store.PutImport(ctx, *e.imp)
}

// flush waits for every publish so far and notes that the rows seen are
// acknowledged.
func (e *enqueuer) flush(ctx context.Context) error {
	if _, err := e.pub.Flush(ctx); err != nil {
		return fmt.Errorf("enqueue import %s: %w", e.imp.ID, err)
	}
	e.unsaved = 0
	if !e.imp.Enqueued {
		e.imp.Emitted = e.n
	}
	return nil
}
