package plan

import (
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/jobs"
)

// ErrNotApplicable is wrapped by [Plan.Jobs] when an entry to apply cannot
// become a valid job: nothing of the plan should be enqueued.
var ErrNotApplicable = errors.New("plan cannot be applied")

// Jobs returns what apply enqueues for the plan as import importID: one
// job per [Create] or [Remove] entry (an addition or a removal), with the
// entry's row number, in the plan's order; every other entry needs
// nothing written. Each job is validated and must have the key the plan
// recorded for its entry; otherwise Jobs fails (wrapping
// [ErrNotApplicable], naming the row) and returns no job. Graph is not
// read: at write time each row is still checked against what Graph then
// holds.
func (p *Plan) Jobs(importID string) ([]jobs.Job, error) {
	if err := jobs.ValidateImportID(importID); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	var out []jobs.Job
	for _, e := range p.Entries {
		if e.Decision != Create && e.Decision != Remove {
			continue
		}
		j := e.Job(importID)
		if (e.Decision == Remove) != (j.Action == jobs.ActionRemove) {
			return nil, fmt.Errorf("%w: row %d: decision %s does not fit action %q", ErrNotApplicable, e.Row, e.Decision, e.Action)
		}
		if err := j.Validate(); err != nil {
			return nil, fmt.Errorf("%w: row %d: %w", ErrNotApplicable, e.Row, err)
		}
		if j.Key != e.Key {
			return nil, fmt.Errorf("%w: row %d: its key does not match its columns", ErrNotApplicable, e.Row)
		}
		out = append(out, j)
	}
	return out, nil
}
