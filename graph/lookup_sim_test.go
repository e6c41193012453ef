package graph_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// Lookups and Delete against the Graph simulator over real HTTP on
// loopback: both sides speak Graph's shapes.

func TestSimLookups(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{PageSize: 1})
	c := simClient(t, s)
	ctx := context.Background()
	const name = "Intune – O'Brien + Co & 100% #1"
	want := s.SeedGroup(simTenant, name)
	s.SeedGroup(simTenant, name+" (old)")
	s.SeedGroup("other.onmicrosoft.com", name)
	got, err := c.FindGroups(ctx, simTenant, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (graph.Named{ID: want, DisplayName: name}) {
		t.Errorf("FindGroups = %+v, want only %s", got, want)
	}

	f1, err := s.SeedFilter(simTenant, "Corporate Windows", "")
	if err != nil {
		t.Fatal(err)
	}
	f2, err := s.SeedFilter(simTenant, "Corporate iOS", "iOS")
	if err != nil {
		t.Fatal(err)
	}
	filters, err := c.ListFilters(ctx, simTenant) // two pages of one
	if err != nil {
		t.Fatal(err)
	}
	if len(filters) != 2 || filters[0] != (graph.Named{ID: f1, DisplayName: "Corporate Windows", Platform: "windows10AndLater"}) ||
		filters[1] != (graph.Named{ID: f2, DisplayName: "Corporate iOS", Platform: "iOS"}) {
		t.Errorf("ListFilters = %+v", filters)
	}

	for _, kn := range []string{"configurationPolicies", "mobileApps", "deviceEnrollmentConfigurations"} {
		k := kind(t, kn)
		p1, err := s.SeedPolicy(simTenant, kn, "Baseline")
		if err != nil {
			t.Fatal(err)
		}
		p2, err := s.SeedPolicy(simTenant, kn, "baseline")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.ListPolicies(ctx, simTenant, k)
		if err != nil {
			t.Fatalf("%s: %v", kn, err)
		}
		if len(got) != 2 || got[0] != (graph.Named{ID: p1, DisplayName: "Baseline"}) || got[1] != (graph.Named{ID: p2, DisplayName: "baseline"}) {
			t.Errorf("%s: ListPolicies = %+v", kn, got)
		}
	}
}

func TestSimDelete(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	c := simClient(t, s)
	ctx := context.Background()
	cfg, comp := kind(t, "deviceConfigurations"), kind(t, "deviceCompliancePolicies")
	if err := s.Seed(simTenant, cfg.Name, policyID, groupAssignment(groupA), groupAssignment(groupB)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, simTenant, graph.Beta, cfg, policyID, policyID+"_"+groupA); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	left := s.Assignments(simTenant, cfg.Name, policyID)
	if len(left) != 1 || left[0].Target.GroupID != groupB {
		t.Errorf("after Delete: %+v", left)
	}
	err := c.Delete(ctx, simTenant, graph.Beta, cfg, policyID, policyID+"_"+groupA)
	if !errors.Is(err, graph.ErrAbsent) {
		t.Errorf("second Delete: %v, want ErrAbsent", err)
	}
	if err := s.Seed(simTenant, comp.Name, policyID, groupAssignment(groupA)); err != nil {
		t.Fatal(err)
	}
	err = c.Delete(ctx, simTenant, graph.V1, comp, policyID, policyID+"_"+groupA)
	if !errors.Is(err, graph.ErrRouteNotSupported) || errors.Is(err, graph.ErrAbsent) {
		t.Errorf("Delete on deviceCompliancePolicies: %v, want ErrRouteNotSupported", err)
	}
	if n := len(s.Assignments(simTenant, comp.Name, policyID)); n != 1 {
		t.Errorf("not-routed Delete changed the policy: %d assignments", n)
	}
}
