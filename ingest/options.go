package ingest

import (
	"context"
	"fmt"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Size limits.
const (
	// MaxFieldLen is the longest field accepted, in bytes; a longer one is a
	// row error ("field too long"). No identifier comes close to it.
	MaxFieldLen = 4 << 10
	// MaxRecordLen is the longest record read, in bytes (about; the check has
	// the CSV reader's 4 KiB look-ahead as slack). A longer one is a file
	// error, because the CSV reader buffers a whole record.
	MaxRecordLen = 1 << 20
	// MaxMessageLen is the longest queue message [ParseMessage] accepts.
	MaxMessageLen = 64 << 10
)

// defaultMaxErrors is Options.MaxErrors when zero.
const defaultMaxErrors = 100

// Options control a validation or ingest pass.
type Options struct {
	// Tenant is the default tenant for rows with an empty tenant_id (the
	// --tenant flag); when set, the tenant_id column becomes optional. It is
	// validated and normalised like a row's. Default: none.
	Tenant string
	// AllowExtraColumns makes unknown columns ignored instead of a file
	// error. Default: false.
	AllowExtraColumns bool
	// SkipInvalid makes invalid rows acceptable: [Validate] and [Ingest] do
	// not return [ErrInvalidRows] and [Summary.OK] ignores them. Default:
	// false (any invalid row fails the file).
	SkipInvalid bool
	// MaxErrors is how many row errors [Summary.Errors] keeps; the rest are
	// only counted in [Summary.ErrorCount]. Default (0): 100; negative keeps
	// none.
	MaxErrors int
	// AllowUnresolved accepts rows that give group_name, filter_name or
	// policy_name instead of the id, and rows whose action is remove. Their
	// jobs are not writable as they are: names must be resolved per tenant
	// (package resolve) and removals planned (package plan) first. When
	// false such rows are row errors naming the column. Default: false.
	AllowUnresolved bool
	// ImportID is stamped on every job and result. Default: "".
	ImportID string
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Tenant != "" {
		t, err := graph.NormalizeTenant(o.Tenant)
		if err != nil {
			return o, fmt.Errorf("ingest: default tenant: %w", err)
		}
		o.Tenant = t
	}
	o.MaxErrors = o.ErrorsKept()
	return o, nil
}

// ErrorsKept is how many row errors a [Summary] keeps under o: MaxErrors,
// its default when zero, none when negative.
func (o Options) ErrorsKept() int {
	switch {
	case o.MaxErrors == 0:
		return defaultMaxErrors
	case o.MaxErrors < 0:
		return 0
	}
	return o.MaxErrors
}

// Sink receives what [Ingest] produces, in row order, synchronously. An
// error from it stops the pass and is returned.
type Sink interface {
	// Job receives a valid row seen for the first time.
	Job(ctx context.Context, j jobs.Job) error
	// Result receives the final result of a row that becomes no job: an
	// invalid row (status invalid, the reason in ErrorMessage) or a
	// duplicate (status duplicate, DuplicateOf naming the first row).
	Result(ctx context.Context, r jobs.Result) error
}
