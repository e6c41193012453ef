package graphsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/google/uuid"
)

func TestCreateAndListDeviceConfiguration(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)

	a := c.do("POST", "/v1.0/deviceManagement/deviceConfigurations/"+pol1+"/assignments", groupBody(dcType, strings.ToUpper(grp1)))
	mustStatus(t, a, http.StatusCreated)
	got, err := graph.ParseAssignment(a.body)
	if err != nil {
		t.Fatal(err)
	}
	if want := pol1 + "_" + grp1; got.ID != want {
		t.Errorf("id %q, want %q", got.ID, want)
	}
	// v1.0 has neither filters nor source (GRAPH.md, v1.0 metadata).
	if got.Target.Type != graph.TargetGroup || !strings.EqualFold(got.Target.GroupID, grp1) || got.Source != "" {
		t.Errorf("created %+v", got)
	}
	if strings.Contains(string(a.body), propFilterType) || strings.Contains(string(a.body), `"source"`) {
		t.Errorf("v1.0 answer carries filter or source properties: %s", a.body)
	}

	// The same policy in beta lists it with the beta filter properties.
	l := c.do("GET", "/beta/deviceManagement/deviceConfigurations/"+strings.ToUpper(pol1)+"/assignments", nil)
	mustStatus(t, l, http.StatusOK)
	var page struct {
		Value []json.RawMessage `json:"value"`
		Next  string            `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(l.body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 1 || page.Next != "" {
		t.Fatalf("list %s", l.body)
	}
	var raw map[string]any
	_ = json.Unmarshal(page.Value[0], &raw)
	target := raw["target"].(map[string]any)
	if v, ok := target[propFilterID]; !ok || v != nil || target[propFilterType] != "none" {
		t.Errorf("beta target %v, want filter id null and type none", target)
	}
	if raw["@odata.type"] != dcType || raw["source"] != "direct" {
		t.Errorf("@odata.type %v, source %v", raw["@odata.type"], raw["source"])
	}

	// Another tenant sees nothing.
	other := newClient(t, s, tenB)
	l = other.do("GET", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", nil)
	if !strings.Contains(string(l.body), `"value":[]`) {
		t.Errorf("tenant B list %s", l.body)
	}
	if n := len(s.Assignments(tenA, "deviceConfigurations", pol1)); n != 1 {
		t.Errorf("Assignments = %d, want 1", n)
	}
	if s.CreatesApplied() != 1 {
		t.Errorf("CreatesApplied %d", s.CreatesApplied())
	}
	if got := s.AllAssignments(); len(got) != 1 || len(got[tenA+"|deviceConfigurations|"+pol1]) != 1 {
		t.Errorf("AllAssignments %v", got)
	}
}

func TestCreateNestedCertificateKind(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	const sub = "/microsoft.graph.iosScepCertificateProfile/rootCertificate/assignments"
	body := map[string]any{
		"@odata.type": "microsoft.graph.deviceConfigurationAssignment", // no '#': accepted
		"target": map[string]any{
			"@odata.type": "microsoft.graph.groupAssignmentTarget", "groupId": grp2,
			propFilterID: filt1, propFilterType: "include",
		},
	}
	mustStatus(t, c.do("POST", "/beta/deviceManagement/deviceConfigurations/"+pol1+sub, body), http.StatusCreated)
	// The kind is beta only.
	a := c.do("POST", "/v1.0/deviceManagement/deviceConfigurations/"+pol1+sub, body)
	mustStatus(t, a, http.StatusBadRequest)

	got := s.Assignments(tenA, "deviceConfigurations/microsoft.graph.iosScepCertificateProfile/rootCertificate", pol1)
	if len(got) != 1 || got[0].Target.FilterID != filt1 || got[0].Target.FilterType != "include" {
		t.Fatalf("nested assignments %+v", got)
	}
	if n := len(s.Assignments(tenA, "deviceConfigurations", pol1)); n != 0 {
		t.Errorf("the parent kind got %d assignments", n)
	}
}

func TestAssignMobileAppsWithIntent(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	path := "/beta/deviceAppManagement/mobileApps/" + pol1
	body := map[string]any{"mobileAppAssignments": []any{
		map[string]any{
			"@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "required",
			"target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": grp1},
		},
		map[string]any{
			"intent":   "available",
			"settings": map[string]any{"@odata.type": "#microsoft.graph.iosLobAppAssignmentSettings", "vpnConfigurationId": nil},
			"target":   map[string]any{"@odata.type": "#microsoft.graph.allLicensedUsersAssignmentTarget"},
		},
	}}
	a := c.do("POST", path+"/assign", body)
	mustStatus(t, a, http.StatusNoContent)
	if len(a.body) != 0 {
		t.Errorf("204 with body %s", a.body)
	}
	got := s.Assignments(tenA, "mobileApps", pol1)
	if len(got) != 2 || got[0].Intent != "required" || got[1].Intent != "available" ||
		got[1].ID != pol1+"_allLicensedUsers" || !strings.Contains(string(got[1].Raw), "iosLobAppAssignmentSettings") {
		t.Fatalf("assignments %+v", got)
	}
	if s.CreatesApplied() != 2 {
		t.Errorf("CreatesApplied %d, want 2", s.CreatesApplied())
	}
	// Re-sending the listed set unchanged (as a merge does) adds nothing.
	l := c.do("GET", path+"/assignments", nil)
	var page struct{ Value []json.RawMessage }
	_ = json.Unmarshal(l.body, &page)
	mustStatus(t, c.do("POST", path+"/assign", map[string]any{"mobileAppAssignments": page.Value}), http.StatusNoContent)
	if s.CreatesApplied() != 2 || len(s.Assignments(tenA, "mobileApps", pol1)) != 2 {
		t.Errorf("re-assign changed the set: creates %d", s.CreatesApplied())
	}
}

func TestAssignEnrollmentReplaces(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	pid := pol2 + "_DefaultLimit"
	policySet := graph.Assignment{
		ID: "ps-1",
		Raw: json.RawMessage(`{"id":"ps-1","source":"policySets","sourceId":"x",` +
			`"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + grp3 + `"}}`),
	}
	if err := s.Seed(tenA, "deviceEnrollmentConfigurations", pid,
		graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: grp1}},
		graph.Assignment{Target: graph.Target{Type: graph.TargetAllDevices}},
		policySet,
	); err != nil {
		t.Fatal(err)
	}
	if s.CreatesApplied() != 0 {
		t.Fatal("Seed counted as creates")
	}
	// Drop the direct ones, add grp2; the policy-set entry stays although
	// the body omits it (/assign replaces direct assignments only).
	body := map[string]any{"enrollmentConfigurationAssignments": []any{
		map[string]any{"target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": grp2}},
	}}
	mustStatus(t, c.do("POST", "/v1.0/deviceManagement/deviceEnrollmentConfigurations/"+pid+"/assign", body), http.StatusNoContent)
	got := s.Assignments(tenA, "deviceEnrollmentConfigurations", pid)
	if len(got) != 2 || got[0].ID != "ps-1" || got[0].Source != "policySets" || got[1].ID != pid+"_"+grp2 {
		t.Fatalf("after assign %+v", got)
	}
	if st := s.Stats(); st.CreatesApplied != 1 || st.InheritedReposted != 0 {
		t.Errorf("stats %+v, want 1 create and nothing re-posted", st)
	}
	// An empty set clears the direct assignments.
	mustStatus(t, c.do("POST", "/v1.0/deviceManagement/deviceEnrollmentConfigurations/"+pid+"/assign",
		map[string]any{"enrollmentConfigurationAssignments": []any{}}), http.StatusNoContent)
	if got := s.Assignments(tenA, "deviceEnrollmentConfigurations", pid); len(got) != 1 || got[0].ID != "ps-1" {
		t.Errorf("after empty assign %+v", got)
	}
	if n := s.AssignCalls(tenA, "deviceEnrollmentConfigurations", strings.ToUpper(pid[:36])+pid[36:]); n != 2 {
		t.Errorf("AssignCalls %d, want 2", n)
	}
}

func TestAssignReturnsValueAndCast(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	body := map[string]any{"assignments": []any{groupBody("#microsoft.graph.deviceCompliancePolicyAssignment", grp1)}}
	a := c.do("POST", "/v1.0/deviceManagement/deviceCompliancePolicies/"+pol1+"/assign", body)
	mustStatus(t, a, http.StatusOK)
	var v struct{ Value []json.RawMessage }
	if err := json.Unmarshal(a.body, &v); err != nil || len(v.Value) != 1 || !strings.Contains(string(v.Value[0]), pol1+"_"+grp1) {
		t.Fatalf("200 body %s", a.body)
	}
	// mobileAppConfigurations route /assign through the type cast only.
	mac := "/v1.0/deviceAppManagement/mobileAppConfigurations/" + pol1
	body = map[string]any{"assignments": []any{groupBody("#microsoft.graph.managedDeviceMobileAppConfigurationAssignment", grp1)}}
	mustStatus(t, c.do("POST", mac+"/microsoft.graph.managedDeviceMobileAppConfiguration/assign", body), http.StatusNoContent)
	mustStatus(t, c.do("POST", mac+"/assign", body), http.StatusNotFound)
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	s := start(t, Config{PageSize: 2})
	c := newClient(t, s, tenA)
	var seed []graph.Assignment
	for range 5 {
		seed = append(seed, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: uuid.NewString()}})
	}
	if err := s.Seed(tenA, "deviceConfigurations", pol1, seed...); err != nil {
		t.Fatal(err)
	}
	next := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	var ids []string
	pages := 0
	for next != "" {
		a := c.do("GET", next, nil)
		mustStatus(t, a, http.StatusOK)
		var page struct {
			Value []json.RawMessage `json:"value"`
			Next  string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Value {
			asg, _ := graph.ParseAssignment(raw)
			ids = append(ids, asg.ID)
		}
		pages++
		if page.Next != "" {
			u, err := url.Parse(page.Next)
			if err != nil || u.Scheme+"://"+u.Host != s.URL() || !strings.Contains(page.Next, "$skiptoken=") {
				t.Fatalf("nextLink %q is not an absolute URL to %s", page.Next, s.URL())
			}
		}
		next = page.Next
	}
	if pages != 3 || len(ids) != 5 {
		t.Fatalf("%d pages, %d ids; want 3 and 5", pages, len(ids))
	}
	for i, a := range seed {
		if ids[i] != pol1+"_"+a.Target.GroupID {
			t.Errorf("item %d id %s", i, ids[i])
		}
	}
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	s := start(t, Config{NotRouted: NoKinds})
	c := newClient(t, s, tenA)
	dc := "/v1.0/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	dcBeta := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	apps := "/beta/deviceAppManagement/mobileApps/" + pol1 + "/assignments"
	target := func(kv ...any) map[string]any {
		m := map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": grp1}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"filter on v1.0", "POST", dc, map[string]any{"@odata.type": dcType, "target": target(propFilterID, filt1, propFilterType, "include")}, 400, CodeBadRequest},
		{"null filter on v1.0", "POST", dc, map[string]any{"@odata.type": dcType, "target": target(propFilterID, nil)}, 400, CodeBadRequest},
		{"filter without type", "POST", dcBeta, map[string]any{"@odata.type": dcType, "target": target(propFilterID, filt1)}, 400, CodeBadRequest},
		{"bad group guid", "POST", dc, map[string]any{"@odata.type": dcType, "target": target("groupId", "not-a-guid")}, 400, CodeBadRequest},
		{"bad filter guid", "POST", dcBeta, map[string]any{"@odata.type": dcType, "target": target(propFilterID, "{"+filt1+"}", propFilterType, "include")}, 400, CodeBadRequest},
		{"wrong assignment type", "POST", dc, groupBody("#microsoft.graph.deviceCompliancePolicyAssignment", grp1), 400, CodeBadRequest},
		{"missing assignment type", "POST", dc, map[string]any{"target": target()}, 400, CodeBadRequest},
		{"unknown target type", "POST", dc, map[string]any{"@odata.type": dcType, "target": target("@odata.type", "#microsoft.graph.userAssignmentTarget")}, 400, CodeBadRequest},
		{"short target type", "POST", dc, map[string]any{"@odata.type": dcType, "target": target("@odata.type", "group")}, 400, CodeBadRequest},
		{"unknown property", "POST", dc, map[string]any{"@odata.type": dcType, "target": target(), "priority": 1}, 400, CodeBadRequest},
		{"intent on configuration", "POST", dc, map[string]any{"@odata.type": dcType, "intent": "required", "target": target()}, 400, CodeBadRequest},
		{"intent missing", "POST", apps, groupBody("#microsoft.graph.mobileAppAssignment", grp1), 400, CodeBadRequest},
		{"intent invalid", "POST", apps, map[string]any{"@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "mandatory", "target": target()}, 400, CodeBadRequest},
		{"target not allowed for kind", "POST", apps, map[string]any{"@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "required", "target": map[string]any{"@odata.type": "#microsoft.graph.configurationManagerCollectionAssignmentTarget", "collectionId": "SMS00001"}}, 400, CodeBadRequest},
		{"not json", "POST", dc, []byte("{"), 400, CodeBadRequest},
		{"bad policy id", "POST", "/v1.0/deviceManagement/deviceConfigurations/policy-1/assignments", groupBody(dcType, grp1), 400, CodeBadRequest},
		{"unknown version", "GET", "/v2.0/deviceManagement/deviceConfigurations/" + pol1 + "/assignments", nil, 400, CodeBadRequest},
		{"beta-only kind in v1.0", "GET", "/v1.0/deviceManagement/configurationPolicies/" + pol1 + "/assignments", nil, 400, CodeBadRequest},
		{"unknown collection", "GET", "/beta/deviceManagement/notAThing/" + pol1 + "/assignments", nil, 404, CodeNotFound},
		{"unknown path", "GET", "/beta/me", nil, 404, CodeNotFound},
		{"wrong method", "DELETE", dc, nil, 405, CodeMethodNotAllowed},
		{"assign wrong key", "POST", "/beta/deviceAppManagement/mobileApps/" + pol1 + "/assign", map[string]any{"assignments": []any{}}, 400, CodeBadRequest},
		{"assign element invalid", "POST", "/beta/deviceAppManagement/mobileApps/" + pol1 + "/assign", map[string]any{"mobileAppAssignments": []any{map[string]any{"target": target()}}}, 400, CodeBadRequest},
		{"assign duplicate target", "POST", "/beta/deviceManagement/deviceCompliancePolicies/" + pol1 + "/assign", map[string]any{"assignments": []any{map[string]any{"target": target()}, map[string]any{"target": target()}}}, 400, CodeBadRequest},
		{"autopilot has no assign", "POST", "/beta/deviceManagement/windowsAutopilotDeploymentProfiles/" + pol1 + "/assign", map[string]any{}, 404, CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := c.do(tt.method, tt.path, tt.body)
			if a.status != tt.status || a.errorCode() != tt.code {
				t.Errorf("got %d %q, want %d %q; body %s", a.status, a.errorCode(), tt.status, tt.code, a.body)
			}
		})
	}
	if n := s.CreatesApplied(); n != 0 {
		t.Errorf("%d invalid requests were applied", n)
	}
}

func TestValidBodiesAccepted(t *testing.T) {
	t.Parallel()
	s := start(t, Config{NotRouted: NoKinds})
	c := newClient(t, s, tenA)
	tests := []struct {
		name, path string
		body       map[string]any
		wantID     string
	}{
		{"exclusion group", "/v1.0/deviceManagement/deviceConfigurations/" + pol1 + "/assignments",
			map[string]any{"@odata.type": dcType, "target": map[string]any{"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": grp2}}, pol1 + "_" + grp2},
		{"all devices", "/v1.0/deviceManagement/deviceConfigurations/" + pol1 + "/assignments",
			map[string]any{"@odata.type": dcType, "target": map[string]any{"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}, pol1 + "_allDevices"},
		{"collection", "/v1.0/deviceManagement/deviceConfigurations/" + pol1 + "/assignments",
			map[string]any{"@odata.type": dcType, "target": map[string]any{"@odata.type": "#microsoft.graph.configurationManagerCollectionAssignmentTarget", "collectionId": "SMS00001"}}, pol1 + "_SMS00001"},
		{"beta none filter", "/beta/deviceManagement/configurationPolicies/" + pol1 + "/assignments",
			map[string]any{"@odata.type": "#microsoft.graph.deviceManagementConfigurationPolicyAssignment", "target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": grp1, propFilterID: nil, propFilterType: "none"}}, pol1 + "_" + grp1},
		{"app with intent", "/v1.0/deviceAppManagement/mobileApps/" + pol2 + "/assignments",
			map[string]any{"@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "uninstall", "target": map[string]any{"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}, pol2 + "_allDevices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := c.do("POST", tt.path, tt.body)
			mustStatus(t, a, http.StatusCreated)
			got, err := graph.ParseAssignment(a.body)
			if err != nil || got.ID != tt.wantID {
				t.Errorf("id %q (%v), want %q", got.ID, err, tt.wantID)
			}
		})
	}
}

func TestDuplicateModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode       DuplicateMode
		wantStatus int
		wantCode   string
	}{
		{DuplicateError, http.StatusConflict, CodeConflict},
		{DuplicateReturnExisting, http.StatusCreated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{Duplicate: tt.mode})
			c := newClient(t, s, tenA)
			path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
			first := c.do("POST", path, groupBody(dcType, grp1))
			mustStatus(t, first, http.StatusCreated)
			// Same group, now with a filter: same id, so a duplicate.
			body := groupBody(dcType, grp1)
			body["target"].(map[string]any)[propFilterID] = filt1
			body["target"].(map[string]any)[propFilterType] = "exclude"
			a := c.do("POST", path, body)
			if a.status != tt.wantStatus || a.errorCode() != tt.wantCode {
				t.Fatalf("duplicate answered %d %q: %s", a.status, a.errorCode(), a.body)
			}
			if tt.mode == DuplicateReturnExisting && string(a.body) != string(first.body) {
				t.Errorf("returned %s, want the existing %s", a.body, first.body)
			}
			if s.CreatesApplied() != 1 || s.DuplicateCreates() != 1 {
				t.Errorf("creates %d duplicates %d", s.CreatesApplied(), s.DuplicateCreates())
			}
			if got := s.Assignments(tenA, "deviceConfigurations", pol1); len(got) != 1 || got[0].Target.FilterID != "" {
				t.Errorf("existing assignment changed: %+v", got)
			}
		})
	}
}

func TestRouteErrors(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	for _, k := range graph.Kinds() {
		if !k.HasVersion(graph.Beta) {
			continue
		}
		path, err := k.AssignmentsPath(pol1)
		if err != nil {
			t.Fatal(err)
		}
		a := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: grp1}}
		if k.NeedsIntent {
			a.Intent = "required"
		}
		body, err := k.Body(a, graph.Beta)
		if err != nil {
			t.Fatal(err)
		}
		got := c.do("POST", "/beta"+path, body)
		wantRouteErr := k.Strategy == graph.StrategyMerge
		if isRouteErr := got.status == 400 && got.errorCode() == graph.RouteErrorCode; isRouteErr != wantRouteErr {
			t.Errorf("%s (%s): %d %s", k.Name, k.Strategy, got.status, got.body)
		} else if !wantRouteErr && got.status != http.StatusCreated {
			t.Errorf("%s: %d %s", k.Name, got.status, got.body)
		}
	}

	// Per-policy route errors, and NoKinds routes everything.
	s2 := start(t, Config{NotRouted: NoKinds})
	s2.SetRouteError(strings.ToUpper(pol2))
	c2 := newClient(t, s2, tenA)
	mustStatus(t, c2.do("POST", "/v1.0/deviceManagement/deviceCompliancePolicies/"+pol1+"/assignments",
		groupBody("#microsoft.graph.deviceCompliancePolicyAssignment", grp1)), http.StatusCreated)
	a := c2.do("POST", "/v1.0/deviceManagement/deviceConfigurations/"+pol2+"/assignments", groupBody(dcType, grp1))
	if a.status != 400 || a.errorCode() != graph.RouteErrorCode {
		t.Errorf("SetRouteError: %d %s", a.status, a.body)
	}
	// /assign still works on a policy with a route error.
	mustStatus(t, c2.do("POST", "/v1.0/deviceManagement/deviceConfigurations/"+pol2+"/assign",
		map[string]any{"assignments": []any{groupBody(dcType, grp1)}}), http.StatusOK)
}

func TestErrorShapeAndHeaders(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	req, _ := http.NewRequest("GET", s.URL()+"/beta/nope", nil)
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("client-request-id", "cr-123")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code, Message string
			InnerError    struct {
				RequestID       string `json:"request-id"`
				Date            string `json:"date"`
				ClientRequestID string `json:"client-request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	in := e.Error.InnerError
	if resp.StatusCode != 404 || e.Error.Code != CodeNotFound || e.Error.Message == "" {
		t.Errorf("got %d %+v", resp.StatusCode, e)
	}
	if _, err := uuid.Parse(in.RequestID); err != nil || in.RequestID != resp.Header.Get("request-id") {
		t.Errorf("request-id %q / header %q", in.RequestID, resp.Header.Get("request-id"))
	}
	if in.ClientRequestID != "cr-123" || resp.Header.Get("client-request-id") != "cr-123" {
		t.Errorf("client-request-id not echoed: %q %q", in.ClientRequestID, resp.Header.Get("client-request-id"))
	}
	if d, err := time.Parse(time.RFC3339, in.Date); err != nil || time.Since(d) > time.Minute || !strings.HasSuffix(in.Date, "Z") {
		t.Errorf("date %q", in.Date)
	}
	if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
		t.Errorf("Date header %q", resp.Header.Get("Date"))
	}
}

func TestAuthAndTenants(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	path := "/v1.0/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"

	anon := newClient(t, s, tenA)
	anon.token = ""
	a := anon.do("POST", path, groupBody(dcType, grp1))
	if a.status != 401 || a.errorCode() != CodeUnauthorized {
		t.Errorf("no token: %d %s", a.status, a.body)
	}

	jwt := newClient(t, s, tenB) // the token's tid wins over the header
	jwt.token = MintToken(strings.ToUpper(tenA), "app-1", "", time.Hour)
	mustStatus(t, jwt.do("POST", path, groupBody(dcType, grp1)), http.StatusCreated)

	hdr := newClient(t, s, tenB)
	mustStatus(t, hdr.do("POST", path, groupBody(dcType, grp2)), http.StatusCreated)

	none := newClient(t, s, "")
	mustStatus(t, none.do("POST", path, groupBody(dcType, grp3)), http.StatusCreated)

	for tenant, group := range map[string]string{tenA: grp1, tenB: grp2, DefaultTenant: grp3} {
		got := s.Assignments(tenant, "deviceConfigurations", pol1)
		if len(got) != 1 || got[0].Target.GroupID != group {
			t.Errorf("tenant %s: %+v", tenant, got)
		}
	}

	bad := newClient(t, s, "not a tenant")
	mustStatus(t, bad.do("GET", path, nil), http.StatusBadRequest)

	s.RejectToken(jwt.token)
	a = jwt.do("GET", path, nil)
	if a.status != 401 || a.errorCode() != CodeUnauthorized {
		t.Errorf("rejected token: %d %s", a.status, a.body)
	}
	if got := s.StatusCounts()[401]; got != 2 {
		t.Errorf("401 count %d, want 2", got)
	}
}

func TestMissingPolicy(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.SetMissingPolicy(pol2)
	c := newClient(t, s, tenA)
	for _, m := range []string{"GET", "POST"} {
		a := c.do(m, "/beta/deviceManagement/deviceConfigurations/"+pol2+"/assignments", groupBody(dcType, grp1))
		if a.status != 404 || a.errorCode() != CodeNotFound {
			t.Errorf("%s: %d %s", m, a.status, a.body)
		}
	}
	mustStatus(t, c.do("POST", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", groupBody(dcType, grp1)), 201)
	s.Reset()
	mustStatus(t, c.do("GET", "/beta/deviceManagement/deviceConfigurations/"+pol2+"/assignments", nil), 200)
	if s.CreatesApplied() != 0 || len(s.AllAssignments()) != 0 || len(s.StatusCounts()) != 1 {
		t.Errorf("Reset left state: %d %v %v", s.CreatesApplied(), s.AllAssignments(), s.StatusCounts())
	}
}
