package jobs

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/internal/natstest"
)

// publishRows publishes rows 2..n+1 of tenant for import imp and flushes.
func publishRows(t *testing.T, s *Store, tenant, imp string, n int) {
	t.Helper()
	ctx := testCtx(t)
	p := s.NewPublisher(16)
	for i := range n {
		if err := p.Publish(ctx, testJob(tenant, imp, i+2, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryConsumerAcrossRestart: by default a tenant's consumer keeps its
// state in memory (no state file on disk); after the server stops with
// jobs acknowledged and jobs delivered but not acknowledged, the consumer
// is gone, and the one TenantConsumer creates delivers exactly the jobs
// not acknowledged (the stream kept them), never an acknowledged one.
func TestMemoryConsumerAcrossRestart(t *testing.T) {
	b := setup(t, Config{AckWait: time.Minute})
	ctx := testCtx(t)
	publishRows(t, b.store, contoso, "imp1", 10)
	if got := consume(t, b.store, contoso, 5, 3); !slices.Equal(got, []int{2, 3, 4, 5, 6}) {
		t.Fatalf("first delivery: rows %v", got)
	}
	c, err := b.store.TenantConsumer(ctx, contoso)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CachedInfo().Config.MemoryStorage {
		t.Fatal("the default consumer is stored in files, want memory")
	}
	if _, err := os.Stat(consumerState(b.dir, contoso)); !os.IsNotExist(err) {
		t.Fatalf("state file of a memory consumer: %v, want none", err)
	}

	b.nc.Close()
	b.srv.Shutdown()
	e := startServer(t, b.dir)
	nc := natstest.Connect(t, e)
	s, err := Open(ctx, nc, Config{AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if s.consumerKnown(ctx, consumerName(contoso)) {
		t.Fatal("the memory consumer outlived the server: the test tests nothing")
	}
	got := consume(t, s, contoso, 20, 20)
	slices.Sort(got)
	if want := []int{5, 6, 7, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Fatalf("after the restart the consumer delivered rows %v, want the unacknowledged %v", got, want)
	}
}

// TestConsumerKeepsItsStorage: a consumer created in files (an older
// store, or --consumer-storage file) is used as it is by a store that
// asks for memory, and the other way round: the server cannot change a
// consumer's storage, and deleting a consumer others share would hand
// their jobs out again.
func TestConsumerKeepsItsStorage(t *testing.T) {
	b := setup(t, Config{AckWait: time.Minute, ConsumerStorage: ConsumerFile})
	ctx := testCtx(t)
	publishRows(t, b.store, contoso, "imp1", 4)
	publishRows(t, b.store, fabrikam, "imp2", 4)
	if got := consume(t, b.store, contoso, 2, 2); len(got) != 2 {
		t.Fatalf("file consumer delivered rows %v", got)
	}
	if _, err := os.Stat(consumerState(b.dir, contoso)); err != nil {
		t.Fatalf("file consumer without a state file: %v", err)
	}
	mem, err := Open(ctx, b.nc, Config{AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c, err := mem.TenantConsumer(ctx, contoso)
	if err != nil {
		t.Fatalf("TenantConsumer over a file consumer: %v", err)
	}
	if c.CachedInfo().Config.MemoryStorage {
		t.Fatal("the file consumer became a memory one")
	}
	if got := consume(t, mem, contoso, 10, 10); !slices.Equal(got, []int{4, 5}) {
		t.Fatalf("kept file consumer delivered rows %v, want [4 5]", got)
	}

	if got := consume(t, mem, fabrikam, 1, 1); len(got) != 1 {
		t.Fatalf("memory consumer delivered rows %v", got)
	}
	c, err = b.store.TenantConsumer(ctx, fabrikam)
	if err != nil {
		t.Fatalf("TenantConsumer (file) over a memory consumer: %v", err)
	}
	if !c.CachedInfo().Config.MemoryStorage {
		t.Fatal("the memory consumer became a file one")
	}
}
