package worker

import (
	"strings"
	"sync"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// policySet is a policy's assignment set, listed once per import and kept
// up to date with our own creates (create kinds only; merges read fresh).
type policySet struct {
	mu     sync.Mutex
	loaded bool
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
// the policy first if this import has not yet.
func (ps *policySet) find(h *handling, a graph.Assignment) (graph.Assignment, bool, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.loaded {
		set, err := h.list()
		if err != nil {
			return graph.Assignment{}, false, err
		}
		ps.set, ps.loaded = set, true
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

// replace stores a fresh listing.
func (ps *policySet) replace(set []graph.Assignment) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.set, ps.loaded = set, true
}
