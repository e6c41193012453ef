package ingest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// The name and action columns: group_name, filter_name, policy_name
// instead of the ids, and action add or remove.

func TestNamesAndActions(t *testing.T) {
	t.Parallel()
	allow := Options{AllowUnresolved: true}
	const h = "tenant_id,kind,policy_id,policy_name,target,group_id,group_name,filter_id,filter_name,filter_type,api_version,action\n"
	row := func(policyID, policyName, target, groupID, groupName, filterID, filterName, filterType, version, action string) string {
		return strings.Join([]string{tenantA, "deviceConfigurations", policyID, policyName, target, groupID, groupName,
			filterID, filterName, filterType, version, action}, ",") + "\n"
	}
	tests := []struct {
		name  string
		opts  Options
		given string
		want  []RowError // exact
		jobs  []jobs.Job // exact, without Key (computed here)
	}{
		{name: "names resolved later", opts: allow,
			given: row("", "Baseline", "group", "", "Pilot Devices", "", "Corp Windows", "Include", "", "") +
				row(policyA, "", "group", "", "O'Brien", "", "", "", "", "ADD"),
			jobs: []jobs.Job{
				{Row: 2, Tenant: tenantA, Kind: "deviceConfigurations", PolicyName: "Baseline", Target: graph.TargetGroup,
					GroupName: "Pilot Devices", FilterName: "Corp Windows", FilterType: "include", APIVersion: graph.Beta},
				{Row: 3, Tenant: tenantA, Kind: "deviceConfigurations", PolicyID: policyA, Target: graph.TargetGroup,
					GroupName: "O'Brien", APIVersion: graph.V1},
			}},
		{name: "remove", opts: allow, given: row(policyA, "", "group", groupA, "", "", "", "", "", "Remove"),
			jobs: []jobs.Job{{Row: 2, Tenant: tenantA, Kind: "deviceConfigurations", PolicyID: policyA, Target: graph.TargetGroup,
				GroupID: groupA, APIVersion: graph.V1, Action: jobs.ActionRemove}}},
		{name: "names refused by default",
			given: row("", "Baseline", "group", groupA, "", "", "", "", "", "") +
				row(policyA, "", "group", "", "Pilot", "", "", "", "", "") +
				row(policyA, "", "group", groupA, "", "", "Corp", "include", "", "") +
				row(policyA, "", "group", groupA, "", "", "", "", "", "remove"),
			want: []RowError{
				{2, "policy_name", "names are resolved by bulkassign plan; this command needs policy_id"},
				{3, "group_name", "names are resolved by bulkassign plan; this command needs group_id"},
				{4, "filter_name", "names are resolved by bulkassign plan; this command needs filter_id"},
				{5, "action", "remove is not supported by this command (bulkassign plan shows what a removal would do)"},
			}},
		{name: "id and name", opts: allow,
			given: row(policyA, "Baseline", "group", groupA, "", "", "", "", "", "") +
				row(policyA, "", "group", groupA, "Pilot", "", "", "", "", "") +
				row(policyA, "", "group", groupA, "", filterA, "Corp", "include", "", ""),
			want: []RowError{
				{2, "policy_name", "give policy_id or policy_name, not both"},
				{3, "group_name", "give group_id or group_name, not both"},
				{4, "filter_name", "give filter_id or filter_name, not both"},
			}},
		{name: "neither", opts: allow,
			given: row("", "", "group", groupA, "", "", "", "", "", "") + row(policyA, "", "group", "", "", "", "", "", "", ""),
			want:  []RowError{{2, "policy_id", "missing"}, {3, "group_id", "missing (target group needs a group)"}}},
		{name: "group name on a target without group", opts: allow,
			given: row(policyA, "", "allDevices", "", "Pilot", "", "", "", "", ""),
			want:  []RowError{{2, "group_name", "not allowed for target allDevices"}}},
		{name: "filter name rules", opts: allow,
			given: row(policyA, "", "group", groupA, "", "", "Corp", "", "", "") +
				row(policyA, "", "group", groupA, "", "", "Corp", "include", "v1.0", ""),
			want: []RowError{
				{2, "filter_type", "missing (a filter_name needs include or exclude)"},
				{3, "api_version", "assignment filters exist only in beta, not v1.0"},
			}},
		{name: "bad name and action", opts: allow,
			given: row(policyA, "", "group", "", "a\tb", "", "", "", "", "") +
				row(policyA, "", "group", groupA, "", "", "", "", "", "delete"),
			want: []RowError{
				{2, "group_name", `not a usable display name: "a\tb" holds a control character`},
				{3, "action", `must be add or remove, not "delete"`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c collector
			s, err := Ingest(context.Background(), strings.NewReader(h+tt.given), tt.opts, &c)
			if (len(tt.want) > 0) != errors.Is(err, ErrInvalidRows) || (err != nil && !errors.Is(err, ErrInvalidRows)) {
				t.Fatalf("error %v", err)
			}
			if !reflect.DeepEqual(s.Errors, tt.want) {
				t.Fatalf("errors = %#v\nwant     %#v", s.Errors, tt.want)
			}
			for i := range tt.jobs {
				tt.jobs[i].Key = tt.jobs[i].ComputeKey()
			}
			if !reflect.DeepEqual(c.jobs, tt.jobs) {
				t.Fatalf("jobs = %+v\nwant   %+v", c.jobs, tt.jobs)
			}
			unresolved, removals := 0, 0
			for _, j := range c.jobs {
				if j.Unresolved() {
					unresolved++
				}
				if j.Action == jobs.ActionRemove {
					removals++
				}
			}
			if s.Unresolved != unresolved || s.Removals != removals {
				t.Errorf("summary unresolved %d removals %d, want %d %d", s.Unresolved, s.Removals, unresolved, removals)
			}
		})
	}
}

func TestNamesHeaderAndDuplicates(t *testing.T) {
	t.Parallel()
	allow := Options{AllowUnresolved: true}
	// policy_name stands in for the policy_id column.
	in := "tenant_id,kind,policy_name,target,group_name\n" +
		tenantA + ",deviceConfigurations,Baseline,group,Pilot\n" +
		tenantA + ",deviceConfigurations,BASELINE,group,pilot\n" + // the same names: Graph compares without case
		tenantA + ",deviceConfigurations,Baseline,group,Pilot 2\n"
	var c collector
	s, err := Ingest(context.Background(), strings.NewReader(in), allow, &c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Valid != 2 || s.Duplicates != 1 || len(c.results) != 1 || c.results[0].Row != 3 || c.results[0].DuplicateOf != 2 {
		t.Fatalf("summary %+v results %+v", s, c.results)
	}
	// A name never equals an id: a named row and an id row are told apart
	// until resolution fills the id in.
	named := c.jobs[0]
	withID := named
	withID.PolicyName, withID.PolicyID = "", policyA
	if named.ComputeKey() == withID.ComputeKey() {
		t.Error("a named job and an id job share a key before resolution")
	}
	resolved := named
	resolved.PolicyID, resolved.GroupID = policyA, groupA
	other := resolved
	other.PolicyName, other.GroupName = "", ""
	if resolved.ComputeKey() != other.ComputeKey() {
		t.Error("after resolution the names still count in the key")
	}

	_, err = Validate(context.Background(), strings.NewReader("tenant_id,kind,target,group_id\n"+tenantA+",deviceConfigurations,group,"+groupA+"\n"), allow)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Detail != "missing required columns: policy_id" {
		t.Errorf("header without policy_id and policy_name: %v", err)
	}
}

func TestParseMessageNames(t *testing.T) {
	t.Parallel()
	msg := `{"tenant_id":"` + tenantA + `","kind":"mobileApps","policy_name":"Company Portal","target":"group","group_name":"Pilot","intent":"required","action":"remove","row":4}`
	j, err := ParseMessage([]byte(msg), Options{AllowUnresolved: true})
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.Job{Row: 4, Tenant: tenantA, Kind: "mobileApps", PolicyName: "Company Portal", Target: graph.TargetGroup,
		GroupName: "Pilot", Intent: "required", APIVersion: graph.V1, Action: jobs.ActionRemove}
	want.Key = want.ComputeKey()
	if j != want {
		t.Fatalf("job %+v\nwant %+v", j, want)
	}
	var re *RowError
	if _, err := ParseMessage([]byte(msg), Options{}); !errors.As(err, &re) || re.Column != contract.ColPolicyName {
		t.Errorf("names without AllowUnresolved: %v", err)
	}
}
