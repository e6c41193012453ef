package imports

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/resolve"
)

// Names resolves the names a job gives (group_name, filter_name,
// policy_name) to the ids of its own tenant; *[resolve.Resolver] is one. An
// error that is a *[resolve.NameError] (no match, several) or an
// *[ingest.RowError] makes the row invalid; any other (Graph could not be
// read) makes it failed.
type Names interface {
	Resolve(ctx context.Context, j jobs.Job) (jobs.Job, error)
}

// DefaultLookups is NamesConfig.Lookups when zero.
const DefaultLookups = 16

// NamesConfig configures [ResolveNames].
type NamesConfig struct {
	// Names resolves. Required.
	Names Names
	// Ingest are the options the source reads its rows with (it must
	// allow unresolved rows, or its named rows are invalid before they
	// get here). SkipInvalid and MaxErrors apply to the rows whose names
	// do not resolve as to the source's own invalid rows.
	Ingest ingest.Options
	// Lookups bounds the names looked up at once while scanning. Default
	// 16.
	Lookups int
}

// Resolved is a RowSource whose rows' names are resolved, per tenant,
// when it is scanned: the jobs it emits carry the ids (the names stay
// beside them for the report), and their keys are the keys of those ids.
// A row whose name matches no object or several is invalid (its message
// lists the candidates' ids, as a plan says it); a row whose lookup failed
// (403, unreachable, throttled past the retries) is failed, its error
// naming what was refused. Rows that describe the same assignment once
// resolved (one by id, one by name) are duplicates of the first.
//
// It reads its source three times when scanned (the source's check, the
// lookups, the resolved rows) and once more when emitted, which is
// answered from the lookups made while scanning; a CSV or Message without
// names is read once when scanned.
type Resolved struct {
	src RowSource
	cfg NamesConfig
	sum ingest.Summary
	// asIs: the last scan found no name to resolve (the source says so in
	// its summary), so the source's rows are emitted as they are.
	asIs bool
}

// ResolveNames returns src with its names resolved as cfg says. src may be
// any RowSource; a CSV or Message gives its invalid rows' errors to
// [Resolved.Summary].
func ResolveNames(src RowSource, cfg NamesConfig) (*Resolved, error) {
	if cfg.Names == nil {
		return nil, errors.New("imports: NamesConfig.Names is required")
	}
	if cfg.Lookups < 0 {
		return nil, fmt.Errorf("imports: negative Lookups %d", cfg.Lookups)
	}
	cfg.Lookups = cmp.Or(cfg.Lookups, DefaultLookups)
	return &Resolved{src: src, cfg: cfg}, nil
}

// summarized is a source that says what its last pass found.
type summarized interface {
	Summary() ingest.Summary
}

// Summary returns the summary of the last scan: the source's, with the
// rows resolution made invalid, failed or duplicate counted as such and
// the errors of the invalid ones among the source's, in row order.
func (r *Resolved) Summary() ingest.Summary { return r.sum }

// Scan implements [RowSource]: it checks the source, looks up every
// distinct name (at most Lookups at once) and resolves every row. It
// fails with an error wrapping [ingest.ErrInvalidRows] when a name does
// not resolve and invalid rows are not skipped.
func (r *Resolved) Scan(ctx context.Context) (Content, error) {
	inner, err := r.src.Scan(ctx)
	s, summed := r.src.(summarized)
	if summed {
		r.sum = s.Summary()
	}
	if err != nil {
		return Content{}, err
	}
	if r.asIs = summed && r.sum.Unresolved == 0; r.asIs {
		return inner, nil
	}
	if err := r.lookUp(ctx); err != nil {
		return Content{}, err
	}
	var sc scan
	p := r.pass(&sc)
	if err := r.src.Emit(ctx, "", p); err != nil {
		return Content{}, err
	}
	r.sum = p.summary(r.sum)
	if p.refused > 0 && !r.cfg.Ingest.SkipInvalid {
		return Content{}, fmt.Errorf("resolve names: %w: %d of %d rows", ingest.ErrInvalidRows, r.sum.Invalid, r.sum.Rows)
	}
	return sc.content(r.sum, inner.SHA256), nil
}

// Emit implements [RowSource]: the source's rows, resolved.
func (r *Resolved) Emit(ctx context.Context, importID string, sink ingest.Sink) error {
	if r.asIs {
		return r.src.Emit(ctx, importID, sink)
	}
	return r.src.Emit(ctx, importID, r.pass(sink))
}

// lookUp resolves each distinct combination of names once, at most
// Lookups at once, so that the passes after it find every answer made.
// A lookup's own failure is the row's, decided by the pass; only ctx
// ending fails it.
func (r *Resolved) lookUp(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.Lookups)
	l := &lookups{seen: map[string]bool{}, do: func(j jobs.Job) {
		g.Go(func() error {
			_, _ = r.cfg.Names.Resolve(gctx, j)
			return nil
		})
	}}
	err := r.src.Emit(gctx, "", l)
	_ = g.Wait() // every lookup returns nil
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// lookups is the sink of lookUp's pass: it starts one resolution per
// distinct combination of a tenant, kind and names.
type lookups struct {
	seen map[string]bool
	do   func(jobs.Job)
}

func (l *lookups) Job(ctx context.Context, j jobs.Job) error {
	if !j.Unresolved() {
		return nil
	}
	k := j.Tenant + "\x00" + j.Kind + "\x00" + j.PolicyName + "\x00" + j.GroupName + "\x00" + j.FilterName
	if !l.seen[k] {
		l.seen[k] = true
		l.do(j)
	}
	return ctx.Err()
}

func (l *lookups) Result(context.Context, jobs.Result) error { return nil }

// pass returns the sink of a pass through the resolved rows into next.
func (r *Resolved) pass(next ingest.Sink) *resolving {
	return &resolving{names: r.cfg.Names, next: next, keep: r.cfg.Ingest.ErrorsKept(), seen: map[[16]byte]int32{}, tenants: map[string]bool{}}
}

// resolving is the sink of a pass: it resolves each job's names, makes the
// rows that repeat an earlier one once resolved duplicates, and hands next
// the resolved job or the row's result, counting rows as it goes.
type resolving struct {
	names   Names
	next    ingest.Sink
	keep    int                // row errors kept
	seen    map[[16]byte]int32 // key prefix of a resolved job → its row
	tenants map[string]bool

	rows, valid, invalid, duplicates, failed int
	refused                                  int               // rows made invalid here
	errs                                     []ingest.RowError // the first keep of them
}

// Job implements [ingest.Sink].
func (p *resolving) Job(ctx context.Context, j jobs.Job) error {
	p.rows++
	if j.Unresolved() {
		rj, err := p.names.Resolve(ctx, j)
		if err != nil {
			return p.refuse(ctx, j, err)
		}
		j = rj
	}
	var k [16]byte
	if _, err := hex.Decode(k[:], []byte(j.Key[:32])); err != nil {
		return fmt.Errorf("row %d: key: %w", j.Row, err)
	}
	if first, ok := p.seen[k]; ok {
		p.duplicates++
		res := jobs.ResultFor(j, jobs.StatusDuplicate)
		res.DuplicateOf, res.At = int(first), time.Now().UTC()
		return p.next.Result(ctx, res)
	}
	p.seen[k] = int32(j.Row)
	p.valid++
	p.tenants[j.Tenant] = true
	return p.next.Job(ctx, j)
}

// Result implements [ingest.Sink]. A duplicate that names what it repeats
// is resolved too, so that the report shows its ids (the row it repeats
// resolved the same names; when they do not resolve, neither row does).
func (p *resolving) Result(ctx context.Context, res jobs.Result) error {
	p.rows++
	switch res.Status {
	case jobs.StatusDuplicate:
		if res.Job != nil && res.Job.Unresolved() {
			j, err := p.names.Resolve(ctx, *res.Job)
			if err != nil {
				return p.refuse(ctx, *res.Job, err)
			}
			dup := jobs.ResultFor(j, jobs.StatusDuplicate)
			dup.DuplicateOf, dup.At = res.DuplicateOf, res.At
			res = dup
		}
		p.duplicates++
	case jobs.StatusInvalid:
		p.invalid++
	case jobs.StatusFailed:
		p.failed++
	}
	return p.next.Result(ctx, res)
}

// refuse hands next the result of a row whose names did not resolve:
// invalid when a name matches no object or several (or names cannot be
// resolved here at all), failed when Graph could not be read.
func (p *resolving) refuse(ctx context.Context, j jobs.Job, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var (
		ne   *resolve.NameError
		rerr *ingest.RowError
	)
	switch {
	case errors.As(err, &ne):
		rerr = &ingest.RowError{Column: contract.Column(ne.Column), Reason: ne.Reason()}
	case errors.As(err, &rerr):
	}
	var res jobs.Result
	if rerr != nil {
		e := *rerr
		e.Row = j.Row
		p.invalid++
		if p.refused++; len(p.errs) < p.keep {
			p.errs = append(p.errs, e)
		}
		res = jobs.ResultFor(j, jobs.StatusInvalid)
		res.ErrorMessage = e.Message()
	} else {
		p.failed++
		res = lookupFailed(j, err)
	}
	res.At = time.Now().UTC()
	return p.next.Result(ctx, res)
}

// lookupFailed is the failed result of a row whose names could not be
// looked up: Graph's status and code, bulkassign's codes for a token or
// permission refused.
func lookupFailed(j jobs.Job, err error) jobs.Result {
	res := jobs.ResultFor(j, jobs.StatusFailed)
	res.ErrorMessage = err.Error()
	var ge *graph.Error
	if errors.As(err, &ge) {
		res.HTTPStatus, res.ErrorCode, res.RequestID = ge.StatusCode, ge.Code, ge.RequestID
	}
	switch {
	case errors.Is(err, graph.ErrForbidden):
		res.ErrorCode = contract.CodeForbidden
	case errors.Is(err, graph.ErrUnauthorized):
		res.ErrorCode = contract.CodeTenantUnauthorized
	}
	return res
}

// summary is the summary of this pass: base's (the source's) with this
// pass's counts, and its errors merged with base's in row order, keeping
// the first p.keep.
func (p *resolving) summary(base ingest.Summary) ingest.Summary {
	s := base
	s.Rows, s.Valid, s.Invalid, s.Duplicates, s.Failed = p.rows, p.valid, p.invalid, p.duplicates, p.failed
	s.ErrorCount = base.ErrorCount + p.refused
	s.Errors = slices.Concat(base.Errors, p.errs)
	slices.SortStableFunc(s.Errors, func(a, b ingest.RowError) int { return cmp.Compare(a.Row, b.Row) })
	s.Errors = s.Errors[:min(len(s.Errors), p.keep)]
	if len(s.Errors) == 0 {
		s.Errors = nil
	}
	s.Tenants = slices.Sorted(maps.Keys(p.tenants))
	if len(s.Tenants) == 0 {
		s.Tenants = nil
	}
	return s
}
