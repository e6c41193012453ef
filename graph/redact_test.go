package graph_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/redact"
)

// TestRedactionLeavesShortTokensAlone: a one-character token is no secret
// worth corrupting a message for; the simulator's messages come through
// intact (the old redaction turned them into "Acc[redacted]ss tok…").
func TestRedactionLeavesShortTokensAlone(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	k := kind(t, "deviceConfigurations")
	for token, want := range map[string]string{
		" ": "Access token is empty.",
		"e": "Access token has expired or is not yet valid.",
	} {
		s.RejectToken(token)
		c := newClient(t, graph.Config{BaseURL: s.URL(), Tokens: graph.StaticToken(token), TenantHeader: graphtest.TenantHeader})
		_, err := c.List(context.Background(), simTenant, graph.V1, k, policyID)
		if ge := asGraphError(t, err); ge.StatusCode != 401 || ge.Message != want {
			t.Errorf("token %q: message %q, want %q", token, ge.Message, want)
		}
	}
}

// TestRedactionRemovesEchoedToken: a realistic 1,500-character token that
// Graph echoes in its error message never reaches the error.
func TestRedactionRemovesEchoedToken(t *testing.T) {
	t.Parallel()
	var token string
	for len(token) < 1500 {
		token += graphtest.MintToken(tenant, graphtest.DefaultClientID, "", 0)
	}
	token = token[:1500]
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		echoed := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		writeJSON(w, http.StatusBadRequest, `{"error":{"code":"BadRequest","message":"bad token `+echoed+` here"}}`)
	})
	c := newClient(t, graph.Config{BaseURL: rec.srv.URL, Tokens: graph.StaticToken(token)})
	_, err := c.List(context.Background(), tenant, graph.V1, kind(t, "deviceConfigurations"), policyID)
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), token[:40]) {
		t.Fatalf("the token is in the error: %.200s", err)
	}
	if ge := asGraphError(t, err); ge.Message != "bad token "+redact.Mask+" here" {
		t.Errorf("message %q", ge.Message)
	}
}

// TestNewClientHidesURLPassword: a password in BaseURL, valid URL or not,
// is not in the error that refuses it.
func TestNewClientHidesURLPassword(t *testing.T) {
	t.Parallel()
	const password = "PASSWORD-in-url"
	for _, base := range []string{
		"http://user:" + password + "@127.0.0.1:8080",
		"http://user:" + password + " x@127.0.0.1:8080", // url.Parse refuses it, quoting it whole
		"https://" + password + "@graph.example",
	} {
		_, err := graph.NewClient(graph.Config{BaseURL: base, Tokens: graph.StaticToken("t")})
		if err == nil {
			t.Fatalf("%s accepted", base)
		}
		if strings.Contains(err.Error(), "PASSWORD") {
			t.Errorf("password in the error: %v", err)
		}
		if !strings.Contains(err.Error(), "credentials") {
			t.Errorf("error does not say why: %v", err)
		}
	}
}
