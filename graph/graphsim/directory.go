package graphsim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/google/uuid"
)

// Group is a directory group of a tenant.
type Group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// Filter is an assignment filter of a tenant (beta only in Graph).
type Filter struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// Platform is a devicePlatformType member, e.g. "windows10AndLater"
	// (the default).
	Platform string `json:"platform"`
}

// Policy is a named policy of a tenant's collection.
type Policy struct {
	ID string `json:"id"`
	// Kind is the registry kind the policy was named through; the policy
	// belongs to the kind's collection (nested kinds name their parent).
	Kind string `json:"kind"`
	// DisplayName is listed as displayName, or as name for
	// configurationPolicies.
	DisplayName string `json:"displayName"`
}

// defaultPlatform is the platform of a filter seeded without one.
const defaultPlatform = "windows10AndLater"

// directory is what a tenant has by name. Display names need not be unique.
type directory struct {
	groups   []Group
	filters  []Filter
	policies map[string][]Policy // collection key ("root/collection", lower case)
}

// collectionKey is the key of the collection a kind's policies live in.
func collectionKey(k *graph.Kind) string { return strings.ToLower(k.Root + "/" + k.Collection) }

// nameProperty is how a collection's policies spell their name.
func nameProperty(k *graph.Kind) string {
	if strings.EqualFold(k.Collection, "configurationPolicies") {
		return "name"
	}
	return "displayName"
}

// dirLocked returns the tenant's directory, creating it.
func (s *Server) dirLocked(tenant string) *directory {
	d := s.dirs[tenant]
	if d == nil {
		d = &directory{policies: make(map[string][]Policy)}
		s.dirs[tenant] = d
	}
	return d
}

// upsert replaces the element of list with item's id, or appends item.
func upsert[T any](list []T, item T, id func(T) string) []T {
	if i := slices.IndexFunc(list, func(have T) bool { return strings.EqualFold(id(have), id(item)) }); i >= 0 {
		list[i] = item
		return list
	}
	return append(list, item)
}

// SeedGroup adds a group named displayName to tenant and returns its new
// id. Names need not be unique.
func (s *Server) SeedGroup(tenant, displayName string) string {
	g, _ := s.AddGroup(tenant, Group{DisplayName: displayName}) // a new GUID is valid
	return g.ID
}

// SeedFilter adds an assignment filter to tenant and returns its new id.
// platform "" means windows10AndLater; another must be a
// devicePlatformType member.
func (s *Server) SeedFilter(tenant, displayName, platform string) (string, error) {
	f, err := s.AddFilter(tenant, Filter{DisplayName: displayName, Platform: platform})
	return f.ID, err
}

// SeedPolicy names a new policy of kind's collection in tenant and returns
// its id. Assignment routes accept any policy id whether named or not; the
// collection lists only named policies.
func (s *Server) SeedPolicy(tenant, kind, displayName string) (string, error) {
	p, err := s.AddPolicy(tenant, Policy{Kind: kind, DisplayName: displayName})
	return p.ID, err
}

// AddGroup adds g to tenant, or renames the group with g.ID. An empty ID
// gets a new GUID; another must be a GUID.
func (s *Server) AddGroup(tenant string, g Group) (Group, error) {
	id, err := newOrGUID(g.ID)
	if err != nil {
		return Group{}, fmt.Errorf("graphsim: group: %w", err)
	}
	g.ID = id
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirLocked(strings.ToLower(tenant))
	d.groups = upsert(d.groups, g, func(g Group) string { return g.ID })
	return g, nil
}

// AddFilter adds f to tenant, or replaces the filter with f.ID. An empty ID
// gets a new GUID; another must be a GUID. An empty Platform means
// windows10AndLater; another must be a devicePlatformType member.
func (s *Server) AddFilter(tenant string, f Filter) (Filter, error) {
	id, err := newOrGUID(f.ID)
	if err != nil {
		return Filter{}, fmt.Errorf("graphsim: filter: %w", err)
	}
	f.ID, f.Platform = id, cmp.Or(f.Platform, defaultPlatform)
	if !metadata.inEnum(graph.Beta, "devicePlatformType", f.Platform) {
		return Filter{}, fmt.Errorf("graphsim: filter: platform %q is not a devicePlatformType", f.Platform)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirLocked(strings.ToLower(tenant))
	d.filters = upsert(d.filters, f, func(f Filter) string { return f.ID })
	return f, nil
}

// AddPolicy names a policy of p.Kind's collection in tenant, or renames the
// policy with p.ID. An empty ID gets a new GUID; another must be a policy
// id (a GUID or {guid}_Suffix).
func (s *Server) AddPolicy(tenant string, p Policy) (Policy, error) {
	k, err := graph.LookupKind(p.Kind)
	if err != nil {
		return Policy{}, fmt.Errorf("graphsim: policy: %w", err)
	}
	if p.ID == "" {
		p.ID = uuid.NewString()
	}
	if err := graph.ValidatePolicyID(p.ID); err != nil {
		return Policy{}, fmt.Errorf("graphsim: policy: %w", err)
	}
	p.ID, p.Kind = normPolicy(p.ID), k.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirLocked(strings.ToLower(tenant))
	key := collectionKey(k)
	d.policies[key] = upsert(d.policies[key], p, func(p Policy) string { return p.ID })
	return p, nil
}

// newOrGUID returns a new GUID for "", else id if it is a GUID (lower
// case).
func newOrGUID(id string) (string, error) {
	if id == "" {
		return uuid.NewString(), nil
	}
	return graph.NormalizeGUID(id)
}

// groupEntries lists a tenant's groups as Graph spells them.
func (d *directory) groupEntries() []entry {
	out := make([]entry, 0, len(d.groups))
	for _, g := range d.groups {
		out = append(out, entry{{"id", g.ID}, {"displayName", g.DisplayName}})
	}
	return out
}

// filterEntries lists a tenant's assignment filters as beta spells them.
func (d *directory) filterEntries() []entry {
	out := make([]entry, 0, len(d.filters))
	for _, f := range d.filters {
		out = append(out, entry{
			{propODataType, graphNS + "deviceAndAppManagementAssignmentFilter"},
			{"id", f.ID}, {"displayName", f.DisplayName}, {"platform", f.Platform},
		})
	}
	return out
}

// policyEntries lists the named policies of k's collection.
func (d *directory) policyEntries(k *graph.Kind) []entry {
	list := d.policies[collectionKey(k)]
	out := make([]entry, 0, len(list))
	for _, p := range list {
		out = append(out, entry{{"id", p.ID}, {nameProperty(k), p.DisplayName}})
	}
	return out
}
