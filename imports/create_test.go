package imports

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
)

// TestCreateCSV: valid rows become jobs, invalid (with SkipInvalid) and
// duplicate rows results, and the record says what the file held.
func TestCreateCSV(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	dup := tenantA + ",deviceConfigurations," + policy + ",group," + group(0)
	bad := tenantA + ",deviceConfigurations," + policy + ",group,not-a-guid"
	imp, err := b.im.Create(b.ctx, Spec{Name: "f.csv", Source: "dir/f.csv"}, csvOf(csvRows(20, dup, bad), ingest.Options{SkipInvalid: true}))
	if err != nil {
		t.Fatal(err)
	}
	if !imp.Enqueued || imp.Rows != 22 || imp.Jobs != 20 || imp.Invalid != 1 || imp.Duplicates != 1 ||
		!slices.Equal(imp.Tenants, []string{tenantA, tenantB}) || imp.RowSet.Format(0) != "2-23" || imp.Name != "f.csv" || imp.Source != "dir/f.csv" {
		t.Fatalf("import %+v", imp)
	}
	b.assertQueuedOnce(imp.ID, rowRange(2, 21))
	p, err := b.im.Progress(b.ctx, imp)
	if err != nil {
		t.Fatal(err)
	}
	if p.State() != "running" || p.Counts[contract.StatusDuplicate] != 1 || p.Counts[contract.StatusInvalid] != 1 || p.Counts.Done() != 2 {
		t.Fatalf("progress %s, counts %v", p.State(), p.Counts)
	}
	if r := p.Results[0]; r.Row != 22 || r.DuplicateOf != 2 {
		t.Errorf("duplicate row %+v", r)
	}
}

// TestCreateRefusesInvalidSource: a file with an invalid row (without
// SkipInvalid) and a malformed message are refused with a *SourceError
// that names them, and nothing is recorded or enqueued.
func TestCreateRefusesInvalidSource(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	src := csvOf(csvRows(3, tenantA+",deviceConfigurations,"+policy+",group,not-a-guid"), ingest.Options{})
	_, err := b.im.Create(b.ctx, Spec{}, src)
	var se *SourceError
	if !errors.As(err, &se) || !errors.Is(err, ingest.ErrInvalidRows) {
		t.Fatalf("Create = %v, want a *SourceError wrapping ErrInvalidRows", err)
	}
	if errs := src.Summary().Errors; len(errs) != 1 || errs[0].Row != 5 || errs[0].Column != contract.ColGroup {
		t.Errorf("summary errors %+v", errs)
	}
	msg := NewMessage([]byte(`[{"kind":"x"}, "no"]`), ingest.Options{})
	if _, err := b.im.Create(b.ctx, Spec{}, msg); !errors.As(err, &se) || len(msg.Summary().Errors) != 2 {
		t.Fatalf("Create(message) = %v, errors %+v", err, msg.Summary().Errors)
	}
	if _, err := b.im.Create(b.ctx, Spec{}, NewMessage([]byte(`nonsense`), ingest.Options{})); !errors.As(err, &se) {
		t.Fatalf("Create(nonsense) = %v", err)
	}
	if imps, err := b.store.Imports(b.ctx); err != nil || len(imps) != 0 {
		t.Fatalf("imports recorded: %v, %v", imps, err)
	}
	if q := b.queuedRows(""); len(q) != 0 {
		t.Fatal("jobs enqueued")
	}
}

// TestResumeInterruptedEnqueue: an enqueue that stops half way (the
// process died) leaves the import enqueueing with its progress recorded;
// creating it again from the same file finishes that import, publishing
// only the rows it had not published, even once JetStream's duplicate
// window no longer hides a second publish. Creating it again once more
// while its rows are on their way publishes nothing.
func TestResumeInterruptedEnqueue(t *testing.T) {
	const window = 100 * time.Millisecond
	b := setup(t, jobs.Config{DuplicateWindow: window}, Config{Checkpoint: 1})
	data := csvRows(30)
	_, err := b.im.Create(b.ctx, Spec{Name: "f.csv"}, interrupted{RowSource: csvOf(data, ingest.Options{}), n: 12})
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("Create = %v, want the interruption", err)
	}
	imps, err := b.store.Imports(b.ctx)
	if err != nil || len(imps) != 1 || imps[0].Enqueued || imps[0].Emitted != 12 {
		t.Fatalf("after the interruption: %+v, %v", imps, err)
	}
	first := imps[0]
	b.assertQueuedOnce(first.ID, rowRange(2, 13))
	// Not a synchronisation: past the window a second publish of a row
	// would be stored, so the test sees it.
	time.Sleep(2 * window)

	imp, err := b.im.Create(b.ctx, Spec{Name: "f.csv"}, csvOf(data, ingest.Options{}))
	if err != nil || imp.ID != first.ID || !imp.Enqueued || imp.Emitted != 30 {
		t.Fatalf("resumed import %+v, %v; want %s enqueued", imp, err, first.ID)
	}
	b.assertQueuedOnce(imp.ID, rowRange(2, 31))

	again, err := b.im.Create(b.ctx, Spec{Name: "f.csv"}, csvOf(data, ingest.Options{}))
	if err != nil || again.ID != first.ID {
		t.Fatalf("created again while running: %+v, %v; want %s", again, err, first.ID)
	}
	b.assertQueuedOnce(imp.ID, rowRange(2, 31))
}

// TestRedoLostRows: rows whose jobs were lost are missing; creating the
// import again from the same file enqueues exactly them, into the same
// import. A finished import is never resumed: the same file again is a new
// import.
func TestRedoLostRows(t *testing.T) {
	const window = 100 * time.Millisecond
	b := setup(t, jobs.Config{DuplicateWindow: window}, Config{})
	data := csvRows(10)
	imp, err := b.im.Create(b.ctx, Spec{}, csvOf(data, ingest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	// Rows 2-5 get their result; the other jobs are lost.
	for _, j := range storetest.QueuedJobs(t, b.store) {
		if j.Row <= 5 {
			if err := b.store.PutResult(b.ctx, jobs.ResultFor(j, jobs.StatusCreated)); err != nil {
				t.Fatal(err)
			}
		}
	}
	storetest.PurgeJobs(t, b.store)
	p, err := b.im.Progress(b.ctx, imp)
	var me *MissingError
	if err != nil || p.State() != "6 rows missing" || !errors.As(p.Err(), &me) || me.MissingRows.Format(0) != "6-11" {
		t.Fatalf("progress %s, %v, %v", p.State(), p.Err(), err)
	}

	// A job published again within JetStream's duplicate window is
	// dropped as a duplicate: a lost job is redone once the window passed.
	time.Sleep(2 * window)
	redo, err := b.im.Create(b.ctx, Spec{}, csvOf(data, ingest.Options{}))
	if err != nil || redo.ID != imp.ID {
		t.Fatalf("redo %+v, %v; want import %s", redo, err, imp.ID)
	}
	b.assertQueuedOnce(imp.ID, rowRange(6, 11))

	b.finish(imp.ID)
	again, err := b.im.Create(b.ctx, Spec{}, csvOf(data, ingest.Options{}))
	if err != nil || again.ID == imp.ID {
		t.Fatalf("after it finished: %+v, %v; want a new import", again, err)
	}
	b.assertQueuedOnce(again.ID, rowRange(2, 11))
}

// TestCreateChecksTenants: the rows of a tenant whose check fails get its
// failed verdict as their result and are not enqueued.
func TestCreateChecksTenants(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	var checked []string
	check := func(_ context.Context, targets []preflight.Target) ([]preflight.Verdict, error) {
		var out []preflight.Verdict
		for _, tg := range targets {
			checked = append(checked, tg.Tenant)
			v := preflight.Verdict{Tenant: tg.Tenant}
			if tg.Tenant == tenantB {
				v.Code, v.Message, v.HTTPStatus = contract.CodeTenantUnauthorized, "token refused", 401
			}
			out = append(out, v)
		}
		return out, nil
	}
	imp, err := b.im.Create(b.ctx, Spec{Check: check}, csvOf(csvRows(6), ingest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(checked, []string{tenantA, tenantB}) {
		t.Errorf("checked %v, want each tenant once", checked)
	}
	b.assertQueuedOnce(imp.ID, []int{2, 4, 6})
	results, err := b.store.Results(b.ctx, imp.ID)
	if err != nil || len(results) != 3 {
		t.Fatalf("results %+v, %v", results, err)
	}
	for _, r := range results {
		if r.Tenant != tenantB || r.Status != jobs.StatusFailed || r.ErrorCode != contract.CodeTenantUnauthorized || r.HTTPStatus != 401 {
			t.Errorf("result %+v", r)
		}
	}
	failing := func(context.Context, []preflight.Target) ([]preflight.Verdict, error) { return nil, errors.New("boom") }
	if _, err := b.im.Create(b.ctx, Spec{Check: failing}, csvOf(csvRows(2), ingest.Options{})); err == nil {
		t.Fatal("a failing check did not fail Create")
	}
}

// TestCSVChangedWhileEnqueued: a file whose bytes change between the check
// and the enqueue fails the enqueue.
func TestCSVChangedWhileEnqueued(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	passes := [][]byte{csvRows(4), csvRows(5)}
	src := NewCSV(func() (io.ReadCloser, error) {
		data := passes[0]
		passes = passes[1:]
		return io.NopCloser(bytes.NewReader(data)), nil
	}, ingest.Options{})
	if _, err := b.im.Create(b.ctx, Spec{}, src); !errors.Is(err, ErrChanged) {
		t.Fatalf("Create = %v, want ErrChanged", err)
	}
}

// TestRetryFailedRows: the failed rows of an import become a new import
// under their row numbers; retrying again while it runs resumes it instead
// of enqueueing the rows twice.
func TestRetryFailedRows(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	orig, err := b.im.Create(b.ctx, Spec{}, csvOf(csvRows(6), ingest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range storetest.QueuedJobs(t, b.store) {
		status := jobs.StatusCreated
		if j.Row%2 == 1 {
			status = jobs.StatusFailed
		}
		if err := b.store.PutResult(b.ctx, jobs.ResultFor(j, status)); err != nil {
			t.Fatal(err)
		}
	}
	storetest.PurgeJobs(t, b.store)
	failed, err := b.im.FailedRows(b.ctx, orig)
	if err != nil || failed.Len() != 3 {
		t.Fatalf("failed rows %d, %v", failed.Len(), err)
	}
	retry, err := b.im.Create(b.ctx, Spec{Name: "retry of " + orig.ID, Source: orig.Source}, failed)
	if err != nil || retry.ID == orig.ID || retry.Rows != 3 || retry.Jobs != 3 || retry.RowSet.Format(0) != "3, 5, 7" {
		t.Fatalf("retry %+v, %v", retry, err)
	}
	b.assertQueuedOnce(retry.ID, []int{3, 5, 7})
	again, err := b.im.Create(b.ctx, Spec{Name: "retry of " + orig.ID}, failed)
	if err != nil || again.ID != retry.ID {
		t.Fatalf("retry again: %+v, %v; want %s", again, err, retry.ID)
	}
	b.assertQueuedOnce(retry.ID, []int{3, 5, 7})
	if _, err := b.im.Create(b.ctx, Spec{}, NewList(nil, nil)); !errors.As(err, new(*SourceError)) {
		t.Fatalf("empty list: %v", err)
	}
}
