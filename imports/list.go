package imports

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
)

// List is rows already made into jobs and results: the failed rows of an
// import being retried ([Importer.FailedRows]), the jobs of a plan being
// applied, the removals of an undo. Each job becomes a job of the import
// and each result the final result of its row (invalid, duplicate, or
// whatever the caller decided without Graph), under the row numbers they
// carry. Jobs must be valid ([jobs.Job.Validate]): the first invalid one
// fails Create.
type List struct {
	jobs    []jobs.Job
	results []jobs.Result
}

// NewList returns the rows of js and rs. Row numbers must be at least 1
// and distinct; import ids are set by Create.
func NewList(js []jobs.Job, rs []jobs.Result) *List {
	return &List{jobs: slices.Clone(js), results: slices.Clone(rs)}
}

// Len returns the number of rows.
func (l *List) Len() int { return len(l.jobs) + len(l.results) }

// listRow is one row of a List: a job or a result.
type listRow struct {
	Row    int          `json:"row"`
	Job    *jobs.Job    `json:"job,omitempty"`
	Result *jobs.Result `json:"result,omitempty"`
}

// rows returns every row sorted by row number, without import ids or
// timestamps (which are no part of the content).
func (l *List) rows() []listRow {
	out := make([]listRow, 0, l.Len())
	for _, j := range l.jobs {
		j.ImportID = ""
		out = append(out, listRow{Row: j.Row, Job: &j})
	}
	for _, r := range l.results {
		r.ImportID, r.At = "", time.Time{}
		if r.Job != nil {
			j := *r.Job
			j.ImportID = ""
			r.Job = &j
		}
		out = append(out, listRow{Row: r.Row, Result: &r})
	}
	slices.SortFunc(out, func(a, b listRow) int { return cmp.Compare(a.Row, b.Row) })
	return out
}

// Scan implements [RowSource]: it checks the row numbers, and identifies
// the content by the SHA-256 of the rows' JSON.
func (l *List) Scan(ctx context.Context) (Content, error) {
	rows := l.rows()
	if len(rows) == 0 {
		return Content{}, errors.New("no rows")
	}
	for i, r := range rows {
		if r.Row < 1 || (i > 0 && rows[i-1].Row == r.Row) {
			return Content{}, fmt.Errorf("row %d: want distinct rows numbered from 1", r.Row)
		}
	}
	data, err := json.Marshal(rows)
	if err != nil {
		return Content{}, err
	}
	var s scan
	sum := ingest.Summary{Rows: len(rows)}
	tenants := map[string]bool{}
	for _, r := range rows {
		if r.Job != nil {
			if err := r.Job.Validate(); err != nil {
				return Content{}, fmt.Errorf("row %d: %w", r.Row, err)
			}
			sum.Valid++
			if !tenants[r.Job.Tenant] {
				tenants[r.Job.Tenant] = true
				sum.Tenants = append(sum.Tenants, r.Job.Tenant)
			}
			if err := s.Job(ctx, *r.Job); err != nil {
				return Content{}, err
			}
			continue
		}
		switch r.Result.Status {
		case jobs.StatusInvalid:
			sum.Invalid++
		case jobs.StatusDuplicate:
			sum.Duplicates++
		}
		s.rows.Add(r.Row)
	}
	slices.Sort(sum.Tenants)
	digest := sha256.Sum256(data)
	return s.content(sum, hex.EncodeToString(digest[:])), nil
}

// Emit implements [RowSource]: the rows in row order.
func (l *List) Emit(ctx context.Context, importID string, sink ingest.Sink) error {
	for _, r := range l.rows() {
		var err error
		if r.Job != nil {
			r.Job.ImportID = importID
			err = sink.Job(ctx, *r.Job)
		} else {
			r.Result.ImportID = importID
			if r.Result.Job != nil {
				r.Result.Job.ImportID = importID
			}
			err = sink.Result(ctx, *r.Result)
		}
		if err != nil {
			return fmt.Errorf("row %d: %w", r.Row, err)
		}
	}
	return nil
}

// FailedRows returns the rows of orig that failed, as a List of their jobs
// under their row numbers: what "bulkassign retry" enqueues again. A row
// that failed because its names could not be looked up ([Resolved]) is
// left out: it has no ids to write; running its file again resolves it.
func (im *Importer) FailedRows(ctx context.Context, orig jobs.Import) (*List, error) {
	results, err := im.store.Results(ctx, orig.ID)
	if err != nil {
		return nil, err
	}
	var l List
	for _, r := range results {
		if r.Status == jobs.StatusFailed && r.Job != nil && !r.Job.Unresolved() {
			l.jobs = append(l.jobs, *r.Job)
		}
	}
	return &l, nil
}
