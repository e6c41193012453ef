package graph_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/google/uuid"
)

// The client against the Graph simulator over real HTTP on loopback.

const simTenant = "fabrikam.onmicrosoft.com"

func simClient(t *testing.T, s *graphtest.Server) *graph.Client {
	t.Helper()
	return newClient(t, graph.Config{
		BaseURL:      s.URL(),
		Tokens:       graph.StaticToken("sim-token"),
		TenantHeader: graphtest.TenantHeader,
		Timeout:      5 * time.Second,
	})
}

func TestSimCreateListAssign(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{PageSize: 2})
	c := simClient(t, s)
	ctx := context.Background()
	k := kind(t, "deviceConfigurations")

	var groups []string
	for i := 0; i < 5; i++ {
		g := uuid.NewString()
		groups = append(groups, g)
		a, err := c.Create(ctx, simTenant, graph.Beta, k, policyID, groupAssignment(g))
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != policyID+"_"+g || a.Target.GroupID != g {
			t.Errorf("created %+v", a)
		}
	}
	if n := len(s.Assignments(simTenant, k.Name, policyID)); n != 5 {
		t.Fatalf("simulator holds %d assignments", n)
	}

	// Five assignments in pages of two: three pages.
	before := s.Stats().Requests
	got, err := c.List(ctx, simTenant, graph.Beta, k, policyID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("listed %d", len(got))
	}
	for i, a := range got {
		if !a.SameTarget(groupAssignment(groups[i])) {
			t.Errorf("listed[%d] = %+v, want group %s", i, a, groups[i])
		}
	}
	if pages := s.Stats().Requests - before; pages != 3 {
		t.Errorf("List made %d requests, want 3 pages", pages)
	}

	// Duplicate create: the simulator's default answer is 409, permanent.
	_, err = c.Create(ctx, simTenant, graph.Beta, k, policyID, groupAssignment(groups[0]))
	ge := asGraphError(t, err)
	if ge.Class != graph.ClassPermanent || ge.StatusCode != 409 || ge.Code != graphtest.CodeConflict || ge.RequestID == "" || ge.ClientRequestID == "" {
		t.Errorf("duplicate create: %+v", ge)
	}

	// Assign replaces: keep the first listed assignment (as Graph returned
	// it) and add one new group; the other four go.
	newGroup := uuid.NewString()
	out, err := c.Assign(ctx, simTenant, graph.Beta, k, policyID, []graph.Assignment{got[0], groupAssignment(newGroup)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Errorf("assign answered %d assignments, want 2 (deviceConfigurations answers 200 value)", len(out))
	}
	after := s.Assignments(simTenant, k.Name, policyID)
	if len(after) != 2 || !after[0].SameTarget(got[0]) || !after[1].SameTarget(groupAssignment(newGroup)) {
		t.Errorf("after assign: %+v", after)
	}
}

func TestSimDuplicateReturnsExisting(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{Duplicate: graphtest.DuplicateReturnExisting})
	c := simClient(t, s)
	k := kind(t, "deviceConfigurations")
	a1, err := c.Create(context.Background(), simTenant, graph.V1, k, policyID, groupAssignment(groupA))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := c.Create(context.Background(), simTenant, graph.V1, k, policyID, groupAssignment(groupA))
	if err != nil || a2.ID != a1.ID {
		t.Errorf("second create = %+v, %v", a2, err)
	}
}

func TestSimAssignNoContent(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	c := simClient(t, s)
	k := kind(t, "mobileApps")
	set := []graph.Assignment{{Intent: "required", Target: graph.Target{Type: graph.TargetGroup, GroupID: groupA}}}
	out, err := c.Assign(context.Background(), simTenant, graph.V1, k, policyID, set)
	if err != nil || out != nil {
		t.Fatalf("Assign = %+v, %v (mobileApps answers 204)", out, err)
	}
	got := s.Assignments(simTenant, k.Name, policyID)
	if len(got) != 1 || got[0].Intent != "required" {
		t.Errorf("simulator holds %+v", got)
	}
}

func TestSimRouteNotSupported(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	c := simClient(t, s)
	_, err := c.Create(context.Background(), simTenant, graph.V1, kind(t, "deviceCompliancePolicies"), policyID, groupAssignment(groupA))
	if ge := asGraphError(t, err); ge.Class != graph.ClassRouteNotSupported || !errors.Is(err, graph.ErrRouteNotSupported) || ge.StatusCode != 400 {
		t.Errorf("got %+v", ge)
	}
}

func TestSimThrottleOn101stWrite(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{RetryAfter: graphtest.RetryAfterFractional})
	c := simClient(t, s)
	k := kind(t, "deviceConfigurations")
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.Create(ctx, simTenant, graph.V1, k, policyID, groupAssignment(uuid.NewString())); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	_, err := c.Create(ctx, simTenant, graph.V1, k, policyID, groupAssignment(uuid.NewString()))
	ge := asGraphError(t, err)
	if ge.Class != graph.ClassThrottled || !errors.Is(err, graph.ErrThrottled) || ge.Code != graphtest.CodeTooManyRequests {
		t.Fatalf("write 101: %+v", ge)
	}
	if !ge.HasRetryAfter || ge.RetryAfter <= 0 || ge.RetryAfter > 20*time.Second {
		t.Errorf("Retry-After %s (%v), want within the 20 s window", ge.RetryAfter, ge.HasRetryAfter)
	}
	// Another tenant has its own budget.
	if _, err := c.Create(ctx, "other.onmicrosoft.com", graph.V1, k, policyID, groupAssignment(groupA)); err != nil {
		t.Errorf("another tenant was throttled: %v", err)
	}
}

func TestSimFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     graphtest.Config
		status  int
		applied bool
	}{
		{"503 or 504", graphtest.Config{FaultRate: 1}, -1, false},
		{"reset before apply", graphtest.Config{ResetBeforeRate: 1}, 0, false},
		{"reset after apply", graphtest.Config{ResetAfterRate: 1}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := graphtest.Start(t, tt.cfg)
			c := simClient(t, s)
			k := kind(t, "deviceConfigurations")
			_, err := c.Create(context.Background(), simTenant, graph.V1, k, policyID, groupAssignment(groupA))
			ge := asGraphError(t, err)
			// Whether or not the simulator applied it, the client cannot
			// know: every one of these is ambiguous.
			if ge.Class != graph.ClassTransient || !errors.Is(err, graph.ErrAmbiguous) {
				t.Errorf("got %+v", ge)
			}
			if tt.status == 0 && ge.StatusCode != 0 || tt.status < 0 && ge.StatusCode != 503 && ge.StatusCode != 504 {
				t.Errorf("status %d", ge.StatusCode)
			}
			if applied := len(s.Assignments(simTenant, k.Name, policyID)) == 1; applied != tt.applied {
				t.Errorf("applied = %v, want %v", applied, tt.applied)
			}
			// A read of a faulty server is never ambiguous.
			if _, err := c.List(context.Background(), simTenant, graph.V1, k, policyID); err != nil && errors.Is(err, graph.ErrAmbiguous) {
				t.Errorf("list: %v", err)
			}
		})
	}
}
