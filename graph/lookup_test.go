package graph_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
)

// Lookups and Delete against plain httptest servers: what goes on the
// wire, and how answers are classified. The simulator tests are in
// lookup_sim_test.go.

func TestODataString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ given, want string }{
		{"Pilot Devices", "'Pilot Devices'"},
		{"O'Brien's group", "'O''Brien''s group'"},
		{"''", "''''''"},
		{"a&b=c+d #1 %20 é", "'a&b=c+d #1 %20 é'"},
	} {
		if got := graph.ODataString(tc.given); got != tc.want {
			t.Errorf("ODataString(%q) = %q, want %q", tc.given, got, tc.want)
		}
	}
}

func TestFindGroupsEncodesTheFilter(t *testing.T) {
	t.Parallel()
	const name = "O'Brien & Co + 50% #1/2?"
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, `{"value":[
			{"id":"`+strings.ToUpper(groupA)+`","displayName":"O'Brien & Co + 50% #1/2?"},
			{"id":"`+groupB+`","displayName":"o'brien & co + 50% #1/2?"},
			{"id":"`+policyID+`","displayName":"O'Brien & Co"}]}`)
	})
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("lookup-test-token")})
	got, err := c.FindGroups(context.Background(), tenant, name)
	if err != nil {
		t.Fatal(err)
	}
	// Graph compares without regard to case; an answer for another name
	// (a server ignoring $filter) is dropped; ids come back lower case.
	if len(got) != 2 || got[0].ID != groupA || got[1].ID != groupB {
		t.Errorf("FindGroups = %+v", got)
	}
	req := rec.requests()[0]
	if req.method != http.MethodGet || req.path != "/v1.0/groups" {
		t.Fatalf("request %s %s", req.method, req.path)
	}
	if strings.Contains(req.query, "+") || !strings.HasPrefix(req.query, "$filter=") {
		t.Errorf("raw query %q: spaces must be %%20 and the option named $filter", req.query)
	}
	q, err := url.ParseQuery(req.query)
	if err != nil {
		t.Fatal(err)
	}
	if f := q.Get("$filter"); f != "displayName eq 'O''Brien & Co + 50% #1/2?'" {
		t.Errorf("$filter = %q", f)
	}
	if s := q.Get("$select"); s != "id,displayName" {
		t.Errorf("$select = %q", s)
	}
}

func TestLookupsRejectBadInputWithoutSending(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, `{"value":[]}`) })
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("lookup-test-token")})
	ctx := context.Background()
	k := kind(t, "deviceConfigurations")
	for name, call := range map[string]func() error{
		"empty name":       func() error { _, err := c.FindGroups(ctx, tenant, ""); return err },
		"control char":     func() error { _, err := c.FindGroups(ctx, tenant, "a\nb"); return err },
		"not UTF-8":        func() error { _, err := c.FindGroups(ctx, tenant, "a\xffb"); return err },
		"long name":        func() error { _, err := c.FindGroups(ctx, tenant, strings.Repeat("a", graph.MaxNameLen+1)); return err },
		"bad tenant":       func() error { _, err := c.ListFilters(ctx, "a/b"); return err },
		"nil kind":         func() error { _, err := c.ListPolicies(ctx, tenant, nil); return err },
		"bad assignment":   func() error { return c.Delete(ctx, tenant, graph.Beta, k, policyID, "a/../b") },
		"empty assignment": func() error { return c.Delete(ctx, tenant, graph.Beta, k, policyID, "") },
		"bad policy":       func() error { return c.Delete(ctx, tenant, graph.Beta, k, "x?y", "a_b") },
	} {
		var ge *graph.Error
		if err := call(); !errors.As(err, &ge) || ge.Class != graph.ClassPermanent {
			t.Errorf("%s: %v, want a permanent *graph.Error", name, err)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestListPoliciesAndFilters(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/assignmentFilters"):
			writeJSON(w, 200, `{"value":[{"id":"`+groupA+`","displayName":"Corp","platform":"windows10AndLater","rule":"x"}]}`)
		case r.URL.Query().Get("$skiptoken") == "":
			writeJSON(w, 200, `{"value":[{"id":"`+policyID+`","name":"Baseline"}],"@odata.nextLink":"`+rec(r)+`?$skiptoken=1"}`)
		default:
			writeJSON(w, 200, `{"value":[{"id":"`+strings.ToUpper(groupB)+`_DefaultLimit","name":"Limit"}]}`)
		}
	})
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("lookup-test-token")})
	ctx := context.Background()
	got, err := c.ListPolicies(ctx, tenant, kind(t, "configurationPolicies"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (graph.Named{ID: policyID, DisplayName: "Baseline"}) ||
		got[1] != (graph.Named{ID: groupB + "_DefaultLimit", DisplayName: "Limit"}) {
		t.Errorf("ListPolicies = %+v", got)
	}
	filters, err := c.ListFilters(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(filters) != 1 || filters[0] != (graph.Named{ID: groupA, DisplayName: "Corp", Platform: "windows10AndLater"}) {
		t.Errorf("ListFilters = %+v", filters)
	}
	reqs := rec.requests()
	if reqs[0].path != "/beta/deviceManagement/configurationPolicies" || reqs[0].query != "$select=id%2Cname" {
		t.Errorf("policies request %s?%s", reqs[0].path, reqs[0].query)
	}
	if reqs[2].path != "/beta/deviceManagement/assignmentFilters" || reqs[2].query != "$select=id%2CdisplayName%2Cplatform" {
		t.Errorf("filters request %s?%s", reqs[2].path, reqs[2].query)
	}

	// mobileApps is named by displayName and read in beta.
	if _, err := c.ListPolicies(ctx, tenant, kind(t, "mobileApps")); err != nil {
		t.Fatal(err)
	}
	if r := rec.requests()[3]; r.path != "/beta/deviceAppManagement/mobileApps" || r.query != "$select=id%2CdisplayName" {
		t.Errorf("mobileApps request %s?%s", r.path, r.query)
	}
}

// rec is the absolute URL of the request's path on its server.
func rec(r *http.Request) string { return "http://" + r.Host + r.URL.Path }

func TestLookupAnswersWithBadIDsFail(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, `{"value":[{"id":"../x","displayName":"Pilot"}]}`)
	})
	c := newClient(t, graph.Config{BaseURL: srv.srv.URL, Tokens: graph.StaticToken("lookup-test-token")})
	_, err := c.FindGroups(context.Background(), tenant, "Pilot")
	if !errors.Is(err, graph.ErrInvalidID) || !errors.Is(err, graph.ErrPermanent) {
		t.Errorf("group with a bad id: %v", err)
	}
}

func TestLookupForbiddenNamesThePermission(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 403, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`)
	})
	c := newClient(t, graph.Config{BaseURL: srv.srv.URL, Tokens: graph.StaticToken("lookup-test-token")})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		perm string
	}{
		{"groups", func() error { _, err := c.FindGroups(ctx, tenant, "Pilot"); return err }, "Group.Read.All"},
		{"filters", func() error { _, err := c.ListFilters(ctx, tenant); return err }, "DeviceManagementConfiguration.Read.All"},
		{"apps", func() error { _, err := c.ListPolicies(ctx, tenant, kind(t, "mobileApps")); return err }, "DeviceManagementApps.Read.All"},
		{"scripts", func() error { _, err := c.ListPolicies(ctx, tenant, kind(t, "deviceManagementScripts")); return err }, "DeviceManagementScripts.Read.All"},
	} {
		err := tc.call()
		var pe *graph.PermissionError
		if !errors.As(err, &pe) || pe.Permission != tc.perm || !strings.Contains(err.Error(), tc.perm) {
			t.Errorf("%s: %v, want a PermissionError naming %s", tc.name, err, tc.perm)
		}
		if !errors.Is(err, graph.ErrForbidden) || asGraphError(t, err).StatusCode != 403 {
			t.Errorf("%s: %v does not match ErrForbidden", tc.name, err)
		}
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	const aid = policyID + "_" + groupA
	for _, tc := range []struct {
		name   string
		status int
		body   string
		check  func(error) bool
	}{
		{"deleted", 204, "", func(err error) bool { return err == nil }},
		{"absent", 404, `{"error":{"code":"ResourceNotFound","message":"not found"}}`, func(err error) bool {
			return errors.Is(err, graph.ErrAbsent) && asGraphError(t, err).StatusCode == 404
		}},
		{"not routed by code", 400, `{"error":{"code":"No method match route template","message":"No OData route exists that match template ~/singleton/navigation/key/navigation/key with http verb DELETE"}}`,
			func(err error) bool {
				return errors.Is(err, graph.ErrRouteNotSupported) && !errors.Is(err, graph.ErrAbsent)
			}},
		{"not routed by message", 400, `{"error":{"code":"BadRequest","message":"No OData route exists that match template ~/singleton/navigation/key/navigation/key with http verb DELETE"}}`,
			func(err error) bool { return errors.Is(err, graph.ErrRouteNotSupported) }},
		{"other bad request", 400, `{"error":{"code":"BadRequest","message":"nope"}}`,
			func(err error) bool { return errors.Is(err, graph.ErrPermanent) }},
		{"server error", 503, `{"error":{"code":"ServiceUnavailable","message":"busy"}}`,
			func(err error) bool { return errors.Is(err, graph.ErrAmbiguous) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tc.body == "" {
					w.WriteHeader(tc.status)
					return
				}
				writeJSON(w, tc.status, tc.body)
			})
			c := newClient(t, graph.Config{BaseURL: srv.srv.URL, Tokens: graph.StaticToken("lookup-test-token")})
			err := c.Delete(context.Background(), tenant, graph.Beta, kind(t, "deviceConfigurations"), policyID, aid)
			if !tc.check(err) {
				t.Errorf("Delete: %v", err)
			}
			req := srv.requests()[0]
			if req.method != http.MethodDelete || req.path != "/beta/deviceManagement/deviceConfigurations/"+policyID+"/assignments/"+aid {
				t.Errorf("request %s %s", req.method, req.path)
			}
		})
	}
}
