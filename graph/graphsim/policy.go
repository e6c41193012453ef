package graphsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bulkassign/bulkassign/graph"
)

// policy is the assignment set of one policy, in insertion order.
type policy struct {
	order []string
	byID  map[string]*stored
}

func newPolicy() *policy { return &policy{byID: make(map[string]*stored)} }

// put adds st, or replaces the entry with its id in place.
func (p *policy) put(st *stored) {
	if _, ok := p.byID[st.id]; !ok {
		p.order = append(p.order, st.id)
	}
	p.byID[st.id] = st
}

// find returns the stored id equal to id ignoring case ("" when absent).
func (p *policy) find(id string) string {
	if p == nil {
		return ""
	}
	for _, have := range p.order {
		if strings.EqualFold(have, id) {
			return have
		}
	}
	return ""
}

// remove drops the entry with the stored id.
func (p *policy) remove(id string) {
	delete(p.byID, id)
	p.order = slices.DeleteFunc(p.order, func(have string) bool { return have == id })
}

// inheritedMatch returns the id of the inherited entry that w re-posts:
// the same id or the same target ("" when none).
func (p *policy) inheritedMatch(w written) string {
	for _, id := range p.order {
		st := p.byID[id]
		if !st.inherited {
			continue
		}
		if (w.bodyID != "" && strings.EqualFold(w.bodyID, id)) ||
			(st.target.Type == w.st.target.Type && strings.EqualFold(st.target.GroupID, w.st.target.GroupID) &&
				strings.EqualFold(st.target.CollectionID, w.st.target.CollectionID)) {
			return id
		}
	}
	return ""
}

// rendered returns every entry spelt in version v.
func (p *policy) rendered(k *graph.Kind, v string) []json.RawMessage {
	if p == nil {
		return nil
	}
	out := make([]json.RawMessage, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, p.byID[id].render(k, v))
	}
	return out
}

// policyKey is the key of a policy's assignment set.
func policyKey(tenant string, k *graph.Kind, pid string) string {
	return tenant + "|" + k.Name + "|" + pid
}

// policyLocked returns the policy's set, creating it.
func (s *Server) policyLocked(tenant string, k *graph.Kind, pid string) *policy {
	key := policyKey(tenant, k, pid)
	p := s.policies[key]
	if p == nil {
		p = newPolicy()
		s.policies[key] = p
	}
	return p
}

// Seed stores assignments on a policy without counting them as creates, as
// if they had existed before the test. An entry with Raw is stored as Graph
// would hold that object (beta property names only; values, unmodelled
// target types and source policySets with its sourceId kept); others are
// built from their Target and Intent, validated in beta, and get the
// deterministic id. Entries replace existing ones with the same id.
func (s *Server) Seed(tenant, kind, policyID string, set ...graph.Assignment) error {
	_, err := s.seed(tenant, kind, policyID, "", set)
	return err
}

// SeedInherited stores assignments on a policy as inherited from the policy
// set policySetID (source policySets, sourceId policySetID), without
// counting them as creates. Entries are built from Target and Intent and
// get the deterministic id unless ID is set. /assign leaves them in place
// whether or not its body lists them; a body that re-posts one makes it
// direct and counts in [Stats].InheritedReposted.
func (s *Server) SeedInherited(tenant, kind, policyID, policySetID string, set ...graph.Assignment) error {
	if policySetID == "" {
		return errors.New("graphsim: seed inherited: the policy set id is empty")
	}
	_, err := s.seed(tenant, kind, policyID, policySetID, set)
	return err
}

// seed is Seed, or SeedInherited when policySetID is set; it returns the
// entries stored (never modified afterwards).
func (s *Server) seed(tenant, kind, policyID, policySetID string, set []graph.Assignment) ([]*stored, error) {
	k, err := graph.LookupKind(kind)
	if err != nil {
		return nil, fmt.Errorf("graphsim: seed: %w", err)
	}
	if err := graph.ValidatePolicyID(policyID); err != nil {
		return nil, fmt.Errorf("graphsim: seed: %w", err)
	}
	if props, _ := metadata.entityProps(graph.Beta, typeName(k.AssignmentType)); policySetID != "" && !slices.Contains(props, propSource) {
		return nil, fmt.Errorf("graphsim: seed inherited: %s has no source in beta: it cannot come from a policy set", k.AssignmentType)
	}
	pid := normPolicy(policyID)
	entries := make([]*stored, 0, len(set))
	for _, a := range set {
		st, err := seedEntry(k, pid, a)
		if err != nil {
			return nil, fmt.Errorf("graphsim: seed: %w", err)
		}
		if policySetID != "" {
			st.inherited, st.sourceID = true, policySetID
		}
		entries = append(entries, st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policyLocked(strings.ToLower(tenant), k, pid)
	for _, st := range entries {
		p.put(st)
	}
	return entries, nil
}

// seedEntry builds a stored assignment from a: from Raw as given, or from
// Target and Intent validated in beta (every kind exists in beta).
func seedEntry(k *graph.Kind, pid string, a graph.Assignment) (*stored, error) {
	if len(a.Raw) > 0 {
		return seedStored(k, pid, a.Raw, a.ID)
	}
	body, err := k.Body(a, graph.Beta)
	if err != nil {
		return nil, err
	}
	w, err := decodeAssignment(k, graph.Beta, pid, body, false)
	if err != nil {
		return nil, err
	}
	if a.ID != "" {
		w.st.id = a.ID
	}
	return w.st, nil
}

// Assignments returns the assignments of a policy in tenant, in order, as
// Graph lists them in beta (every kind exists in beta); Raw is the beta
// object. kind is a registry name; tenant and policy id are matched
// case-insensitively.
func (s *Server) Assignments(tenant, kind, policyID string) []graph.Assignment {
	raws := s.RawAssignments(tenant, kind, policyID)
	out := make([]graph.Assignment, 0, len(raws))
	for _, raw := range raws {
		a, err := graph.ParseAssignment(raw)
		if err != nil { // cannot happen: render writes valid JSON
			continue
		}
		out = append(out, a)
	}
	return out
}

// RawAssignments returns exactly what Graph holds for a policy, property
// for property: each assignment as beta lists it (the superset of what
// v1.0 shows), in order. nil for an unknown kind or an empty policy.
func (s *Server) RawAssignments(tenant, kind, policyID string) []json.RawMessage {
	k, err := graph.LookupKind(kind)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policies[policyKey(strings.ToLower(tenant), k, normPolicy(policyID))].rendered(k, graph.Beta)
}

// AllAssignments returns every non-empty policy's assignments keyed
// "tenant|kind|policy" (tenant lower case, kind as in the registry, policy
// id with its GUID part lower case).
func (s *Server) AllAssignments() map[string][]graph.Assignment {
	s.mu.Lock()
	keys := make([]string, 0, len(s.policies))
	for key, p := range s.policies {
		if len(p.order) > 0 {
			keys = append(keys, key)
		}
	}
	s.mu.Unlock()
	out := make(map[string][]graph.Assignment, len(keys))
	for _, key := range keys {
		parts := strings.SplitN(key, "|", 3)
		if set := s.Assignments(parts[0], parts[1], parts[2]); len(set) > 0 {
			out[key] = set
		}
	}
	return out
}

// AssignCalls is the number of /assign calls applied to a policy (any API
// version, faults that applied included). kind is a registry name.
func (s *Server) AssignCalls(tenant, kind, policyID string) int {
	k, err := graph.LookupKind(kind)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assignCalls[policyKey(strings.ToLower(tenant), k, normPolicy(policyID))]
}
