package imports

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// missingReadTimeout bounds one check for missing rows.
const missingReadTimeout = 10 * time.Second

// Wait blocks until every row of imp has a result and returns nil. It
// calls progress, when not nil, with the rows counted so far each time a
// row gets its result (one call at a time). It fails with a
// *[MissingError] when rows lack a result that can no longer come
// (checked every Config.MissingCheck), and with ctx's error when ctx ends
// first.
func (im *Importer) Wait(ctx context.Context, imp jobs.Import, progress func(Counts)) error {
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	complete := make(chan struct{})
	var once sync.Once
	counts := Counts{}
	errc := make(chan error, 1)
	go func() {
		errc <- im.store.WatchResults(watchCtx, imp.ID, func(r jobs.Result) {
			counts[r.Status]++
			if progress != nil {
				progress(counts.clone())
			}
			if counts.Done() >= imp.Rows {
				once.Do(func() { close(complete) })
			}
		})
	}()
	if imp.Rows == 0 {
		once.Do(func() { close(complete) })
	}
	// stop ends the watch and returns err.
	stop := func(err error) error {
		cancel()
		<-errc
		return err
	}
	check := time.NewTicker(im.cfg.MissingCheck)
	defer check.Stop()
	for {
		select {
		case <-complete:
			return stop(nil)
		case err := <-errc:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch results: %w", err)
		case <-ctx.Done():
			return stop(ctx.Err())
		case <-check.C:
			if err := im.missing(ctx, imp); err != nil {
				return stop(err)
			}
		}
	}
}

// missing returns the *MissingError of imp, or nil. A failing read is not
// an error here: the workers' stall detection reports a store that cannot
// make progress.
func (im *Importer) missing(ctx context.Context, imp jobs.Import) error {
	ctx, cancel := context.WithTimeout(ctx, missingReadTimeout)
	defer cancel()
	p, err := im.Progress(ctx, imp)
	if err != nil {
		return nil
	}
	return p.Err()
}
