package resolve_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/namestest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/resolve"
)

// Resolution against the Graph simulator over loopback HTTP.

var tenants = []string{"contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "northwind.onmicrosoft.com"}

func newResolver(t *testing.T, l resolve.Lookup) *resolve.Resolver {
	t.Helper()
	r, err := resolve.New(resolve.Config{Lookup: l})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tenantIDs are one tenant's seeded objects.
type tenantIDs struct{ group, filter, config, settings string }

// seedSameNames gives every tenant a group, a filter, a deviceConfigurations
// policy and a configurationPolicies policy of the same names (and a decoy
// of each under another name); the ids differ per tenant.
func seedSameNames(t *testing.T, s *graphtest.Server) map[string]tenantIDs {
	t.Helper()
	out := make(map[string]tenantIDs)
	for _, tn := range tenants {
		s.SeedGroup(tn, "Pilot Devices 2")
		namestest.SeedFilter(t, s, tn, "Corp Windows (old)", "")
		ids := tenantIDs{
			group:  s.SeedGroup(tn, "Intune – Pilot Devices"),
			filter: namestest.SeedFilter(t, s, tn, "Corporate Windows", "windows10AndLater"),
		}
		ids.config = namestest.SeedPolicy(t, s, tn, "deviceConfigurations", "Baseline – Windows")
		ids.settings = namestest.SeedPolicy(t, s, tn, "configurationPolicies", "Baseline – Windows")
		namestest.SeedPolicy(t, s, tn, "deviceConfigurations", "Baseline – macOS")
		out[tn] = ids
	}
	return out
}

func namedJob(tenant, kind string) jobs.Job {
	j := jobs.Job{Tenant: tenant, Kind: kind, PolicyName: "Baseline – Windows", Target: graph.TargetGroup,
		GroupName: "Intune – Pilot Devices", FilterName: "Corporate Windows", FilterType: "include", APIVersion: graph.Beta}
	j.Key = j.ComputeKey()
	return j
}

func TestResolveEachTenantToItsOwnIDs(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{PageSize: 2})
	want := seedSameNames(t, s)
	r := newResolver(t, namestest.Client(t, s.URL()))
	before := s.Stats().Requests

	// Many rows of each tenant and kind, resolved at once: each lookup is
	// made once and shared.
	type result struct {
		in, out jobs.Job
		err     error
	}
	var (
		mu   sync.Mutex
		got  []result
		wg   sync.WaitGroup
		ctx  = context.Background()
		kind = []string{"deviceConfigurations", "configurationPolicies"}
	)
	for i := 0; i < 24; i++ {
		in := namedJob(tenants[i%3], kind[i/3%2])
		wg.Go(func() {
			out, err := r.Resolve(ctx, in)
			mu.Lock()
			got = append(got, result{in, out, err})
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, g := range got {
		if g.err != nil {
			t.Fatalf("%s %s: %v", g.in.Tenant, g.in.Kind, g.err)
		}
		ids := want[g.in.Tenant]
		policy := ids.config
		if g.in.Kind == "configurationPolicies" {
			policy = ids.settings
		}
		j := g.out
		if j.PolicyID != policy || j.GroupID != ids.group || j.FilterID != ids.filter ||
			j.PolicyName != g.in.PolicyName || j.GroupName != g.in.GroupName || j.Key != j.ComputeKey() || j.Key == g.in.Key {
			t.Errorf("%s %s resolved to %+v, want %+v", g.in.Tenant, g.in.Kind, j, ids)
		}
		if err := j.Validate(); err != nil {
			t.Errorf("resolved job invalid: %v", err)
		}
	}
	// Per tenant: one group lookup, one filter list, one list of each
	// collection (deviceConfigurations holds two named policies, one page
	// of two; filters hold two, one page).
	if n := s.Stats().Requests - before; n != 3*4 {
		t.Errorf("%d requests, want 12 (one per tenant and lookup)", n)
	}

	// A job without names is returned as it is, without a request.
	plain := jobs.Job{Tenant: tenants[0], Kind: "deviceConfigurations", PolicyID: want[tenants[0]].config,
		Target: graph.TargetAllDevices, APIVersion: graph.V1}
	plain.Key = plain.ComputeKey()
	before = s.Stats().Requests
	if out, err := r.Resolve(ctx, plain); err != nil || out != plain || s.Stats().Requests != before {
		t.Errorf("plain job: %+v %v", out, err)
	}
}

func TestResolveAmbiguousAndMissingNames(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	tn := tenants[0]
	dup1, dup2 := s.SeedGroup(tn, "Pilot"), s.SeedGroup(tn, "Pilot")
	s.SeedGroup(tn, "Pilot devices")
	policy := namestest.SeedPolicy(t, s, tn, "deviceConfigurations", "Baseline")
	f1, f2 := namestest.SeedFilter(t, s, tn, "Corp", ""), namestest.SeedFilter(t, s, tn, "CORP", "")
	r := newResolver(t, namestest.Client(t, s.URL()))
	ctx := context.Background()

	job := func(group, filter string) jobs.Job {
		j := jobs.Job{Tenant: tn, Kind: "deviceConfigurations", PolicyName: "Baseline", Target: graph.TargetGroup, GroupName: group, APIVersion: graph.Beta}
		if filter != "" {
			j.FilterName, j.FilterType = filter, "include"
		}
		return j
	}
	for _, tc := range []struct {
		name   string
		job    jobs.Job
		is     error
		column string
		ids    []string
	}{
		{"two groups", job("Pilot", ""), resolve.ErrAmbiguous, "group_name", []string{dup1, dup2}},
		{"no group", job("Nobody", ""), resolve.ErrNotFound, "group_name", nil},
		{"two filters differing in case", job("Pilot devices", "corp"), resolve.ErrAmbiguous, "filter_name", []string{f1, f2}},
		{"no policy", jobs.Job{Tenant: tn, Kind: "deviceConfigurations", PolicyName: "Gone", Target: graph.TargetAllDevices, APIVersion: graph.V1},
			resolve.ErrNotFound, "policy_name", nil},
	} {
		_, err := r.Resolve(ctx, tc.job)
		var ne *resolve.NameError
		if !errors.As(err, &ne) || !errors.Is(err, tc.is) || ne.Column != tc.column || ne.Tenant != tn {
			t.Errorf("%s: %v, want a NameError %v on %s", tc.name, err, tc.is, tc.column)
			continue
		}
		var ids []string
		for _, c := range ne.Candidates {
			ids = append(ids, c.ID)
			if !strings.Contains(err.Error(), c.ID) {
				t.Errorf("%s: %q does not name candidate %s", tc.name, err, c.ID)
			}
		}
		slices.Sort(ids)
		want := slices.Sorted(slices.Values(tc.ids))
		if !slices.Equal(ids, want) {
			t.Errorf("%s: candidates %v, want %v", tc.name, ids, want)
		}
	}
	out, err := r.Resolve(ctx, job("Pilot devices", ""))
	if err != nil || out.PolicyID != policy {
		t.Errorf("unique names: %+v %v", out, err)
	}
}

func TestResolveForbiddenGroupLookupNamesThePermission(t *testing.T) {
	t.Parallel()
	s := graphtest.New(graphtest.Config{})
	tn := tenants[1]
	s.SeedGroup(tn, "Pilot")
	r := newResolver(t, namestest.Client(t, namestest.ForbidGroups(t, s)))
	_, err := r.Resolve(context.Background(), jobs.Job{Tenant: tn, Kind: "deviceConfigurations", PolicyID: "22222222-2222-2222-2222-222222222222",
		Target: graph.TargetGroup, GroupName: "Pilot", APIVersion: graph.V1})
	var pe *graph.PermissionError
	if !errors.As(err, &pe) || pe.Permission != "Group.Read.All" || !errors.Is(err, graph.ErrForbidden) ||
		!strings.Contains(err.Error(), "Group.Read.All") || !strings.Contains(err.Error(), "group_name") {
		t.Errorf("403 on the group lookup: %v", err)
	}
}

func TestNewResolverNeedsLookup(t *testing.T) {
	t.Parallel()
	if _, err := resolve.New(resolve.Config{}); err == nil {
		t.Error("New without Lookup succeeded")
	}
}
