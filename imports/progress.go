package imports

import (
	"context"
	"fmt"

	"github.com/bulkassign/bulkassign/jobs"
)

// Progress is where an import stands: its record, its results so far (see
// [jobs.ImportProgress]: rows still on their way are told from rows that
// lost their result) and the results counted by status.
type Progress struct {
	Import jobs.Import
	jobs.ImportProgress
	Counts Counts
}

// Progress reads where imp stands.
func (im *Importer) Progress(ctx context.Context, imp jobs.Import) (Progress, error) {
	prog, err := im.store.Progress(ctx, imp)
	if err != nil {
		return Progress{}, err
	}
	return Progress{Import: imp, ImportProgress: prog, Counts: CountResults(prog.Results)}, nil
}

// State says where the import stands in a few words: "enqueueing",
// "running", "done", or "N rows missing" when rows have no result and will
// get none.
func (p Progress) State() string {
	switch {
	case !p.Import.Enqueued:
		return "enqueueing"
	case p.Missing > 0:
		return fmt.Sprintf("%d rows missing", p.Missing)
	case len(p.Results) >= p.Import.Rows:
		return "done"
	}
	return "running"
}

// Err returns a *[MissingError] when rows have no result and will get
// none, else nil.
func (p Progress) Err() error {
	if p.Missing == 0 {
		return nil
	}
	return &MissingError{Import: p.Import, Missing: p.Missing, MissingRows: p.MissingRows}
}

// MissingError says that rows of an import have no result and will get
// none: their job or their result was lost (e.g. in a damaged block of the
// store). Creating the import again from the same source redoes them.
type MissingError struct {
	Import jobs.Import
	// Missing counts the rows; MissingRows names them (empty for imports
	// recorded without their row numbers).
	Missing     int
	MissingRows jobs.RowSet
}

// Error implements error.
func (e *MissingError) Error() string {
	rows := "rows " + e.MissingRows.Format(20)
	if e.MissingRows.Len() == 0 {
		rows = "the import does not record which rows"
	}
	return fmt.Sprintf("import %s: %d of %d rows have no result and will get none (no job of theirs is left in the queue; "+
		"their results or jobs were lost, e.g. in a damaged block of the store): %s. "+
		"Run the same file again to redo them: rows already written are recognised, not written twice",
		e.Import.ID, e.Missing, e.Import.Rows, rows)
}
