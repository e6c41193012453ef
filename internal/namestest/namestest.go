// Package namestest helps tests that resolve names against the Graph
// simulator: a client for it, seeding that fails the test on error, and a
// loopback server that refuses group lookups with 403 in front of it.
package namestest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// Client returns a Graph client for the simulator at url (a static token;
// the tenant travels in graphtest.TenantHeader), closed when the test ends.
func Client(t testing.TB, url string) *graph.Client {
	t.Helper()
	return graphtest.Client(t, url, 5*time.Second)
}

// SeedFilter adds an assignment filter to the tenant and returns its id.
func SeedFilter(t testing.TB, s *graphtest.Server, tenant, name, platform string) string {
	t.Helper()
	id, err := s.SeedFilter(tenant, name, platform)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// SeedPolicy names a new policy of the kind in the tenant and returns its
// id.
func SeedPolicy(t testing.TB, s *graphtest.Server, tenant, kind, name string) string {
	t.Helper()
	id, err := s.SeedPolicy(tenant, kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// ForbidGroups serves s on a loopback port until the test ends, except that
// group lookups are answered 403 as Graph answers an application without
// Group.Read.All. It returns the base URL.
func ForbidGroups(t testing.TB, s *graphtest.Server) string {
	t.Helper()
	h := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/groups") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
