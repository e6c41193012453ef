package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Lookup is what resolution reads from Graph; *graph.Client implements it.
type Lookup interface {
	// FindGroups returns the tenant's groups with exactly this displayName
	// (compared without regard to case).
	FindGroups(ctx context.Context, tenant, name string) ([]graph.Named, error)
	// ListFilters returns every assignment filter of the tenant.
	ListFilters(ctx context.Context, tenant string) ([]graph.Named, error)
	// ListPolicies returns every policy of the kind's collection.
	ListPolicies(ctx context.Context, tenant string, k *graph.Kind) ([]graph.Named, error)
}

// Sentinels matched by a [*NameError].
var (
	// ErrNotFound: no object of the tenant has the name.
	ErrNotFound = errors.New("no match")
	// ErrAmbiguous: several objects of the tenant have the name; none is
	// chosen.
	ErrAmbiguous = errors.New("several matches")
)

// NameError is a name that does not resolve to exactly one object of the
// tenant: a row error, never a guess.
type NameError struct {
	// Column is the row's column: group_name, filter_name or policy_name.
	Column string
	// Name is the name as the row gave it.
	Name string
	// Tenant is the tenant searched.
	Tenant string
	// What names the objects searched: "group", "assignment filter",
	// "deviceConfigurations policy", ….
	What string
	// Candidates are the objects with that name (none for ErrNotFound).
	Candidates []graph.Named
}

// Error names the column, then says what [NameError.Reason] says.
func (e *NameError) Error() string {
	return "column " + e.Column + ": " + e.Reason()
}

// Reason names the name and, for an ambiguous name, every candidate's id:
// the row error without its column.
func (e *NameError) Reason() string {
	if len(e.Candidates) == 0 {
		return fmt.Sprintf("no %s named %q in tenant %s", e.What, e.Name, e.Tenant)
	}
	ids := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		ids[i] = c.ID
	}
	return fmt.Sprintf("%d %ss named %q in tenant %s (%s); give the id instead",
		len(e.Candidates), e.What, e.Name, e.Tenant, strings.Join(ids, ", "))
}

// Is matches ErrNotFound or ErrAmbiguous.
func (e *NameError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return len(e.Candidates) == 0
	case ErrAmbiguous:
		return len(e.Candidates) > 1
	}
	return false
}

// Config configures a [Resolver].
type Config struct {
	// Lookup reads Graph. Required.
	Lookup Lookup
	// Reads paces and retries the lookups; share it with the import's other
	// reads. Default: NewReads(ReadConfig{}).
	Reads *Reads
	// Logger logs each lookup at debug level. Default: discard.
	Logger *slog.Logger
}

// Resolver resolves the names of one import's rows to ids, per tenant.
// Each distinct lookup is made once for the life of the Resolver and
// shared by every row and goroutine that needs it: a group lookup per
// (tenant, name), the filter list per tenant, the policy list per (tenant,
// collection). Make one Resolver per import; it is safe for concurrent use.
type Resolver struct {
	lookup Lookup
	reads  *Reads
	log    *slog.Logger

	mu    sync.Mutex
	cache map[string]*flight
}

// flight is one lookup, made by the first caller and awaited by the rest.
type flight struct {
	done chan struct{}
	val  []graph.Named
	err  error
}

// New checks cfg and returns a Resolver.
func New(cfg Config) (*Resolver, error) {
	if cfg.Lookup == nil {
		return nil, errors.New("resolve: Config.Lookup is required")
	}
	if cfg.Reads == nil {
		r, err := NewReads(ReadConfig{})
		if err != nil {
			return nil, err
		}
		cfg.Reads = r
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{lookup: cfg.Lookup, reads: cfg.Reads, log: cfg.Logger, cache: make(map[string]*flight)}, nil
}

// Resolve returns j with the ids of its names filled in (policy, group,
// filter, in that order) and its key recomputed; the names stay for the
// report. A job without names comes back unchanged. A name without exactly
// one match is a *[NameError]; a failed lookup (403, throttled past the
// attempts, unreachable) is returned wrapped, a 403 as a
// *graph.PermissionError naming the permission the lookup needs.
func (r *Resolver) Resolve(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	if !j.Unresolved() {
		return j, nil
	}
	k, err := graph.LookupKind(j.Kind)
	if err != nil {
		return j, err
	}
	if j.PolicyID == "" && j.PolicyName != "" {
		found, err := r.load(ctx, j.Tenant, "policies|"+k.Root+"/"+k.Collection, func(ctx context.Context) ([]graph.Named, error) {
			return r.lookup.ListPolicies(ctx, j.Tenant, k)
		})
		if j.PolicyID, err = one(found, err, j.Tenant, "policy_name", j.PolicyName, k.Collection+" policy"); err != nil {
			return j, err
		}
	}
	if j.GroupID == "" && j.GroupName != "" {
		found, err := r.load(ctx, j.Tenant, "group|"+strings.ToLower(j.GroupName), func(ctx context.Context) ([]graph.Named, error) {
			return r.lookup.FindGroups(ctx, j.Tenant, j.GroupName)
		})
		if j.GroupID, err = one(found, err, j.Tenant, "group_name", j.GroupName, "group"); err != nil {
			return j, err
		}
	}
	if j.FilterID == "" && j.FilterName != "" {
		found, err := r.load(ctx, j.Tenant, "filters", func(ctx context.Context) ([]graph.Named, error) {
			return r.lookup.ListFilters(ctx, j.Tenant)
		})
		if j.FilterID, err = one(found, err, j.Tenant, "filter_name", j.FilterName, "assignment filter"); err != nil {
			return j, err
		}
	}
	j.Key = j.ComputeKey()
	return j, nil
}

// one picks the single object named name among found, or says why not.
func one(found []graph.Named, err error, tenant, column, name, what string) (string, error) {
	if err != nil {
		return "", fmt.Errorf("column %s: look up %q: %w", column, name, err)
	}
	var match []graph.Named
	for _, n := range found {
		if strings.EqualFold(n.DisplayName, name) {
			match = append(match, n)
		}
	}
	if len(match) != 1 {
		return "", &NameError{Column: column, Name: name, Tenant: tenant, What: what, Candidates: match}
	}
	return match[0].ID, nil
}

// load returns the cached answer of the lookup named key for tenant, or
// makes it (paced by the read budget). Concurrent callers of one key share
// one lookup. A lookup ended by its caller's cancellation is forgotten, so
// a caller still running makes it again.
func (r *Resolver) load(ctx context.Context, tenant, key string, fn func(context.Context) ([]graph.Named, error)) ([]graph.Named, error) {
	key = tenant + "|" + key
	for {
		r.mu.Lock()
		f, ok := r.cache[key]
		if !ok {
			f = &flight{done: make(chan struct{})}
			r.cache[key] = f
			r.mu.Unlock()
			f.err = r.reads.Do(ctx, tenant, func(ctx context.Context) error {
				var err error
				f.val, err = fn(ctx)
				return err
			})
			if f.err != nil && ctx.Err() != nil {
				r.mu.Lock()
				delete(r.cache, key)
				r.mu.Unlock()
			}
			r.log.LogAttrs(ctx, slog.LevelDebug, "name lookup", slog.String("tenant", tenant), slog.String("lookup", key),
				slog.Int("found", len(f.val)), slog.Any("error", f.err))
			close(f.done)
			return f.val, f.err
		}
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err == nil || !isContextErr(f.err) || ctx.Err() != nil {
			return f.val, f.err
		}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
