package plan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/namestest"
	"github.com/bulkassign/bulkassign/plan"
)

// Build against the Graph simulator over loopback HTTP.

const (
	tenantA = "contoso.onmicrosoft.com"
	tenantB = "fabrikam.onmicrosoft.com"
	tenantC = "northwind.onmicrosoft.com"
)

func seed(t *testing.T, s *graphtest.Server, tenant, kind, policy string, as ...graph.Assignment) {
	t.Helper()
	if err := s.Seed(tenant, kind, policy, as...); err != nil {
		t.Fatal(err)
	}
}

func groupTarget(g string) graph.Assignment {
	return graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: g}}
}

// world is one tenant's seeded objects, the same names in every tenant.
type world struct {
	g1, g2, g3, g4, g5, dup1, dup2, filter string
	config, settings, compliance, app      string
	missing                                string
}

func seedWorld(t *testing.T, s *graphtest.Server, tn string) world {
	t.Helper()
	w := world{
		g1: s.SeedGroup(tn, "Pilot 1"), g2: s.SeedGroup(tn, "Pilot 2"), g3: s.SeedGroup(tn, "Pilot 3"),
		g4: s.SeedGroup(tn, "Pilot 4"), g5: s.SeedGroup(tn, "Pilot 5"),
		dup1: s.SeedGroup(tn, "Twins"), dup2: s.SeedGroup(tn, "Twins"),
		filter:     namestest.SeedFilter(t, s, tn, "Corporate Windows", ""),
		config:     namestest.SeedPolicy(t, s, tn, "deviceConfigurations", "Baseline"),
		settings:   namestest.SeedPolicy(t, s, tn, "configurationPolicies", "Settings Baseline"),
		compliance: namestest.SeedPolicy(t, s, tn, "deviceCompliancePolicies", "Compliance"),
		app:        namestest.SeedPolicy(t, s, tn, "mobileApps", "Company Portal"),
		missing:    "77777777-7777-7777-7777-777777777777",
	}
	filtered := groupTarget(w.g3)
	filtered.Target.FilterID, filtered.Target.FilterType = w.filter, "exclude"
	seed(t, s, tn, "deviceConfigurations", w.config, groupTarget(w.g2), filtered, groupTarget(w.g4))
	app := groupTarget(w.g1)
	app.Intent = "available"
	seed(t, s, tn, "mobileApps", w.app, app)
	if err := s.SeedInherited(tn, "deviceCompliancePolicies", w.compliance, "88888888-8888-8888-8888-888888888888", groupTarget(w.g5)); err != nil {
		t.Fatal(err)
	}
	return w
}

const header = "tenant_id,kind,policy_id,policy_name,target,group_id,group_name,filter_name,filter_type,intent,action\n"

// rows are one tenant's rows and the decision each must get.
func rows(tn string, w world) (string, []plan.Decision) {
	var b strings.Builder
	var want []plan.Decision
	add := func(d plan.Decision, fields ...string) {
		b.WriteString(tn + "," + strings.Join(fields, ",") + "\n")
		want = append(want, d)
	}
	// kind, policy_id, policy_name, target, group_id, group_name, filter_name, filter_type, intent, action
	add(plan.Create, "deviceConfigurations", "", "Baseline", "group", "", "Pilot 1", "", "", "", "")
	add(plan.Exists, "deviceConfigurations", "", "Baseline", "group", "", "Pilot 2", "", "", "", "")
	add(plan.Conflict, "deviceConfigurations", "", "Baseline", "group", "", "Pilot 3", "Corporate Windows", "include", "", "")
	add(plan.Unresolved, "deviceConfigurations", "", "Baseline", "group", "", "Nobody", "", "", "", "")
	add(plan.Unresolved, "deviceConfigurations", "", "Baseline", "group", "", "Twins", "", "", "", "")
	add(plan.Duplicate, "deviceConfigurations", w.config, "", "group", w.g1, "", "", "", "", "") // row 2 by id
	add(plan.Remove, "deviceConfigurations", "", "Baseline", "group", "", "Pilot 4", "", "", "", "remove")
	add(plan.Absent, "deviceConfigurations", "", "Baseline", "group", "", "Pilot 5", "", "", "", "remove")
	add(plan.Create, "configurationPolicies", "", "Settings Baseline", "group", "", "Pilot 1", "Corporate Windows", "include", "", "")
	add(plan.Conflict, "mobileApps", "", "Company Portal", "group", "", "Pilot 1", "", "", "required", "")
	add(plan.Conflict, "deviceCompliancePolicies", "", "Compliance", "group", "", "Pilot 5", "", "", "", "remove")
	add(plan.Unresolved, "deviceConfigurations", w.missing, "", "allDevices", "", "", "", "", "", "")
	add(plan.Invalid, "deviceFoo", w.config, "", "group", w.g1, "", "", "", "", "")
	return b.String(), want
}

func TestBuildDecidesEveryRow(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{PageSize: 2})
	// Three tenants with the same names (and different ids).
	tns := []string{tenantA, tenantB, tenantC}
	worlds := make(map[string]world)
	input := header
	var want []plan.Decision
	for _, tn := range tns {
		worlds[tn] = seedWorld(t, s, tn)
		s.SetMissingPolicy(worlds[tn].missing)
		in, w := rows(tn, worlds[tn])
		input += in
		want = append(want, w...)
	}
	perTenant := len(want) / len(tns)
	before := s.Stats()

	p, err := plan.Build(context.Background(), plan.Config{Graph: namestest.Client(t, s.URL()), Ingest: ingest.Options{}}, strings.NewReader(input), "in.csv")
	if err != nil {
		t.Fatal(err)
	}
	if after := s.Stats(); after.Writes != before.Writes {
		t.Errorf("planning wrote %d times to Graph", after.Writes-before.Writes)
	}
	if len(p.Entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(p.Entries), len(want))
	}
	for i, e := range p.Entries {
		if e.Row != i+2 || e.Decision != want[i] {
			t.Errorf("row %d: %s (%s), want %s", e.Row, e.Decision, e.Reason, want[i])
		}
	}
	// Each tenant's rows carry that tenant's ids.
	for n, tn := range tns {
		w, es := worlds[tn], p.Entries[n*perTenant:(n+1)*perTenant]
		if es[0].PolicyID != w.config || es[0].GroupID != w.g1 || es[0].PolicyName != "Baseline" || es[0].GroupName != "Pilot 1" || es[0].Key == "" {
			t.Errorf("%s create: %+v", tn, es[0])
		}
		if es[1].AssignmentID != w.config+"_"+w.g2 {
			t.Errorf("%s exists: assignment %q", tn, es[1].AssignmentID)
		}
		if es[2].FilterID != w.filter || !strings.Contains(es[2].Reason, "filter "+w.filter+" (exclude)") {
			t.Errorf("%s conflict: %+v", tn, es[2])
		}
		if len(es[4].Candidates) != 2 || !strings.Contains(es[4].Reason, w.dup1) || !strings.Contains(es[4].Reason, w.dup2) {
			t.Errorf("%s ambiguous group: %+v", tn, es[4])
		}
		if es[5].DuplicateOf != es[0].Row {
			t.Errorf("%s duplicate of row %d, want %d", tn, es[5].DuplicateOf, es[0].Row)
		}
		if es[6].AssignmentID != w.config+"_"+w.g4 || es[6].Action != "remove" {
			t.Errorf("%s remove: %+v", tn, es[6])
		}
		if es[8].PolicyID != w.settings || es[8].FilterID != w.filter || es[8].APIVersion != graph.Beta {
			t.Errorf("%s settings create: %+v", tn, es[8])
		}
		if !strings.Contains(es[10].Reason, "policy set") {
			t.Errorf("%s inherited removal: %+v", tn, es[10])
		}
		if !strings.Contains(es[11].Reason, "does not exist") {
			t.Errorf("%s missing policy: %+v", tn, es[11])
		}
	}
	sum := p.Summary()
	if sum.Tenants[tenantA][plan.Create] != 2 || sum.Kinds["deviceConfigurations"][plan.Unresolved] != 9 || sum.OK() {
		t.Errorf("summary %+v", sum)
	}
	// The plan written and read back is the same plan.
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := plan.Load(&buf)
	if err != nil || back.SHA256 != p.SHA256 || len(back.Entries) != len(p.Entries) {
		t.Fatalf("Load: %v", err)
	}
}

func TestBuildReadsEachPolicyOnce(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	tn := tenantA
	policy := namestest.SeedPolicy(t, s, tn, "deviceConfigurations", "Baseline")
	var b strings.Builder
	b.WriteString("tenant_id,kind,policy_name,target,group_id\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "%s,deviceConfigurations,Baseline,group,%08d-0000-4000-8000-000000000000\n", tn, i)
	}
	before := s.Stats().Requests
	p, err := plan.Build(context.Background(), plan.Config{Graph: namestest.Client(t, s.URL())}, strings.NewReader(b.String()), "many.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Summary().Total[plan.Create]; got != 40 {
		t.Fatalf("%d creates", got)
	}
	// One policy list (the name) and one assignments list.
	if n := s.Stats().Requests - before; n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if p.Entries[0].PolicyID != policy {
		t.Errorf("policy %s", p.Entries[0].PolicyID)
	}
}

func TestBuildForbiddenGroupLookupFailsTheRows(t *testing.T) {
	t.Parallel()
	s := graphtest.New(graphtest.Config{})
	policy := namestest.SeedPolicy(t, s, tenantA, "deviceConfigurations", "Baseline")
	s.SeedGroup(tenantA, "Pilot")
	in := "tenant_id,kind,policy_id,target,group_name\n" + tenantA + ",deviceConfigurations," + policy + ",group,Pilot\n"
	p, err := plan.Build(context.Background(), plan.Config{Graph: namestest.Client(t, namestest.ForbidGroups(t, s))}, strings.NewReader(in), "in.csv")
	if err != nil {
		t.Fatal(err)
	}
	e := p.Entries[0]
	if e.Decision != plan.Failed || !strings.Contains(e.Reason, "Group.Read.All") {
		t.Errorf("entry %+v", e)
	}
}

func TestBuildFileErrorAndCancel(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	c := namestest.Client(t, s.URL())
	_, err := plan.Build(context.Background(), plan.Config{Graph: c}, strings.NewReader(""), "empty.csv")
	var fe *ingest.FileError
	if !errors.As(err, &fe) || !errors.Is(err, ingest.ErrEmpty) {
		t.Errorf("empty input: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := "tenant_id,kind,policy_name,target\n" + tenantA + ",deviceConfigurations,Baseline,allDevices\n"
	if _, err := plan.Build(ctx, plan.Config{Graph: c}, strings.NewReader(in), "in.csv"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := plan.Build(context.Background(), plan.Config{}, strings.NewReader(in), "in.csv"); err == nil {
		t.Error("Build without Graph succeeded")
	}
}
