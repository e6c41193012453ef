package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/google/uuid"
)

// listAll follows @odata.nextLink from path and returns every item and the
// number of pages.
func (c *tc) listAll(path string) ([]json.RawMessage, int) {
	c.t.Helper()
	var items []json.RawMessage
	pages := 0
	for next := path; next != ""; pages++ {
		a := c.do("GET", next, nil)
		mustStatus(c.t, a, http.StatusOK)
		var page struct {
			Value []json.RawMessage `json:"value"`
			Next  string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			c.t.Fatalf("page %s: %v", a.body, err)
		}
		items = append(items, page.Value...)
		next = page.Next
	}
	return items, pages
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// sameItems fails unless got and want hold the same JSON objects in order.
func sameItems(t testing.TB, got []json.RawMessage, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d:\n%s", len(got), len(want), got)
	}
	for i := range want {
		if !sameJSON(t, got[i], []byte(want[i])) {
			t.Errorf("item %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

// seedFidelity seeds the policies TestRenderPerVersion lists.
func seedFidelity(t testing.TB, s *Server) {
	t.Helper()
	filtered := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: grp1, FilterID: filt1, FilterType: graph.FilterInclude}}
	all := graph.Assignment{Target: graph.Target{Type: graph.TargetAllDevices}}
	if err := s.Seed(tenA, "deviceCompliancePolicies", pol1, filtered, all); err != nil {
		t.Fatal(err)
	}
	if err := s.SeedInherited(tenA, "deviceCompliancePolicies", pol1, "ps-9", graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: grp2}}); err != nil {
		t.Fatal(err)
	}
	app := json.RawMessage(`{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required",
		"settings":{"@odata.type":"#microsoft.graph.win32LobAppAssignmentSettings","notifications":"hideAll"},
		"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + grp1 + `",
		"deviceAndAppManagementAssignmentFilterId":"` + filt1 + `","deviceAndAppManagementAssignmentFilterType":"exclude"}}`)
	if err := s.Seed(tenA, "mobileApps", pol2, graph.Assignment{Raw: app}); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(tenA, "deviceManagementScripts", pol2, all); err != nil {
		t.Fatal(err)
	}
}

// TestRenderPerVersion lists the same seeded assignments in both versions:
// beta shows filters and source/sourceId, v1.0 neither (as the metadata
// says); app intent and settings show in both; a type without source in
// beta (scripts) shows none.
func TestRenderPerVersion(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	seedFidelity(t, s)
	c := newClient(t, s, tenA)
	const (
		dcp    = `"@odata.type":"#microsoft.graph.deviceCompliancePolicyAssignment"`
		group  = `"@odata.type":"#microsoft.graph.groupAssignmentTarget"`
		noFilt = `"deviceAndAppManagementAssignmentFilterId":null,"deviceAndAppManagementAssignmentFilterType":"none"`
		appSet = `"intent":"required","settings":{"@odata.type":"#microsoft.graph.win32LobAppAssignmentSettings","notifications":"hideAll"}`
	)
	tests := []struct {
		name, path string
		want       []string
	}{
		{"beta compliance", "/beta/deviceManagement/deviceCompliancePolicies/" + pol1 + "/assignments", []string{
			`{` + dcp + `,"id":"` + pol1 + `_` + grp1 + `","source":"direct","target":{` + group + `,"groupId":"` + grp1 + `","deviceAndAppManagementAssignmentFilterId":"` + filt1 + `","deviceAndAppManagementAssignmentFilterType":"include"}}`,
			`{` + dcp + `,"id":"` + pol1 + `_allDevices","source":"direct","target":{"@odata.type":"#microsoft.graph.allDevicesAssignmentTarget",` + noFilt + `}}`,
			`{` + dcp + `,"id":"` + pol1 + `_` + grp2 + `","source":"policySets","sourceId":"ps-9","target":{` + group + `,"groupId":"` + grp2 + `",` + noFilt + `}}`,
		}},
		{"v1.0 compliance", "/v1.0/deviceManagement/deviceCompliancePolicies/" + pol1 + "/assignments", []string{
			`{` + dcp + `,"id":"` + pol1 + `_` + grp1 + `","target":{` + group + `,"groupId":"` + grp1 + `"}}`,
			`{` + dcp + `,"id":"` + pol1 + `_allDevices","target":{"@odata.type":"#microsoft.graph.allDevicesAssignmentTarget"}}`,
			`{` + dcp + `,"id":"` + pol1 + `_` + grp2 + `","target":{` + group + `,"groupId":"` + grp2 + `"}}`,
		}},
		{"beta app", "/beta/deviceAppManagement/mobileApps/" + pol2 + "/assignments", []string{
			`{"@odata.type":"#microsoft.graph.mobileAppAssignment","id":"` + pol2 + `_` + grp1 + `",` + appSet + `,"source":"direct","target":{` + group + `,"groupId":"` + grp1 + `","deviceAndAppManagementAssignmentFilterId":"` + filt1 + `","deviceAndAppManagementAssignmentFilterType":"exclude"}}`,
		}},
		{"v1.0 app", "/v1.0/deviceAppManagement/mobileApps/" + pol2 + "/assignments", []string{
			`{"@odata.type":"#microsoft.graph.mobileAppAssignment","id":"` + pol2 + `_` + grp1 + `",` + appSet + `,"target":{` + group + `,"groupId":"` + grp1 + `"}}`,
		}},
		{"beta script has no source", "/beta/deviceManagement/deviceManagementScripts/" + pol2 + "/assignments", []string{
			`{"@odata.type":"#microsoft.graph.deviceManagementScriptAssignment","id":"` + pol2 + `_allDevices","target":{"@odata.type":"#microsoft.graph.allDevicesAssignmentTarget",` + noFilt + `}}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := c.listAll(tt.path)
			sameItems(t, got, tt.want)
		})
	}
	// What Graph holds is the beta rendering.
	sameItems(t, s.RawAssignments(tenA, "deviceCompliancePolicies", pol1), tests[0].want)
	if got := s.Assignments(tenA, "mobileApps", pol2); len(got) != 1 || got[0].Intent != "required" || got[0].Target.FilterType != graph.FilterExclude {
		t.Errorf("Assignments %+v", got)
	}
}

// TestVersionRefusesUnknownProperties posts bodies carrying properties the
// version's metadata lacks for the type: refused in v1.0 with Graph's 400,
// accepted in beta where the type has them.
func TestVersionRefusesUnknownProperties(t *testing.T) {
	t.Parallel()
	s := start(t, Config{NotRouted: NoKinds})
	c := newClient(t, s, tenA)
	const (
		dcType  = "#microsoft.graph.deviceConfigurationAssignment"
		dcpType = "#microsoft.graph.deviceCompliancePolicyAssignment"
		appType = "#microsoft.graph.mobileAppAssignment"
	)
	target := func(extra ...string) map[string]any {
		m := map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": uuid.NewString()}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	filter := []string{propFilterID, filt1, propFilterType, "include"}
	tests := []struct {
		name     string
		path     string // without version
		body     func() map[string]any
		property string // refused in v1.0, "" when both versions accept
	}{
		{"filter on a target", "/deviceManagement/deviceConfigurations/" + pol1 + "/assignments",
			func() map[string]any { return map[string]any{"@odata.type": dcType, "target": target(filter...)} }, propFilterID},
		{"filter in /assign", "/deviceManagement/deviceCompliancePolicies/" + pol1 + "/assign",
			func() map[string]any {
				return map[string]any{"assignments": []any{map[string]any{"target": target(filter...)}}}
			}, propFilterID},
		{"source direct", "/deviceManagement/deviceConfigurations/" + pol1 + "/assignments",
			func() map[string]any {
				return map[string]any{"@odata.type": dcType, "source": "direct", "target": target()}
			}, "source"},
		{"sourceId in /assign", "/deviceManagement/deviceCompliancePolicies/" + pol1 + "/assign",
			func() map[string]any {
				return map[string]any{"assignments": []any{map[string]any{"@odata.type": dcpType, "sourceId": nil, "target": target()}}}
			}, "sourceId"},
		{"configuration intent", "/deviceManagement/deviceConfigurations/" + pol1 + "/assignments",
			func() map[string]any {
				return map[string]any{"@odata.type": dcType, "intent": "apply", "target": target()}
			}, "intent"},
		{"app settings", "/deviceAppManagement/mobileApps/" + pol1 + "/assignments",
			func() map[string]any {
				return map[string]any{"@odata.type": appType, "intent": "available", "settings": nil, "target": target()}
			}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.CreatesApplied()
			a := c.do("POST", "/v1.0"+tt.path, tt.body())
			if tt.property != "" {
				if a.status != http.StatusBadRequest || a.errorCode() != CodeBadRequest || !strings.Contains(string(a.body), "'"+tt.property+"' does not exist") {
					t.Fatalf("v1.0: %d %s", a.status, a.body)
				}
				if s.CreatesApplied() != before {
					t.Fatal("a refused v1.0 body was applied")
				}
			} else if a.status >= 300 {
				t.Fatalf("v1.0: %d %s", a.status, a.body)
			}
			if a := c.do("POST", "/beta"+tt.path, tt.body()); a.status >= 300 {
				t.Fatalf("beta: %d %s", a.status, a.body)
			}
		})
	}
	// Other types' properties are refused in beta too.
	a := c.do("POST", "/beta/deviceManagement/deviceManagementScripts/"+pol1+"/assign",
		map[string]any{"deviceManagementScriptAssignments": []any{map[string]any{"source": "direct", "target": target()}}})
	if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "'source' does not exist on type 'microsoft.graph.deviceManagementScriptAssignment'") {
		t.Errorf("script with source: %d %s", a.status, a.body)
	}
}

// TestPropertiesKept writes assignments with intent, settings and filters
// in beta and reads them back unchanged; re-posting the listed set (what a
// faithful merge does) changes nothing, property for property.
func TestPropertiesKept(t *testing.T) {
	t.Parallel()
	s := start(t, Config{NotRouted: NoKinds})
	c := newClient(t, s, tenA)
	app := `{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"availableWithoutEnrollment",` +
		`"settings":{"@odata.type":"#microsoft.graph.iosLobAppAssignmentSettings","vpnConfigurationId":null,"isRemovable":false},` +
		`"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + grp1 + `",` +
		`"deviceAndAppManagementAssignmentFilterId":"` + filt1 + `","deviceAndAppManagementAssignmentFilterType":"include"}}`
	path := "/beta/deviceAppManagement/mobileApps/" + pol1
	created := c.do("POST", path+"/assignments", []byte(app))
	mustStatus(t, created, http.StatusCreated)
	var want map[string]any
	_ = json.Unmarshal([]byte(app), &want)
	want["id"], want["source"] = pol1+"_"+grp1, "direct"
	wantJSON, _ := json.Marshal(want)
	if !sameJSON(t, created.body, wantJSON) {
		t.Fatalf("created %s\nwant %s", created.body, wantJSON)
	}
	cfg := `{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","intent":"remove",` +
		`"target":{"@odata.type":"#microsoft.graph.exclusionGroupAssignmentTarget","groupId":"` + grp2 + `"}}`
	mustStatus(t, c.do("POST", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assign",
		[]byte(`{"assignments":[`+cfg+`]}`)), http.StatusOK)

	for _, k := range []struct{ kind, path, key string }{
		{"mobileApps", path, "mobileAppAssignments"},
		{"deviceConfigurations", "/beta/deviceManagement/deviceConfigurations/" + pol1, "assignments"},
	} {
		held := s.RawAssignments(tenA, k.kind, pol1)
		listed, _ := c.listAll(k.path + "/assignments")
		sameItems(t, listed, rawStrings(held))
		body, _ := json.Marshal(map[string]any{k.key: listed})
		a := c.do("POST", k.path+"/assign", body)
		if a.status >= 300 {
			t.Fatalf("%s: re-post: %d %s", k.kind, a.status, a.body)
		}
		sameItems(t, s.RawAssignments(tenA, k.kind, pol1), rawStrings(held))
	}
	if !strings.Contains(string(s.RawAssignments(tenA, "deviceConfigurations", pol1)[0]), `"intent":"remove"`) {
		t.Error("deviceConfigurationAssignment lost its beta intent")
	}
	if st := s.Stats(); st.CreatesApplied != 2 || st.InheritedReposted != 0 {
		t.Errorf("stats %+v, want 2 creates", st)
	}
}

func rawStrings(raws []json.RawMessage) []string {
	out := make([]string, len(raws))
	for i, r := range raws {
		out[i] = string(r)
	}
	return out
}

// TestInheritedAssignments: /assign replaces direct assignments only;
// inherited ones survive a body that omits them, become direct (and are
// counted) when re-posted, and cannot be created or deleted.
func TestInheritedAssignments(t *testing.T) {
	t.Parallel()
	s := start(t, Config{DeleteNotRouted: NoKinds})
	c := newClient(t, s, tenA)
	const kind = "deviceCompliancePolicies"
	base := "/deviceManagement/deviceCompliancePolicies/" + pol1
	ps1 := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: grp1}}
	ps2 := graph.Assignment{ID: "ps-entry-2", Target: graph.Target{Type: graph.TargetAllLicensedUsers}}
	if err := s.SeedInherited(tenA, kind, pol1, "set-1", ps1, ps2); err != nil {
		t.Fatal(err)
	}
	direct := func(group string) map[string]any {
		return map[string]any{"target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group}}
	}
	inherited := func() []string {
		var ids []string
		for _, a := range s.Assignments(tenA, kind, pol1) {
			if a.Source == sourcePolicy {
				ids = append(ids, a.ID)
			}
		}
		return ids
	}

	// A body without them (v1.0 and beta) leaves them in place.
	for _, v := range []string{"v1.0", "beta"} {
		mustStatus(t, c.do("POST", "/"+v+base+"/assign", map[string]any{"assignments": []any{direct(grp3)}}), http.StatusOK)
		if got := inherited(); fmt.Sprint(got) != fmt.Sprint([]string{pol1 + "_" + grp1, "ps-entry-2"}) {
			t.Fatalf("%s: inherited after /assign: %v", v, got)
		}
	}
	if s.Stats().InheritedReposted != 0 || s.AssignCalls(tenA, kind, pol1) != 2 {
		t.Fatalf("stats %+v, assign calls %d", s.Stats(), s.AssignCalls(tenA, kind, pol1))
	}

	// A create or a DELETE of an inherited one is refused.
	a := c.do("POST", "/beta"+base+"/assignments", map[string]any{"@odata.type": "#microsoft.graph.deviceCompliancePolicyAssignment",
		"source": "policySets", "target": direct(grp2)["target"]})
	if a.status != http.StatusBadRequest {
		t.Errorf("create with source policySets: %d %s", a.status, a.body)
	}
	if a := c.do("DELETE", "/beta"+base+"/assignments/ps-entry-2", nil); a.status != http.StatusBadRequest {
		t.Errorf("DELETE of an inherited assignment: %d %s", a.status, a.body)
	}

	// Re-posting what beta lists, inherited entries included (a merge that
	// forgets to drop them), makes them direct: counted.
	listed, _ := c.listAll("/beta" + base + "/assignments")
	body, _ := json.Marshal(map[string]any{"assignments": listed})
	mustStatus(t, c.do("POST", "/beta"+base+"/assign", body), http.StatusOK)
	if got := inherited(); len(got) != 0 {
		t.Errorf("still inherited after re-post: %v", got)
	}
	if st := s.Stats(); st.InheritedReposted != 2 || st.CreatesApplied != 1 {
		t.Errorf("stats %+v, want 2 re-posted and 1 create (grp3)", st)
	}

	// In v1.0 an inherited entry looks direct; re-posting it is counted too.
	if err := s.SeedInherited(tenA, kind, pol2, "set-1", ps1); err != nil {
		t.Fatal(err)
	}
	v1, _ := c.listAll("/v1.0/deviceManagement/deviceCompliancePolicies/" + pol2 + "/assignments")
	if len(v1) != 1 || strings.Contains(string(v1[0]), "source") {
		t.Fatalf("v1.0 list %s", v1)
	}
	body, _ = json.Marshal(map[string]any{"assignments": v1})
	mustStatus(t, c.do("POST", "/v1.0/deviceManagement/deviceCompliancePolicies/"+pol2+"/assign", body), http.StatusOK)
	if st := s.Stats(); st.InheritedReposted != 3 {
		t.Errorf("InheritedReposted %d after a v1.0 re-post, want 3", st.InheritedReposted)
	}
}

// TestPagingDefault lists a seeded set larger than the default page size.
func TestPagingDefault(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	var direct, inherited []graph.Assignment
	for i := range 230 {
		a := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: uuid.NewString()}}
		if i%10 == 0 {
			inherited = append(inherited, a)
		} else {
			direct = append(direct, a)
		}
	}
	if err := s.Seed(tenA, "deviceCompliancePolicies", pol1, direct...); err != nil {
		t.Fatal(err)
	}
	if err := s.SeedInherited(tenA, "deviceCompliancePolicies", pol1, "set", inherited...); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s, tenA)
	items, pages := c.listAll("/beta/deviceManagement/deviceCompliancePolicies/" + pol1 + "/assignments")
	if len(items) != 230 || pages != 3 {
		t.Fatalf("%d items in %d pages, want 230 in 3", len(items), pages)
	}
	sameItems(t, items, rawStrings(s.RawAssignments(tenA, "deviceCompliancePolicies", pol1)))
	items, pages = c.listAll("/beta/deviceManagement/deviceCompliancePolicies/" + pol1 + "/assignments?$top=50")
	if len(items) != 230 || pages != 5 {
		t.Errorf("$top=50: %d items in %d pages", len(items), pages)
	}
}
