package jobs

import (
	"errors"
	"testing"
	"time"
)

func TestImports(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	s := b.store
	if got, err := s.Imports(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Imports on an empty bucket = %v, %v", got, err)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, id := range []string{"b", "a", "c"} {
		im := Import{ID: id, Name: "f.csv", Created: base.Add(time.Duration(i) * time.Hour), Rows: i, Tenants: []string{"x.com"}}
		if err := s.PutImport(ctx, im); err != nil {
			t.Fatal(err)
		}
	}
	// Update one in place.
	if err := s.PutImport(ctx, Import{ID: "a", Created: base.Add(time.Hour), Rows: 1, Enqueued: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Imports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, im := range got {
		ids = append(ids, im.ID)
	}
	if len(ids) != 3 || ids[0] != "c" || ids[1] != "a" || ids[2] != "b" {
		t.Fatalf("Imports order = %v, want newest first [c a b]", ids)
	}
	a, err := s.Import(ctx, "a")
	if err != nil || !a.Enqueued || a.Rows != 1 {
		t.Fatalf("Import(a) = %+v, %v", a, err)
	}
	if _, err := s.Import(ctx, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Import(missing) = %v, want ErrNotFound", err)
	}
	if err := s.PutImport(ctx, Import{ID: "bad id"}); !errors.Is(err, ErrInvalidImportID) {
		t.Fatalf("PutImport(bad id) = %v", err)
	}
}

func TestOutcomesAndIntents(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	s := b.store
	key := testJob("contoso.onmicrosoft.com", "imp1", 2, 1).Key

	if _, ok, err := s.Outcome(ctx, key); ok || err != nil {
		t.Fatalf("Outcome before put = %v, %v", ok, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Outcome{Status: StatusCreated, AssignmentID: "asg1", ImportID: "imp1", Row: 2, At: at}
	if err := s.PutOutcome(ctx, key, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Outcome(ctx, key)
	if err != nil || !ok || got != want {
		t.Fatalf("Outcome = %+v, %v, %v, want %+v", got, ok, err, want)
	}

	if _, ok, err := s.Intent(ctx, key); ok || err != nil {
		t.Fatalf("Intent before put = %v, %v", ok, err)
	}
	in := Intent{Owner: "w1", Attempt: 2, At: at}
	if err := s.PutIntent(ctx, key, in); err != nil {
		t.Fatal(err)
	}
	if gotIn, ok, err := s.Intent(ctx, key); err != nil || !ok || gotIn != in {
		t.Fatalf("Intent = %+v, %v, %v", gotIn, ok, err)
	}
	if err := s.DeleteIntent(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Intent(ctx, key); ok || err != nil {
		t.Fatalf("Intent after delete = %v, %v", ok, err)
	}
	if err := s.DeleteIntent(ctx, "never-there"); err != nil {
		t.Fatalf("DeleteIntent of a missing key: %v", err)
	}
	if err := s.PutOutcome(ctx, "bad key*", want); err == nil {
		t.Fatal("PutOutcome accepted an invalid key")
	}
}
