package jobs

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestKeptRequests: a request is kept beside its import and listed until
// deleted; Imports never takes it for an import.
func TestKeptRequests(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	s := b.store
	if ids, err := s.KeptRequests(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("KeptRequests on an empty bucket = %v, %v", ids, err)
	}
	if err := s.PutImport(ctx, Import{ID: "q1", Created: time.Now(), Request: &Request{Format: "queue", Tenant: "x.com"}}); err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"kind":"deviceConfigurations"}]`)
	for _, id := range []string{"q1", "q2"} {
		if err := s.PutRequest(ctx, id, body); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := s.KeptRequests(ctx)
	slices.Sort(ids)
	if err != nil || !slices.Equal(ids, []string{"q1", "q2"}) {
		t.Fatalf("KeptRequests = %v, %v", ids, err)
	}
	if got, err := s.Request(ctx, "q1"); err != nil || string(got) != string(body) {
		t.Fatalf("Request(q1) = %q, %v", got, err)
	}
	imps, err := s.Imports(ctx)
	if err != nil || len(imps) != 1 || imps[0].ID != "q1" || imps[0].Request == nil || imps[0].Request.Tenant != "x.com" {
		t.Fatalf("Imports = %+v, %v; want q1 alone, with its request's options", imps, err)
	}
	for _, id := range []string{"q2", "q2", "never"} {
		if err := s.DeleteRequest(ctx, id); err != nil {
			t.Fatalf("DeleteRequest(%s) = %v", id, err)
		}
	}
	if _, err := s.Request(ctx, "q2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Request(deleted) = %v, want ErrNotFound", err)
	}
	if ids, err := s.KeptRequests(ctx); err != nil || !slices.Equal(ids, []string{"q1"}) {
		t.Fatalf("KeptRequests after delete = %v, %v", ids, err)
	}
	if err := s.PutRequest(ctx, "bad id", body); !errors.Is(err, ErrInvalidImportID) {
		t.Fatalf("PutRequest(bad id) = %v", err)
	}
}
