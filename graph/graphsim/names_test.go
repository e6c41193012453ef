package graphsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
)

// idsOf returns the "id" of each listed object.
func idsOf(t testing.TB, items []json.RawMessage) []string {
	t.Helper()
	var ids []string
	for _, raw := range items {
		var o struct{ ID string }
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	return ids
}

// filterQuery is "?$filter=<prop> eq '<literal>'" with the literal quoted
// for OData (” for ') and the whole option URL-encoded.
func filterQuery(prop, literal string) string {
	return "?$filter=" + url.QueryEscape(prop+" eq '"+strings.ReplaceAll(literal, "'", "''")+"'")
}

func TestGroupsByName(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	pilot1 := s.SeedGroup(tenA, "Intune – Pilot Devices")
	pilot2 := s.SeedGroup(tenA, "Intune – Pilot Devices")
	obrien := s.SeedGroup(tenA, "O'Brien's laptops")
	lower := s.SeedGroup(tenA, "intune – pilot devices")
	amp := s.SeedGroup(tenA, "R&D = 50% + more?")
	other := s.SeedGroup(tenB, "Intune – Pilot Devices")
	c := newClient(t, s, tenA)
	tests := []struct {
		name, literal string
		want          []string
	}{
		{"duplicates", "Intune – Pilot Devices", []string{pilot1, pilot2}},
		{"quotes", "O'Brien's laptops", []string{obrien}},
		{"exact case", "intune – pilot devices", []string{lower}},
		{"URL special characters", "R&D = 50% + more?", []string{amp}},
		{"none", "Intune – Pilot", nil},
	}
	for _, v := range []string{"v1.0", "beta"} {
		for _, tt := range tests {
			t.Run(v+" "+tt.name, func(t *testing.T) {
				items, _ := c.listAll("/" + v + "/groups" + filterQuery("displayName", tt.literal) + "&$select=id,displayName")
				if got := idsOf(t, items); !slices.Equal(got, tt.want) {
					t.Errorf("ids %v, want %v", got, tt.want)
				}
				for _, raw := range items {
					if !sameJSON(t, raw, []byte(`{"id":"`+idsOf(t, []json.RawMessage{raw})[0]+`","displayName":`+mustJSON(tt.literal)+`}`)) {
						t.Errorf("group %s", raw)
					}
				}
			})
		}
	}
	// The other tenant sees only its own group of that name.
	items, _ := newClient(t, s, tenB).listAll("/v1.0/groups" + filterQuery("displayName", "Intune – Pilot Devices"))
	if got := idsOf(t, items); !slices.Equal(got, []string{other}) {
		t.Errorf("tenant B: %v", got)
	}
	// $select narrows; everything without $filter.
	items, _ = c.listAll("/v1.0/groups?$select=id")
	if len(items) != 5 || !sameJSON(t, items[0], []byte(`{"id":"`+pilot1+`"}`)) {
		t.Errorf("$select=id: %s", items)
	}
	bad := []string{
		"?$filter=" + url.QueryEscape("displayName eq 'O'Brien'"), // quote not doubled
		"?$filter=" + url.QueryEscape("startswith(displayName,'Intune')"),
		"?$filter=" + url.QueryEscape("mail eq 'x'"),
		"?$filter=" + url.QueryEscape("displayName ne 'x'"),
		"?$select=mail",
		"?$top=0",
	}
	for _, q := range bad {
		if a := c.do("GET", "/v1.0/groups"+q, nil); a.status != http.StatusBadRequest || a.errorCode() != CodeBadRequest {
			t.Errorf("%s: %d %s", q, a.status, a.body)
		}
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestParseEq(t *testing.T) {
	t.Parallel()
	tests := []struct {
		given, prop, literal string
		ok                   bool
	}{
		{"displayName eq 'Pilot'", "displayName", "Pilot", true},
		{"  name   eq   'a b'  ", "name", "a b", true},
		{"displayName eq 'O''Brien'", "displayName", "O'Brien", true},
		{"displayName eq ''''", "displayName", "'", true},
		{"displayName eq ''", "displayName", "", true},
		{"displayName eq 'O'Brien'", "", "", false},
		{"displayName eq Pilot", "", "", false},
		{"displayName EQ 'x'", "", "", false},
		{"displayName eq 'x' or id eq 'y'", "", "", false},
		{"displayName", "", "", false},
	}
	for _, tt := range tests {
		prop, lit, err := parseEq(tt.given)
		if (err == nil) != tt.ok || prop != tt.prop || lit != tt.literal {
			t.Errorf("parseEq(%q) = %q, %q, %v", tt.given, prop, lit, err)
		}
	}
}

func TestAssignmentFilters(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	win, err := s.SeedFilter(tenA, "Corporate Windows", "")
	if err != nil {
		t.Fatal(err)
	}
	ios, err := s.SeedFilter(tenA, "Corporate Windows", "iOS")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s, tenA)
	items, _ := c.listAll("/beta/deviceManagement/assignmentFilters" + filterQuery("displayName", "Corporate Windows"))
	want := []string{
		`{"@odata.type":"#microsoft.graph.deviceAndAppManagementAssignmentFilter","id":"` + win + `","displayName":"Corporate Windows","platform":"windows10AndLater"}`,
		`{"@odata.type":"#microsoft.graph.deviceAndAppManagementAssignmentFilter","id":"` + ios + `","displayName":"Corporate Windows","platform":"iOS"}`,
	}
	sameItems(t, items, want)
	// v1.0 has no assignment filters: Graph's answer for an unknown segment.
	a := c.do("GET", "/v1.0/deviceManagement/assignmentFilters", nil)
	if a.status != http.StatusBadRequest || a.errorCode() != CodeBadRequest || !strings.Contains(string(a.body), "Resource not found for the segment 'assignmentFilters'") {
		t.Errorf("v1.0: %d %s", a.status, a.body)
	}
	if _, err := s.SeedFilter(tenA, "x", "amiga"); err == nil {
		t.Error("unknown platform accepted")
	}
	if a := c.do("POST", "/beta/deviceManagement/assignmentFilters", map[string]any{}); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", a.status)
	}
}

func TestPoliciesByName(t *testing.T) {
	t.Parallel()
	s := start(t, Config{PageSize: 2})
	seed := func(kind, name string) string {
		t.Helper()
		id, err := s.SeedPolicy(tenA, kind, name)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	base1 := seed("deviceCompliancePolicies", "Baseline – Windows Compliance")
	base2 := seed("deviceCompliancePolicies", "Baseline – Windows Compliance")
	seed("deviceCompliancePolicies", "Other")
	base3 := seed("deviceCompliancePolicies", "Baseline – Windows Compliance")
	catalog := seed("configurationPolicies", "Jo's catalog")
	cert := seed("deviceConfigurations/rootCertificate", "Root cert profile")
	if _, err := s.SeedPolicy(tenA, "nope", "x"); err == nil {
		t.Error("unknown kind accepted")
	}
	c := newClient(t, s, tenA)

	// Duplicates across pages; the nextLink keeps the filter.
	items, pages := c.listAll("/v1.0/deviceManagement/deviceCompliancePolicies" + filterQuery("displayName", "Baseline – Windows Compliance"))
	if got := idsOf(t, items); !slices.Equal(got, []string{base1, base2, base3}) || pages != 2 {
		t.Errorf("compliance by name: %v in %d pages", got, pages)
	}
	all, _ := c.listAll("/beta/deviceManagement/deviceCompliancePolicies")
	if len(all) != 4 || !sameJSON(t, all[0], []byte(`{"id":"`+base1+`","displayName":"Baseline – Windows Compliance"}`)) {
		t.Errorf("all compliance policies %s", all)
	}
	// configurationPolicies spell their name "name" (beta only).
	items, _ = c.listAll("/beta/deviceManagement/configurationPolicies" + filterQuery("name", "Jo's catalog"))
	sameItems(t, items, []string{`{"id":"` + catalog + `","name":"Jo's catalog"}`})
	for path, want := range map[string]int{
		"/beta/deviceManagement/configurationPolicies" + filterQuery("displayName", "Jo's catalog"): http.StatusBadRequest,
		"/v1.0/deviceManagement/configurationPolicies":                                              http.StatusBadRequest,
		"/beta/deviceManagement/notACollection":                                                     http.StatusNotFound,
	} {
		if a := c.do("GET", path, nil); a.status != want {
			t.Errorf("%s: %d %s", path, a.status, a.body)
		}
	}
	// A nested kind names its parent device configuration.
	items, _ = c.listAll("/v1.0/deviceManagement/deviceConfigurations")
	if got := idsOf(t, items); !slices.Equal(got, []string{cert}) {
		t.Errorf("device configurations %v", got)
	}
	// Renaming by id keeps one policy.
	if _, err := s.AddPolicy(tenA, Policy{Kind: "deviceConfigurations", ID: strings.ToUpper(cert), DisplayName: "Renamed"}); err != nil {
		t.Fatal(err)
	}
	items, _ = c.listAll("/v1.0/deviceManagement/deviceConfigurations")
	sameItems(t, items, []string{`{"id":"` + cert + `","displayName":"Renamed"}`})
}

// TestNameReadsAreReads: name lookups count against the request windows
// only; DELETE counts as a write.
func TestNameReadsAreReads(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Window: time.Minute, AppWriteLimit: 1, TenantWriteLimit: 1, AppRequestLimit: 12, TenantRequestLimit: 12, RetryAfter: RetryAfterAbsent})
	s.SeedGroup(tenA, "g")
	if _, err := s.SeedPolicy(tenA, "mobileApps", "app"); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s, tenA)
	for _, p := range []string{"/v1.0/groups", "/beta/deviceManagement/assignmentFilters", "/beta/deviceAppManagement/mobileApps"} {
		for range 3 {
			mustStatus(t, c.do("GET", p+"?$top=1", nil), http.StatusOK)
		}
	}
	if st := s.Stats(); st.Writes != 0 {
		t.Fatalf("reads counted as writes: %+v", st)
	}
	if err := s.Seed(tenA, "mobileApps", pol1, graph.Assignment{Target: graph.Target{Type: graph.TargetAllDevices}, Intent: "required"}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, c.do("DELETE", "/beta/deviceAppManagement/mobileApps/"+pol1+"/assignments/"+pol1+"_allDevices", nil), http.StatusNoContent)
	// The one write of the window is spent: the next write is throttled.
	mustStatus(t, c.do("DELETE", "/beta/deviceAppManagement/mobileApps/"+pol1+"/assignments/"+pol1+"_allDevices", nil), http.StatusTooManyRequests)
	if st := s.Stats(); st.Writes != 2 || st.DeletesApplied != 1 {
		t.Errorf("stats %+v", st)
	}
	// Reads are still within the request limit of 12 (9 + 2 so far).
	mustStatus(t, c.do("GET", "/v1.0/groups", nil), http.StatusOK)
	mustStatus(t, c.do("GET", "/v1.0/groups", nil), http.StatusTooManyRequests)
}

func TestDeleteRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind, path string // path: version-less policy path
		intent     string
		routed     bool
	}{
		{"mobileApps", "/deviceAppManagement/mobileApps/" + pol1, "required", true},
		{"deviceConfigurations", "/deviceManagement/deviceConfigurations/" + pol1, "", true},
		{"deviceConfigurations/rootCertificate", "/deviceManagement/deviceConfigurations/" + pol1 + "/rootCertificate", "", true},
		{"deviceCompliancePolicies", "/deviceManagement/deviceCompliancePolicies/" + pol1, "", false},
		{"deviceEnrollmentConfigurations", "/deviceManagement/deviceEnrollmentConfigurations/" + pol1, "", false},
	}
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			a := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: grp1}, Intent: tt.intent}
			b := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: grp2}, Intent: tt.intent}
			if err := s.Seed(tenA, tt.kind, pol1, a, b); err != nil {
				t.Fatal(err)
			}
			item := "/beta" + tt.path + "/assignments/" + strings.ToUpper(pol1) + "_" + grp1
			got := c.do("DELETE", item, nil)
			if !tt.routed {
				if got.status != http.StatusBadRequest || got.errorCode() != graph.RouteErrorCode || !strings.Contains(string(got.body), "No OData route exists") {
					t.Fatalf("not routed: %d %s", got.status, got.body)
				}
				if n := len(s.Assignments(tenA, tt.kind, pol1)); n != 2 {
					t.Errorf("%d assignments left, want 2", n)
				}
				return
			}
			mustStatus(t, got, http.StatusNoContent)
			left := s.Assignments(tenA, tt.kind, pol1)
			if len(left) != 1 || left[0].Target.GroupID != grp2 {
				t.Fatalf("left %+v", left)
			}
			if again := c.do("DELETE", item, nil); again.status != http.StatusNotFound || again.errorCode() != CodeNotFound {
				t.Errorf("second DELETE: %d %s", again.status, again.body)
			}
			if get := c.do("GET", item, nil); get.status != http.StatusMethodNotAllowed || get.header.Get("Allow") != "DELETE" {
				t.Errorf("GET item: %d allow %q", get.status, get.header.Get("Allow"))
			}
		})
	}
	if st := s.Stats(); st.DeletesApplied != 3 {
		t.Errorf("DeletesApplied %d, want 3", st.DeletesApplied)
	}
	// DeleteNotRouted: NoKinds routes every delete.
	s2 := start(t, Config{DeleteNotRouted: NoKinds})
	if err := s2.Seed(tenA, "deviceCompliancePolicies", pol1, graph.Assignment{Target: graph.Target{Type: graph.TargetAllDevices}}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, newClient(t, s2, tenA).do("DELETE", "/v1.0/deviceManagement/deviceCompliancePolicies/"+pol1+"/assignments/"+pol1+"_allDevices", nil), http.StatusNoContent)
}
