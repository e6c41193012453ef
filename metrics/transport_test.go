package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInstrumentTransport(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)

	const (
		policyID = "5e4d3c2b-1a09-8f7e-6d5c-4b3a29180f7e"
		token    = "eyJ0eXAiOiJKV1QiLCJzZWNyZXQiOiJ0b2tlbiJ9.secret"
	)
	var sawAuth atomic.Bool
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth.Store(r.Header.Get("Authorization") == "Bearer "+token)
		switch {
		case r.Method == http.MethodGet:
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "slowdown"):
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	client := &http.Client{Transport: m.InstrumentTransport(graph.Client().Transport)}

	do := func(method, path string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, graph.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	base := "/beta/deviceManagement/configurationPolicies/" + policyID
	do(http.MethodPost, base+"/assignments")
	do(http.MethodPost, base+"/assignments")
	do(http.MethodPost, base+"/slowdown/assignments")
	do(http.MethodGet, base+"/assignments?$top=100")
	graph.Close()
	if !sawAuth.Load() {
		t.Fatal("Authorization header did not reach the server through the instrumented transport")
	}

	counts := []struct {
		code, method string
		want         float64
	}{
		{"201", "post", 2},
		{"429", "post", 1},
		{"200", "get", 1},
	}
	for _, c := range counts {
		if got := testutil.ToFloat64(m.graphRequests.WithLabelValues(c.code, c.method)); got != c.want {
			t.Errorf("requests{code=%s,method=%s} = %v, want %v", c.code, c.method, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.graphRequests); n != len(counts) {
		t.Errorf("graph_requests_total has %d series, want %d", n, len(counts))
	}
	if got := testutil.ToFloat64(m.graphInFlight); got != 0 {
		t.Errorf("in flight after all requests = %v, want 0", got)
	}

	// A request that gets no response is a transport error, not a code.
	if resp, err := client.Post(graph.URL+base+"/assignments", "application/json", nil); err == nil {
		resp.Body.Close()
		t.Fatal("POST to a closed server succeeded")
	}
	if got := testutil.ToFloat64(m.graphErrors.WithLabelValues("post")); got != 1 {
		t.Errorf("transport errors{method=post} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.graphRequests.WithLabelValues("201", "post")); got != 2 {
		t.Errorf("a failed request changed requests{201,post} to %v", got)
	}

	// Nothing identifying reaches the exposition.
	body := scrape(t, reg)
	if !strings.Contains(body, `bulkassign_graph_request_duration_seconds_count{method="post"} 3`) {
		t.Errorf("exposition lacks the post duration count:\n%s", body)
	}
	host := strings.TrimPrefix(graph.URL, "http://")
	for _, secret := range []string{policyID, token, "secret", host, "configurationPolicies", "assignments", "slowdown"} {
		if strings.Contains(body, secret) {
			t.Errorf("exposition contains %q", secret)
		}
	}
}
