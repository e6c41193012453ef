package graphsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// admin sends an admin API request without credentials and decodes a JSON
// answer into out (when not nil).
func (c *tc) admin(method, path, body string, out any) int {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// TestAdminAPI sets a tenant up over HTTP the way `bulkassign sim` users
// do, then reads it through Graph's routes.
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	tenant := "/_sim/tenants/" + strings.ToUpper(tenA)

	var g Group
	if st := c.admin("POST", tenant+"/groups", `{"displayName":"Pilot"}`, &g); st != http.StatusCreated || g.ID == "" || g.DisplayName != "Pilot" {
		t.Fatalf("group: %d %+v", st, g)
	}
	var fixed Group
	if st := c.admin("POST", tenant+"/groups", `{"id":"`+strings.ToUpper(grp3)+`","displayName":"Pilot"}`, &fixed); st != http.StatusCreated || fixed.ID != grp3 {
		t.Fatalf("group with id: %d %+v", st, fixed)
	}
	var f Filter
	if st := c.admin("POST", tenant+"/filters", `{"displayName":"Corporate","platform":"macOS"}`, &f); st != http.StatusCreated || f.Platform != "macOS" {
		t.Fatalf("filter: %d %+v", st, f)
	}
	var p Policy
	if st := c.admin("POST", tenant+"/policies", `{"kind":"deviceCompliancePolicies","displayName":"Baseline"}`, &p); st != http.StatusCreated || p.Kind != "deviceCompliancePolicies" {
		t.Fatalf("policy: %d %+v", st, p)
	}
	inherited := `{"kind":"deviceCompliancePolicies","policyId":"` + p.ID + `","assignment":{"source":"policySets","sourceId":"set-7",` +
		`"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + g.ID + `"}}}`
	var seeded map[string]any
	if st := c.admin("POST", tenant+"/assignments", inherited, &seeded); st != http.StatusCreated || seeded["source"] != "policySets" || seeded["sourceId"] != "set-7" {
		t.Fatalf("seed inherited: %d %v", st, seeded)
	}
	direct := `{"kind":"deviceCompliancePolicies","policyId":"` + p.ID + `","assignment":{"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget",` +
		`"groupId":"` + fixed.ID + `","deviceAndAppManagementAssignmentFilterId":"` + f.ID + `","deviceAndAppManagementAssignmentFilterType":"include"}}}`
	if st := c.admin("POST", tenant+"/assignments", direct, nil); st != http.StatusCreated {
		t.Fatalf("seed direct: %d", st)
	}

	// Graph's routes see all of it.
	groups, _ := c.listAll("/v1.0/groups" + filterQuery("displayName", "Pilot"))
	if got := idsOf(t, groups); !slices.Equal(got, []string{g.ID, grp3}) {
		t.Errorf("groups %v", got)
	}
	filters, _ := c.listAll("/beta/deviceManagement/assignmentFilters")
	if got := idsOf(t, filters); !slices.Equal(got, []string{f.ID}) {
		t.Errorf("filters %v", got)
	}
	policies, _ := c.listAll("/v1.0/deviceManagement/deviceCompliancePolicies" + filterQuery("displayName", "Baseline"))
	if got := idsOf(t, policies); !slices.Equal(got, []string{p.ID}) {
		t.Errorf("policies %v", got)
	}
	listed, _ := c.listAll("/beta/deviceManagement/deviceCompliancePolicies/" + p.ID + "/assignments")

	// The admin listing is what Graph holds, with the /assign count.
	mustStatus(t, c.do("POST", "/beta/deviceManagement/deviceCompliancePolicies/"+p.ID+"/assign", map[string]any{"assignments": listed[1:]}), http.StatusOK)
	var held struct {
		Value       []json.RawMessage `json:"value"`
		AssignCalls int               `json:"assignCalls"`
	}
	if st := c.admin("GET", tenant+"/assignments?kind=deviceCompliancePolicies&policyId="+p.ID, "", &held); st != http.StatusOK || held.AssignCalls != 1 {
		t.Fatalf("admin list: %d %+v", st, held)
	}
	sameItems(t, held.Value, rawStrings(listed))

	var stats Stats
	if st := c.admin("GET", "/_sim/stats", "", &stats); st != http.StatusOK || stats.Requests != 5 || stats.Writes != 1 || stats.InheritedReposted != 0 {
		t.Errorf("stats: %d %+v (admin requests are not counted)", st, stats)
	}

	bad := []struct{ method, path, body string }{
		{"POST", "/_sim/tenants/not_a_tenant/groups", `{"displayName":"x"}`},
		{"POST", tenant + "/groups", `{"displayName":"x","mail":"y"}`},
		{"POST", tenant + "/groups", `{"id":"nope","displayName":"x"}`},
		{"POST", tenant + "/filters", `{"displayName":"x","platform":"amiga"}`},
		{"POST", tenant + "/policies", `{"kind":"nope","displayName":"x"}`},
		{"POST", tenant + "/assignments", `{"kind":"deviceCompliancePolicies","policyId":"` + p.ID + `","assignment":{"priority":1,"target":{"@odata.type":"#microsoft.graph.allDevicesAssignmentTarget"}}}`},
		{"POST", tenant + "/assignments", `{"kind":"deviceCompliancePolicies","policyId":"` + p.ID + `"}`},
		{"GET", tenant + "/assignments?kind=deviceCompliancePolicies&policyId=x", ""},
	}
	for _, b := range bad {
		var e struct {
			Error struct{ Code, Message string }
		}
		if st := c.admin(b.method, b.path, b.body, &e); st != http.StatusBadRequest || e.Error.Code != CodeBadRequest || e.Error.Message == "" {
			t.Errorf("%s %s %s: %d %+v", b.method, b.path, b.body, st, e)
		}
	}
	if st := c.admin("GET", "/_sim/nothing", "", nil); st != http.StatusNotFound {
		t.Errorf("unknown admin route: %d", st)
	}

	if st := c.admin("POST", "/_sim/reset", "", nil); st != http.StatusNoContent {
		t.Fatalf("reset: %d", st)
	}
	if groups, _ := c.listAll("/v1.0/groups"); len(groups) != 0 || len(s.AllAssignments()) != 0 {
		t.Errorf("after reset: groups %s, assignments %v", groups, s.AllAssignments())
	}
}

// TestAdminRejectsOversizedBody keeps the admin API bounded like Graph's
// routes.
func TestAdminRejectsOversizedBody(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	big := `{"displayName":"` + string(bytes.Repeat([]byte("x"), maxBody)) + `"}`
	if st := c.admin("POST", "/_sim/tenants/"+tenA+"/groups", big, nil); st != http.StatusBadRequest {
		t.Errorf("oversized body: %d", st)
	}
}
