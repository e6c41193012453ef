package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestResultsFirstWinsSorted(t *testing.T) {
	// A 100 ms duplicate window: the re-records below come after it, so the
	// stream stores them and Results must still keep the first per row.
	b := setup(t, Config{DuplicateWindow: 100 * time.Millisecond})
	ctx := testCtx(t)
	put := func(row int, st Status) {
		t.Helper()
		if err := b.store.PutResult(ctx, Result{ImportID: "imp1", Row: row, Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	put(5, StatusCreated)
	put(3, StatusFailed)
	put(2, StatusExisting)
	// Another import's results must not show up.
	if err := b.store.PutResult(ctx, Result{ImportID: "imp2", Row: 4, Status: StatusInvalid}); err != nil {
		t.Fatal(err)
	}
	put(5, StatusFailed) // within the window: dropped by dedup
	waitFor(t, "the duplicate window to pass", func() bool {
		// Re-record row 3; it is stored once the window has passed.
		_ = b.store.PutResult(ctx, Result{ImportID: "imp1", Row: 3, Status: StatusCreated})
		n, err := b.store.ResultCount(ctx, "imp1")
		return err == nil && n == 4
	})

	got, err := b.store.Results(ctx, "imp1")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		row int
		st  Status
	}{{2, StatusExisting}, {3, StatusFailed}, {5, StatusCreated}}
	if len(got) != len(want) {
		t.Fatalf("Results = %+v, want %d rows", got, len(want))
	}
	for i, w := range want {
		if got[i].Row != w.row || got[i].Status != w.st {
			t.Fatalf("Results[%d] = row %d %s, want row %d %s", i, got[i].Row, got[i].Status, w.row, w.st)
		}
	}

	empty, err := b.store.Results(ctx, "nothing")
	if err != nil || len(empty) != 0 {
		t.Fatalf("Results of an empty import = %v, %v", empty, err)
	}
	if _, err := b.store.Results(ctx, "bad.id"); !errors.Is(err, ErrInvalidImportID) {
		t.Fatalf("Results(bad id) = %v, want ErrInvalidImportID", err)
	}
	if err := b.store.PutResult(ctx, Result{ImportID: "imp1", Row: 0}); err == nil {
		t.Fatal("PutResult row 0 succeeded")
	}
}

func TestWatchResults(t *testing.T) {
	b := setup(t, Config{DuplicateWindow: 100 * time.Millisecond})
	ctx := testCtx(t)
	for _, row := range []int{2, 3} {
		if err := b.store.PutResult(ctx, Result{ImportID: "imp1", Row: row, Status: StatusCreated}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	calls := map[int]int{}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.store.WatchResults(wctx, "imp1", func(r Result) {
			mu.Lock()
			calls[r.Row]++
			mu.Unlock()
		})
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(calls)
	}
	waitFor(t, "the replay of rows 2 and 3", func() bool { return count() == 2 })

	// New rows arrive while watching, plus a re-record of row 2 after the
	// duplicate window (stored, but must not be reported again).
	for _, row := range []int{4, 5} {
		if err := b.store.PutResult(ctx, Result{ImportID: "imp1", Row: row, Status: StatusFailed}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a stored re-record of row 2", func() bool {
		_ = b.store.PutResult(ctx, Result{ImportID: "imp1", Row: 2, Status: StatusFailed})
		n, err := b.store.ResultCount(ctx, "imp1")
		return err == nil && n >= 5
	})
	// Row 6 is written after row 2's re-record: once it is seen, the
	// re-record has been processed too (stream order).
	if err := b.store.PutResult(ctx, Result{ImportID: "imp1", Row: 6, Status: StatusCreated}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rows 4, 5 and 6", func() bool { return count() == 5 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchResults returned %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for row, n := range calls {
		if n != 1 {
			t.Fatalf("row %d reported %d times, want once (%v)", row, n, calls)
		}
	}
}

// TestProgress: rows without a result are Waiting while a job of the
// import's tenants is queued (or the import is not fully enqueued), and
// Missing, named, once none is.
func TestProgress(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	imp := Import{ID: "imp1", Rows: 5, Tenants: []string{"Contoso.onmicrosoft.com"}, Enqueued: true}
	for row := 2; row <= 6; row++ {
		imp.RowSet.Add(row)
	}
	for _, row := range []int{2, 3, 6} {
		if err := b.store.PutResult(ctx, Result{ImportID: imp.ID, Row: row, Status: StatusCreated}); err != nil {
			t.Fatal(err)
		}
	}
	progress := func(imp Import) ImportProgress {
		t.Helper()
		p, err := b.store.Progress(ctx, imp)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Row 4's job is queued: it may still come.
	p := b.store.NewPublisher(4)
	if err := p.Publish(ctx, testJob("contoso.onmicrosoft.com", imp.ID, 4, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := progress(imp); !got.Waiting || got.Missing != 0 || got.Complete() || len(got.Results) != 3 {
		t.Fatalf("with a queued job: %+v, want waiting, nothing missing", got)
	}
	notEnqueued := imp
	notEnqueued.Enqueued, notEnqueued.Tenants = false, []string{fabrikam}
	if got := progress(notEnqueued); !got.Waiting || got.Missing != 0 {
		t.Fatalf("not fully enqueued: %+v, want waiting", got)
	}

	// The job leaves the queue without a result (it was lost): rows 4 and
	// 5 are missing for good.
	consume(t, b.store, "contoso.onmicrosoft.com", 1, 1)
	got := progress(imp)
	if got.Waiting || got.Missing != 2 || got.MissingRows.Format(0) != "4-5" || got.Complete() {
		t.Fatalf("after the queue emptied: %+v, want rows 4-5 missing", got)
	}
	old := imp
	old.RowSet = nil // recorded before imports kept their row numbers
	if got := progress(old); got.Missing != 2 || got.MissingRows.Len() != 0 {
		t.Fatalf("an import without row numbers: %+v, want 2 missing, unnamed", got)
	}

	for _, row := range []int{4, 5} {
		if err := b.store.PutResult(ctx, Result{ImportID: imp.ID, Row: row, Status: StatusFailed}); err != nil {
			t.Fatal(err)
		}
	}
	if got := progress(imp); !got.Complete() || len(got.Results) != 5 {
		t.Fatalf("with every result: %+v, want complete", got)
	}
}
