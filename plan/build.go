package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/resolve"
)

// DefaultConcurrency is Config.Concurrency when zero.
const DefaultConcurrency = 16

// Graph is what planning reads; *graph.Client implements it.
type Graph interface {
	resolve.Lookup
	// List returns every assignment of the policy.
	List(ctx context.Context, tenant, version string, k *graph.Kind, policyID string) ([]graph.Assignment, error)
}

// Config configures [Build].
type Config struct {
	// Graph is read, never written. Required.
	Graph Graph
	// Ingest are the CSV options (default tenant, extra columns, …).
	// AllowUnresolved and SkipInvalid are always set: a plan accepts names
	// and removals, and records invalid rows rather than refusing the file.
	Ingest ingest.Options
	// Reads paces and retries the reads per tenant. Default:
	// resolve.NewReads(resolve.ReadConfig{}).
	Reads *resolve.Reads
	// Concurrency bounds the reads in flight at once, across tenants.
	// Default 16.
	Concurrency int
	// Logger logs at debug level. Default: discard.
	Logger *slog.Logger
	// Now is the clock of Plan.Created. Default time.Now.
	Now func() time.Time
}

// Build reads the input (named source in the plan), validates every row,
// resolves names per tenant, reads each policy's current assignments once
// (in beta where the kind has it, so filters and policy-set sources are
// visible) and decides every row. It writes nothing to Graph.
//
// It returns an error only when no plan can be made: the input as a whole
// is unusable (an ingest [*ingest.FileError]), ctx ended, or cfg is
// invalid. Everything about single rows, Graph refusals included, is in
// the plan's entries.
func Build(ctx context.Context, cfg Config, src io.Reader, source string) (*Plan, error) {
	if cfg.Graph == nil {
		return nil, errors.New("plan: Config.Graph is required")
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("plan: negative Concurrency %d", cfg.Concurrency)
	}
	if cfg.Reads == nil {
		r, err := resolve.NewReads(resolve.ReadConfig{})
		if err != nil {
			return nil, err
		}
		cfg.Reads = r
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	res, err := resolve.New(resolve.Config{Lookup: cfg.Graph, Reads: cfg.Reads, Logger: log})
	if err != nil {
		return nil, err
	}
	b := &builder{cfg: cfg, res: res, limit: cmp.Or(cfg.Concurrency, DefaultConcurrency)}

	opts := cfg.Ingest
	opts.AllowUnresolved, opts.SkipInvalid = true, true
	sum, err := ingest.Ingest(ctx, src, opts, b)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if err := b.resolve(ctx); err != nil {
		return nil, err
	}
	b.inFile()
	if err := b.decide(ctx); err != nil {
		return nil, err
	}
	return &Plan{
		Format: FormatV1, Source: source, InputSHA256: sum.SHA256,
		Created: now().UTC(), Entries: b.entries,
	}, nil
}

// builder holds one plan in the making. entries are in row order; jobs[i]
// is the job of entries[i] while it is pending (Decision "").
type builder struct {
	cfg     Config
	res     *resolve.Resolver
	limit   int
	entries []Entry
	jobs    []jobs.Job
}

// Job receives a valid, first-seen row (ingest.Sink).
func (b *builder) Job(_ context.Context, j jobs.Job) error {
	b.entries = append(b.entries, entryFor(j))
	b.jobs = append(b.jobs, j)
	return nil
}

// Result receives an invalid or duplicate row (ingest.Sink).
func (b *builder) Result(_ context.Context, r jobs.Result) error {
	var e Entry
	switch {
	case r.Job != nil:
		e = entryFor(*r.Job)
	default:
		e = Entry{Row: r.Row, Tenant: r.Tenant, Kind: r.Kind, PolicyID: r.PolicyID, Target: r.Target, GroupID: r.GroupID}
	}
	e.Reason = r.ErrorMessage
	switch r.Status {
	case jobs.StatusDuplicate:
		e.Decision, e.DuplicateOf = Duplicate, r.DuplicateOf
		e.Reason = fmt.Sprintf("repeats row %d", r.DuplicateOf)
	default:
		e.Decision = Invalid
	}
	b.entries = append(b.entries, e)
	b.jobs = append(b.jobs, jobs.Job{})
	return nil
}

// pending calls fn for every entry not yet decided.
func (b *builder) pending(fn func(i int)) {
	for i := range b.entries {
		if b.entries[i].Decision == "" {
			fn(i)
		}
	}
}

// resolve fills in the ids of named rows, concurrently (lookups are shared
// and paced by the resolver).
func (b *builder) resolve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.limit)
	b.pending(func(i int) {
		if !b.jobs[i].Unresolved() {
			return
		}
		g.Go(func() error {
			j, err := b.res.Resolve(gctx, b.jobs[i])
			e := &b.entries[i]
			var ne *resolve.NameError
			switch {
			case err == nil:
				b.jobs[i] = j
				e.PolicyID, e.GroupID, e.FilterID, e.Key = j.PolicyID, j.GroupID, j.FilterID, j.Key
			case errors.As(err, &ne):
				e.Decision, e.Reason, e.Candidates = Unresolved, ne.Error(), ne.Candidates
			case gctx.Err() != nil:
				return err
			default:
				e.Decision, e.Reason = Failed, err.Error()
			}
			return nil
		})
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("plan: resolve names: %w", err)
	}
	return ctx.Err()
}

// inFile decides rows that repeat or contradict an earlier row once names
// are resolved (ingest saw only what the rows spelled).
func (b *builder) inFile() {
	first := make(map[string]int)
	b.pending(func(i int) {
		j := b.jobs[i]
		slot := slotKey(j)
		f, ok := first[slot]
		if !ok {
			first[slot] = i
			return
		}
		e, fe := &b.entries[i], b.entries[f]
		if b.jobs[f].Key == j.Key {
			e.Decision, e.DuplicateOf, e.Reason = Duplicate, fe.Row, fmt.Sprintf("repeats row %d", fe.Row)
			return
		}
		e.Decision = Conflict
		e.Reason = fmt.Sprintf("row %d already %ss this target differently (filter, intent, target type or action); nothing is changed", fe.Row, fe.Action)
	})
}

// slotKey identifies the place a job's target takes on its policy (see
// graph.Assignment.SameTarget).
func slotKey(j jobs.Job) string {
	t := string(j.Target)
	if j.Target.NeedsGroup() {
		t = "group"
	}
	return strings.ToLower(strings.Join([]string{j.Tenant, j.Kind, j.PolicyID, t, j.GroupID, j.CollectionID}, "|"))
}

// policyRead is one policy's listed assignments, or why they could not be
// read.
type policyRead struct {
	set []graph.Assignment
	err error
}

// decide reads each pending row's policy once and decides the row.
func (b *builder) decide(ctx context.Context) error {
	reads := make(map[string]*policyRead)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.limit)
	b.pending(func(i int) {
		j := b.jobs[i]
		key := j.Tenant + "|" + j.Kind + "|" + j.PolicyID
		if _, ok := reads[key]; ok {
			return
		}
		pr := &policyRead{}
		reads[key] = pr
		g.Go(func() error {
			k, err := graph.LookupKind(j.Kind)
			if err != nil {
				pr.err = err
				return nil
			}
			pr.err = b.cfg.Reads.Do(gctx, j.Tenant, func(ctx context.Context) error {
				var err error
				pr.set, err = b.cfg.Graph.List(ctx, j.Tenant, k.ReadVersion(), k, j.PolicyID)
				return err
			})
			if errors.Is(pr.err, graph.ErrForbidden) {
				pr.err = &graph.PermissionError{What: "assignments of " + k.Collection, Permission: k.ReadPermission(), Err: pr.err}
			}
			if gctx.Err() != nil {
				return gctx.Err()
			}
			return nil
		})
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("plan: read assignments: %w", err)
	}
	b.pending(func(i int) {
		j, e := b.jobs[i], &b.entries[i]
		pr := reads[j.Tenant+"|"+j.Kind+"|"+j.PolicyID]
		var ge *graph.Error
		switch {
		case errors.As(pr.err, &ge) && ge.StatusCode == http.StatusNotFound:
			e.Decision, e.Reason = Unresolved, fmt.Sprintf("policy %s (%s) does not exist in tenant %s", j.PolicyID, j.Kind, j.Tenant)
		case pr.err != nil:
			e.Decision, e.Reason = Failed, "read the policy's assignments: "+pr.err.Error()
		default:
			k, _ := graph.LookupKind(j.Kind) // read succeeded: the kind is known
			e.Decision, e.AssignmentID, e.Reason = Decide(k, j, pr.set)
		}
	})
	return nil
}
