package plan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/plan"
)

func samplePlan() *plan.Plan {
	return &plan.Plan{
		Format: plan.FormatV1, Source: "in.csv", InputSHA256: strings.Repeat("ab", 32),
		Created: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		Entries: []plan.Entry{
			{Row: 2, Decision: plan.Create, Action: "add", Tenant: "contoso.onmicrosoft.com", Kind: "deviceConfigurations",
				PolicyID: "22222222-2222-2222-2222-222222222222", PolicyName: "Baseline <Win>", Target: "group",
				GroupID: groupA, GroupName: "Pilot & Co", APIVersion: "beta", Key: "k"},
			{Row: 3, Decision: plan.Unresolved, Action: "add", Tenant: "contoso.onmicrosoft.com", Kind: "deviceConfigurations",
				Reason: "column group_name: 2 groups named …", GroupName: "Dup",
				Candidates: []graph.Named{{ID: groupA, DisplayName: "Dup"}, {ID: groupB, DisplayName: "dup"}}},
			{Row: 4, Decision: plan.Invalid, Reason: "column tenant_id: not a tenant id: \"\xff\"", Tenant: "\xff"},
		},
	}
}

func TestPlanFileRoundTrip(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if len(p.SHA256) != 64 {
		t.Fatalf("plan_sha256 %q", p.SHA256)
	}
	got, err := plan.Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Load of the written plan: %v", err)
	}
	if got.SHA256 != p.SHA256 || len(got.Entries) != 3 || got.Entries[1].Candidates[1].ID != groupB || !got.Created.Equal(p.Created) {
		t.Errorf("loaded %+v", got)
	}
	// Formatting does not count: the same content compacted loads.
	var compact bytes.Buffer
	if err := json.Compact(&compact, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Load(&compact); err != nil {
		t.Errorf("compacted plan: %v", err)
	}
}

func TestPlanFileRefusesEdits(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := samplePlan().Write(&buf); err != nil {
		t.Fatal(err)
	}
	written := buf.String()
	for _, tc := range []struct {
		name, old, new string
		want           error
	}{
		{"decision changed", `"decision": "unresolved"`, `"decision": "create"`, plan.ErrTampered},
		{"id changed", `"group_id": "` + groupA + `"`, `"group_id": "` + groupB + `"`, plan.ErrTampered},
		{"row dropped", `"row": 4`, `"row": 5`, plan.ErrTampered},
		{"hash changed", `"plan_sha256": "`, `"plan_sha256": "0`, plan.ErrTampered},
		{"unknown field", `"row": 2,`, `"row": 2, "force": true,`, plan.ErrFormat},
		{"other format", plan.FormatV1, "bulkassign-plan/9", plan.ErrFormat},
		{"trailing data", "}\n", "}\n{}", plan.ErrFormat},
	} {
		edited := strings.Replace(written, tc.old, tc.new, 1)
		if tc.name == "trailing data" {
			edited = written + "{}"
		}
		if edited == written {
			t.Fatalf("%s: edit did not apply", tc.name)
		}
		if _, err := plan.Load(strings.NewReader(edited)); !errors.Is(err, tc.want) {
			t.Errorf("%s: Load = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := plan.Load(strings.NewReader("not json")); !errors.Is(err, plan.ErrFormat) {
		t.Errorf("garbage: %v", err)
	}
}

func TestEntryJob(t *testing.T) {
	t.Parallel()
	e := plan.Entry{Row: 7, Decision: plan.Remove, Action: "remove", Tenant: "contoso.onmicrosoft.com", Kind: "deviceConfigurations",
		PolicyID: "22222222-2222-2222-2222-222222222222", Target: "group", GroupID: groupA, GroupName: "Pilot",
		FilterID: filterA, FilterType: "include", APIVersion: "beta"}
	j := e.Job("imp")
	want := jobs.Job{ImportID: "imp", Row: 7, Tenant: e.Tenant, Kind: e.Kind, PolicyID: e.PolicyID, Target: graph.TargetGroup,
		GroupID: groupA, GroupName: "Pilot", FilterID: filterA, FilterType: "include", APIVersion: "beta", Action: jobs.ActionRemove}
	want.Key = want.ComputeKey()
	if j != want {
		t.Errorf("Job = %+v\nwant %+v", j, want)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	s := p.Summary()
	if s.Rows != 3 || s.Total[plan.Create] != 1 || s.Tenants["contoso.onmicrosoft.com"][plan.Unresolved] != 1 || s.Kinds["-"][plan.Invalid] != 1 || s.OK() {
		t.Fatalf("summary %+v", s)
	}
	var b bytes.Buffer
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	const want = "3 rows: 1 create, 1 invalid, 1 unresolved\n" +
		"  tenant contoso.onmicrosoft.com: 1 create, 1 unresolved\n" +
		"  tenant \xff: 1 invalid\n" +
		"  kind -: 1 invalid\n" +
		"  kind deviceConfigurations: 1 create, 1 unresolved\n"
	if b.String() != want {
		t.Errorf("text\n%s\nwant\n%s", b.String(), want)
	}
	p.Entries = p.Entries[:1]
	if !p.Summary().OK() {
		t.Error("a plan of creates is not OK")
	}
}
