package undo

import (
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/jobs"
)

// ErrNotUndoable is wrapped by the errors of [Ready] and [Jobs]: the import
// cannot be undone (yet), and nothing should be enqueued.
var ErrNotUndoable = errors.New("import cannot be undone")

// Ready reports whether imp, whose progress is p, can be undone: nil once
// every row has its result, whatever else is queued for its tenants (an
// interrupted undo of it, another import). While its rows may be on their
// way it refuses (the assignments they are creating would escape the
// undo); when rows lost their results it refuses too, naming them, since
// whether they created anything is unknown.
func Ready(imp jobs.Import, p jobs.ImportProgress) error {
	switch {
	case imp.Enqueued && len(p.Results) >= imp.Rows: // one result per row
		return nil
	case p.Waiting:
		return fmt.Errorf("%w: rows are still on their way; undo it once it has finished", ErrNotUndoable)
	case p.Missing > 0 && p.MissingRows.Len() > 0:
		return fmt.Errorf("%w: %d rows have no result (rows %s), so whether they created an assignment is unknown; run the import again to finish them first",
			ErrNotUndoable, p.Missing, p.MissingRows.Format(20))
	case p.Missing > 0:
		return fmt.Errorf("%w: %d rows have no result, so whether they created an assignment is unknown; run the import again to finish them first",
			ErrNotUndoable, p.Missing)
	}
	return nil
}

// Jobs returns the removal jobs of an import's results for the new import
// importID: one per row the import created, with that row's number, in
// the order of results, each with its key computed and validated. A
// created row whose result does not record its job, or whose job does not
// validate, fails the whole undo (wrapping [ErrNotUndoable], naming the
// row): an undo removes every assignment the import created or nothing.
// An import that created nothing gives no jobs.
func Jobs(results []jobs.Result, importID string) ([]jobs.Job, error) {
	if err := jobs.ValidateImportID(importID); err != nil {
		return nil, fmt.Errorf("undo: %w", err)
	}
	var out []jobs.Job
	for _, r := range results {
		if r.Status != jobs.StatusCreated {
			continue
		}
		if r.Job == nil {
			return nil, fmt.Errorf("%w: row %d was created, but its result does not record the assignment's job", ErrNotUndoable, r.Row)
		}
		j := *r.Job
		j.ImportID, j.Row, j.Action = importID, r.Row, jobs.ActionRemove
		j.Key = j.ComputeKey()
		if err := j.Validate(); err != nil {
			return nil, fmt.Errorf("%w: row %d: %w", ErrNotUndoable, r.Row, err)
		}
		out = append(out, j)
	}
	return out, nil
}
