package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/google/uuid"
)

// Client mechanics against plain httptest servers on loopback; the
// simulator tests are in client_sim_test.go.

const (
	tenant   = "contoso.onmicrosoft.com"
	policyID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	groupA   = "11111111-2222-4333-8444-555555555555"
	groupB   = "66666666-7777-4888-9999-aaaaaaaaaaaa"
)

// rotatingTokens hands out "tok-1", and after each Invalidate the next
// number. It is a TokenSource of our own interface, not a stand-in for
// anything external.
type rotatingTokens struct {
	mu          sync.Mutex
	n           int
	calls       int
	invalidated []string
}

func (r *rotatingTokens) Token(_ context.Context, tenant string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return fmt.Sprintf("tok-%d-secret", r.n+1), nil
}

func (r *rotatingTokens) Invalidate(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	r.invalidated = append(r.invalidated, tenant)
}

// recorder is an httptest server that records every request and answers
// with the test's handler.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, query string
	header              http.Header
	body                []byte
}

func newRecorder(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		n := len(rec.reqs)
		rec.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func newClient(t *testing.T, cfg graph.Config) *graph.Client {
	t.Helper()
	c, err := graph.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func kind(t *testing.T, name string) *graph.Kind {
	t.Helper()
	k, err := graph.LookupKind(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func asGraphError(t *testing.T, err error) *graph.Error {
	t.Helper()
	var ge *graph.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a *graph.Error", err, err)
	}
	return ge
}

func groupAssignment(g string) graph.Assignment {
	return graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: g}}
}

func TestClientCreateSendsHeadersAndParses(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusCreated, `{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","id":"`+policyID+`_`+groupA+`","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"`+groupA+`"}}`)
	})
	tokens := &rotatingTokens{}
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL + "/", Tokens: tokens, UserAgent: "bulkassign/test", TenantHeader: "X-Tenant"})
	k := kind(t, "deviceConfigurations")
	for i := 0; i < 2; i++ {
		a, err := c.Create(context.Background(), tenant, graph.V1, k, policyID, groupAssignment(groupA))
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != policyID+"_"+groupA || a.Target.Type != graph.TargetGroup || a.Target.GroupID != groupA || len(a.Raw) == 0 {
			t.Errorf("created %+v", a)
		}
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	ids := map[string]bool{}
	for _, r := range reqs {
		if r.method != http.MethodPost || r.path != "/v1.0/deviceManagement/deviceConfigurations/"+policyID+"/assignments" {
			t.Errorf("%s %s", r.method, r.path)
		}
		checks := map[string]string{
			"Authorization": "Bearer tok-1-secret", "User-Agent": "bulkassign/test",
			"Content-Type": "application/json", "Accept": "application/json", "X-Tenant": tenant,
		}
		for h, want := range checks {
			if got := r.header.Get(h); got != want {
				t.Errorf("header %s = %q, want %q", h, got, want)
			}
		}
		crid := r.header.Get("client-request-id")
		if u, err := uuid.Parse(crid); err != nil || u.Version() != 4 {
			t.Errorf("client-request-id %q is not a UUIDv4", crid)
		}
		ids[crid] = true
		want := `{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + groupA + `"}}`
		if string(r.body) != want {
			t.Errorf("body %s", r.body)
		}
	}
	if len(ids) != 2 {
		t.Error("client-request-id reused across requests")
	}
}

func TestClientUnauthorizedRefreshesOnce(t *testing.T) {
	t.Parallel()
	// The first token is refused; the second works.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get("Authorization") == "Bearer tok-1-secret" {
			writeJSON(w, http.StatusUnauthorized, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"value":[]}`)
	})
	tokens := &rotatingTokens{}
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: tokens})
	got, err := c.List(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID)
	if err != nil || len(got) != 0 {
		t.Fatalf("List = %v, %v", got, err)
	}
	reqs := rec.requests()
	if len(reqs) != 2 || reqs[1].header.Get("Authorization") != "Bearer tok-2-secret" {
		t.Fatalf("requests %d, second with %q", len(reqs), reqs[len(reqs)-1].header.Get("Authorization"))
	}
	if len(tokens.invalidated) != 1 || tokens.invalidated[0] != tenant {
		t.Errorf("invalidated %v", tokens.invalidated)
	}
	if reqs[0].header.Get("client-request-id") == reqs[1].header.Get("client-request-id") {
		t.Error("the retry reused the client-request-id")
	}
}

func TestClientUnauthorizedTwice(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusUnauthorized, `{"error":{"code":"InvalidAuthenticationToken","message":"bad token `+r.Header.Get("Authorization")+`"}}`)
	})
	tokens := &rotatingTokens{}
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: tokens})
	_, err := c.Create(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID, groupAssignment(groupA))
	ge := asGraphError(t, err)
	if ge.Class != graph.ClassUnauthorized || !errors.Is(err, graph.ErrUnauthorized) || ge.StatusCode != 401 {
		t.Errorf("got %+v", ge)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("%d requests, want exactly 2 (one refresh, no other retry)", n)
	}
	if len(tokens.invalidated) != 1 {
		t.Errorf("invalidated %d times", len(tokens.invalidated))
	}
	// The server echoed the token into its message: the error must not.
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", ge), fmt.Sprintf("%#v", ge)} {
		if strings.Contains(s, "secret") {
			t.Errorf("token leaked into the error: %s", s)
		}
	}
}

func TestClientNoRetryOtherErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 403, 404, 409, 429, 500, 503} {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, status, `{"error":{"code":"X","message":"no"}}`)
		})
		c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("static-secret")})
		_, err := c.Create(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID, groupAssignment(groupA))
		ge := asGraphError(t, err)
		if ge.StatusCode != status || ge.ClientRequestID == "" {
			t.Errorf("%d: %+v", status, ge)
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("%d: %d requests, want 1", status, n)
		}
	}
}

func TestClientListFollowsNextLink(t *testing.T) {
	t.Parallel()
	var base string
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		item := func(g string) string {
			return `{"id":"` + policyID + `_` + g + `","source":"direct","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + g + `"}}`
		}
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			writeJSON(w, 200, `{"value":[`+item(groupA)+`],"@odata.nextLink":"`+base+r.URL.Path+`?$skiptoken=p2"}`)
		case "p2":
			writeJSON(w, 200, `{"value":[`+item(groupB)+`,{"id":"x","source":"policySets","target":{"@odata.type":"#microsoft.graph.allDevicesAssignmentTarget"}}],"@odata.nextLink":"`+base+r.URL.Path+`?$skiptoken=p3"}`)
		default:
			writeJSON(w, 200, `{"value":[]}`)
		}
	})
	base = rec.srv.URL
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("t")})
	got, err := c.List(context.Background(), tenant, graph.Beta, kind(t, "deviceCompliancePolicies"), policyID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Target.GroupID != groupA || got[1].Target.GroupID != groupB ||
		got[2].Source != "policySets" || got[2].Target.Type != graph.TargetAllDevices {
		t.Fatalf("got %+v", got)
	}
	reqs := rec.requests()
	if len(reqs) != 3 || reqs[0].path != "/beta/deviceManagement/deviceCompliancePolicies/"+policyID+"/assignments" || reqs[2].query != "$skiptoken=p3" {
		t.Errorf("requests %+v", reqs)
	}
	for _, r := range reqs {
		if r.method != http.MethodGet || r.header.Get("Content-Type") != "" {
			t.Errorf("%s with Content-Type %q", r.method, r.header.Get("Content-Type"))
		}
	}
}

func TestClientListRefusesForeignNextLink(t *testing.T) {
	t.Parallel()
	foreign := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, `{"value":[]}`) })
	tests := map[string]string{
		"other port":   foreign.srv.URL + "/v1.0/x?$skiptoken=2",
		"other scheme": "https" + strings.TrimPrefix(foreign.srv.URL, "http") + "/v1.0/x",
		"userinfo":     "http://user:pw@" + strings.TrimPrefix(foreign.srv.URL, "http://") + "/v1.0/x",
	}
	for name, link := range tests {
		home := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			writeJSON(w, 200, `{"value":[],"@odata.nextLink":"`+link+`"}`)
		})
		c := newClient(t, graph.Config{BaseURL: home.srv.URL, Tokens: graph.StaticToken("t")})
		_, err := c.List(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID)
		if ge := asGraphError(t, err); ge.Class != graph.ClassPermanent {
			t.Errorf("%s: %+v", name, ge)
		}
	}
	if n := len(foreign.requests()); n != 0 {
		t.Errorf("the foreign host got %d requests", n)
	}
}

func TestClientListRefusesNextLinkLoop(t *testing.T) {
	t.Parallel()
	var self string
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, `{"value":[],"@odata.nextLink":"`+self+`"}`)
	})
	self = rec.srv.URL + "/v1.0/deviceManagement/deviceConfigurations/" + policyID + "/assignments"
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("t")})
	_, err := c.List(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID)
	if ge := asGraphError(t, err); ge.Class != graph.ClassPermanent || len(rec.requests()) != 1 {
		t.Errorf("got %+v after %d requests", ge, len(rec.requests()))
	}
}

func TestClientAssign(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.Contains(r.URL.Path, "/mobileApps/") {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, 200, `{"value":[{"id":"a","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"`+groupA+`"}},{"id":"b","target":{"@odata.type":"#microsoft.graph.exclusionGroupAssignmentTarget","groupId":"`+groupB+`"}}]}`)
	})
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("t")})
	set := []graph.Assignment{groupAssignment(groupA), {Target: graph.Target{Type: graph.TargetExclusionGroup, GroupID: groupB}}}
	got, err := c.Assign(context.Background(), tenant, graph.V1, kind(t, "deviceCompliancePolicies"), policyID, set)
	if err != nil || len(got) != 2 || got[1].ID != "b" || got[1].Target.Type != graph.TargetExclusionGroup {
		t.Fatalf("Assign = %+v, %v", got, err)
	}
	app := []graph.Assignment{{Intent: "required", Target: graph.Target{Type: graph.TargetGroup, GroupID: groupA}}}
	got, err = c.Assign(context.Background(), tenant, graph.V1, kind(t, "mobileApps"), policyID, app)
	if err != nil || got != nil {
		t.Fatalf("Assign (204) = %+v, %v", got, err)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].path != "/v1.0/deviceManagement/deviceCompliancePolicies/"+policyID+"/assign" ||
		reqs[1].path != "/v1.0/deviceAppManagement/mobileApps/"+policyID+"/assign" {
		t.Errorf("paths %s, %s", reqs[0].path, reqs[1].path)
	}
	var body map[string][]map[string]any
	if err := json.Unmarshal(reqs[0].body, &body); err != nil || len(body["assignments"]) != 2 {
		t.Errorf("compliance body %s", reqs[0].body)
	}
	if err := json.Unmarshal(reqs[1].body, &body); err != nil || len(body["mobileAppAssignments"]) != 1 || body["mobileAppAssignments"][0]["intent"] != "required" {
		t.Errorf("app body %s", reqs[1].body)
	}
}

func TestClientRejectsBadInputWithoutSending(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 500, `{}`) })
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("t")})
	k := kind(t, "deviceConfigurations")
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"version", func() error { _, err := c.List(ctx, tenant, "v2.0", k, policyID); return err }},
		{"beta-only kind on v1.0", func() error {
			_, err := c.List(ctx, tenant, graph.V1, kind(t, "configurationPolicies"), policyID)
			return err
		}},
		{"tenant", func() error { _, err := c.List(ctx, "../contoso", graph.V1, k, policyID); return err }},
		{"policy", func() error { _, err := c.List(ctx, tenant, graph.V1, k, policyID+"/../x"); return err }},
		{"policy on create", func() error {
			_, err := c.Create(ctx, tenant, graph.V1, k, "%2F", groupAssignment(groupA))
			return err
		}},
		{"group", func() error { _, err := c.Create(ctx, tenant, graph.V1, k, policyID, groupAssignment("x")); return err }},
		{"filter on v1.0", func() error {
			a := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: groupA, FilterID: groupB, FilterType: "include"}}
			_, err := c.Create(ctx, tenant, graph.V1, k, policyID, a)
			return err
		}},
		{"assign without key", func() error {
			_, err := c.Assign(ctx, tenant, graph.Beta, kind(t, "windowsAutopilotDeploymentProfiles"), policyID, nil)
			return err
		}},
		{"nil kind", func() error { _, err := c.List(ctx, tenant, graph.V1, nil, policyID); return err }},
	}
	for _, tt := range tests {
		err := tt.call()
		if ge := asGraphError(t, err); ge.Class != graph.ClassPermanent || ge.StatusCode != 0 {
			t.Errorf("%s: %+v", tt.name, ge)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

func TestClientCreateUnreadableAnswerIsAmbiguous(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 201, `<html>`) })
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("t")})
	_, err := c.Create(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID, groupAssignment(groupA))
	if ge := asGraphError(t, err); ge.Class != graph.ClassTransient || !errors.Is(err, graph.ErrAmbiguous) {
		t.Errorf("got %+v", ge)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	elsewhere := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, `{"value":[]}`) })
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, elsewhere.srv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken("t")})
	_, err := c.List(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID)
	if ge := asGraphError(t, err); ge.Class != graph.ClassPermanent || ge.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("got %+v", ge)
	}
	if len(elsewhere.requests()) != 0 {
		t.Error("the redirect was followed")
	}
}

func TestNewClientConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  graph.Config
		ok   bool
	}{
		{"defaults", graph.Config{Tokens: graph.StaticToken("t")}, true},
		{"china", graph.Config{Tokens: graph.StaticToken("t"), Cloud: graph.CloudChina}, true},
		{"no tokens", graph.Config{}, false},
		{"ftp", graph.Config{Tokens: graph.StaticToken("t"), BaseURL: "ftp://graph.microsoft.com"}, false},
		{"no host", graph.Config{Tokens: graph.StaticToken("t"), BaseURL: "https://"}, false},
		{"userinfo", graph.Config{Tokens: graph.StaticToken("t"), BaseURL: "https://u:p@graph.microsoft.com"}, false},
		{"query", graph.Config{Tokens: graph.StaticToken("t"), BaseURL: "https://graph.microsoft.com?x=1"}, false},
		{"negative timeout", graph.Config{Tokens: graph.StaticToken("t"), Timeout: -time.Second}, false},
	}
	for _, tt := range tests {
		c, err := graph.NewClient(tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v", tt.name, err)
		}
		if c != nil {
			c.Close()
		}
	}
}

func TestStaticToken(t *testing.T) {
	t.Parallel()
	ts := graph.StaticToken("abc")
	ts.Invalidate(tenant)
	if tok, err := ts.Token(context.Background(), tenant); err != nil || tok != "abc" {
		t.Errorf("Token = %q, %v", tok, err)
	}
	if _, err := graph.StaticToken("").Token(context.Background(), tenant); !errors.Is(err, graph.ErrNoToken) {
		t.Errorf("empty static token: %v", err)
	}
}

func TestNewHTTPClient(t *testing.T) {
	t.Parallel()
	hc := graph.NewHTTPClient()
	defer hc.CloseIdleConnections()
	tr, ok := hc.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost < 64 || !tr.ForceAttemptHTTP2 || tr.TLSHandshakeTimeout == 0 {
		t.Errorf("transport not tuned: %+v", hc.Transport)
	}
	if hc.CheckRedirect == nil || hc.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Error("the default client follows redirects")
	}
	if hc == graph.NewHTTPClient() {
		t.Error("NewHTTPClient shares one client")
	}
}
