package imports

import (
	"context"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
)

// RowSource is where an import's rows come from: a CSV file ([CSV]), a
// queue message ([Message]), or rows already made into jobs and results
// ([List]: a retry, a plan being applied, an undo). [Importer.Create] reads
// it at least twice, and every pass must give the same rows in the same
// order.
type RowSource interface {
	// Scan reads every row, checks it and describes the content. It
	// returns an error when the source cannot be enqueued as it is: a
	// *[ingest.FileError], an error wrapping [ingest.ErrInvalidRows], …
	Scan(ctx context.Context) (Content, error)
	// Emit hands every row to sink in order, stamped with importID: the
	// job of a valid, first-seen row; the final result of any other.
	Emit(ctx context.Context, importID string, sink ingest.Sink) error
}

// Keeper is a RowSource that does not stay with its caller (a queue
// message): Create keeps its bytes in the store until the import is
// enqueued, so that [Importer.Recover] can complete an interrupted
// enqueue. [Importer.Recover] reads them again as the Request says.
type Keeper interface {
	RowSource
	// Keep returns how to read the source again and its bytes.
	Keep() (jobs.Request, []byte)
}

// Content describes a source's rows, as [RowSource.Scan] finds them.
type Content struct {
	// SHA256 identifies the content: the hex SHA-256 of the source's
	// bytes (of its rows' canonical form for a [List]).
	SHA256 string
	// Rows counts every row; Jobs those that become jobs; Invalid and
	// Duplicates those that do not.
	Rows, Jobs, Invalid, Duplicates int
	// Tenants lists the tenants of the jobs, sorted.
	Tenants []string
	// RowSet holds every row's number.
	RowSet jobs.RowSet
	// Targets holds one policy per tenant, for a tenant check
	// ([Spec.Check]).
	Targets []preflight.Target
}

// scan is the sink of a source's checking pass: it records every row and
// one target per tenant.
type scan struct {
	rows    jobs.RowSet
	targets preflight.Collector
}

func (s *scan) Job(ctx context.Context, j jobs.Job) error {
	s.rows.Add(j.Row)
	return s.targets.Job(ctx, j)
}

func (s *scan) Result(_ context.Context, r jobs.Result) error {
	s.rows.Add(r.Row)
	return nil
}

// content is the Content of a pass with summary sum over bytes of digest
// sha.
func (s *scan) content(sum ingest.Summary, sha string) Content {
	return Content{
		SHA256: sha, Rows: sum.Rows, Jobs: sum.Valid, Invalid: sum.Invalid, Duplicates: sum.Duplicates,
		Tenants: sum.Tenants, RowSet: s.rows, Targets: s.targets.Targets(),
	}
}
