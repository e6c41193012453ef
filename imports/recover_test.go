package imports

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
)

// TestQueueMessageRecover: a queue message whose enqueue stops half way
// (its process was killed) is kept in the store with its import; Recover
// completes the import from it, every row queued once, and drops it. The
// same message sent again afterwards is answered with the same import,
// and enqueues nothing more.
func TestQueueMessageRecover(t *testing.T) {
	const window = 100 * time.Millisecond
	b := setup(t, jobs.Config{DuplicateWindow: window}, Config{Checkpoint: 16})
	body := messageRows(100)
	opts := ingest.Options{Tenant: tenantB}
	msg := NewMessage(body, opts)
	_, err := b.im.Create(b.ctx, Spec{Name: "queue message", Source: "nats"}, interruptedKeeper{interrupted{msg, 40}, msg})
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("Create = %v, want the interruption", err)
	}
	imps, err := b.store.Imports(b.ctx)
	if err != nil || len(imps) != 1 || imps[0].Enqueued || imps[0].Emitted != 32 || imps[0].Request == nil || imps[0].Request.Tenant != tenantB {
		t.Fatalf("after the interruption: %+v, %v", imps, err)
	}
	id := imps[0].ID
	if kept, err := b.store.KeptRequests(b.ctx); err != nil || !slices.Equal(kept, []string{id}) {
		t.Fatalf("kept requests %v, %v; want [%s]", kept, err, id)
	}
	// Rows 33-40 were published after the last checkpoint: past the
	// window, publishing them again would store them twice.
	time.Sleep(2 * window)

	n, err := b.im.Recover(b.ctx)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1", n, err)
	}
	imp, err := b.store.Import(b.ctx, id)
	if err != nil || !imp.Enqueued || imp.Rows != 100 {
		t.Fatalf("recovered import %+v, %v", imp, err)
	}
	queued := b.queuedRows(id)
	for row := 1; row <= 100; row++ {
		// Rows past the checkpoint may be published twice; never lost.
		if queued[row] < 1 || (row <= 32 && queued[row] != 1) || (row > 40 && queued[row] != 1) {
			t.Errorf("row %d queued %d times", row, queued[row])
		}
	}
	if kept, err := b.store.KeptRequests(b.ctx); err != nil || len(kept) != 0 {
		t.Fatalf("kept requests after Recover: %v, %v", kept, err)
	}

	before := len(storetest.QueuedJobs(t, b.store))
	again, err := b.im.Create(b.ctx, Spec{Name: "queue message", Source: "nats"}, NewMessage(body, opts))
	if err != nil || again.ID != id {
		t.Fatalf("sent again: %+v, %v; want import %s", again, err, id)
	}
	if after := len(storetest.QueuedJobs(t, b.store)); after != before {
		t.Errorf("sending the message again queued %d more jobs", after-before)
	}
}

// TestRecoverDropsStaleRequests: a request kept for an import that is
// enqueued, or that was never recorded, is dropped; Recover completes
// nothing then.
func TestRecoverDropsStaleRequests(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	imp, err := b.im.Create(b.ctx, Spec{}, NewMessage(messageRows(3), ingest.Options{}))
	if err != nil || !imp.Enqueued || imp.Request == nil || imp.Request.Format != FormatQueue {
		t.Fatalf("Create = %+v, %v", imp, err)
	}
	for _, id := range []string{imp.ID, "20260101T000000-abcdef"} {
		if err := b.store.PutRequest(b.ctx, id, []byte("[]")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.im.Recover(b.ctx); err != nil || n != 0 {
		t.Fatalf("Recover = %d, %v; want 0", n, err)
	}
	if kept, err := b.store.KeptRequests(b.ctx); err != nil || len(kept) != 0 {
		t.Fatalf("kept requests %v, %v", kept, err)
	}
}
