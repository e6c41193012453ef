package worker

import (
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// policySet is a policy's assignment set, listed once per import and kept
// up to date with our own creates (create kinds only; merges read fresh).
type policySet struct {
	mu     sync.Mutex
	loaded bool
	listed time.Time // when the listing in set was asked for
	set    []graph.Assignment
}

// maxCachedPolicies bounds a runner's cache; past it the cache restarts.
const maxCachedPolicies = 4096

// policySet returns the cache entry of the job's policy in its import.
func (r *runner) policySet(j jobs.Job, k *graph.Kind) *policySet {
	key := j.ImportID + "|" + k.Name + "|" + strings.ToLower(j.PolicyID)
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.cache[key]
	if ps == nil {
		if len(r.cache) >= maxCachedPolicies {
			r.cache = make(map[string]*policySet)
		}
		ps = &policySet{}
		r.cache[key] = ps
	}
	return ps
}

// find looks for a's target among the policy's direct assignments, listing
// the policy first if this import has not yet, or if its listing was asked
// for before since (another import recorded a write of the key then: two
// imports of one assignment running at once read, not write, to learn it).
func (ps *policySet) find(h *handling, a graph.Assignment, since time.Time) (graph.Assignment, bool, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.loaded || ps.listed.Before(since) {
		asked := time.Now()
		set, err := h.list()
		if err != nil {
			return graph.Assignment{}, false, err
		}
		ps.set, ps.loaded, ps.listed = set, true, asked
	}
	found, ok := findDirect(ps.set, a)
	return found, ok, nil
}

// add records an assignment we created.
func (ps *policySet) add(a graph.Assignment) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.loaded {
		ps.set = append(ps.set, a)
	}
}

// replace stores a fresh listing, asked for at asked.
func (ps *policySet) replace(set []graph.Assignment, asked time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.set, ps.loaded, ps.listed = set, true, asked
}
