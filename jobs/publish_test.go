package jobs

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/natsembed"
)

func streamMsgs(t testing.TB, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPublishManyAndFlush(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	const n = 10_000
	p := b.store.NewPublisher(512)
	for i := range n {
		tenant := "contoso.onmicrosoft.com"
		if i%2 == 1 {
			tenant = "0a1b2c3d-0000-4000-8000-00000000abcd"
		}
		if err := p.Publish(ctx, testJob(tenant, "imp1", i+2, i)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	st, err := p.Flush(ctx)
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if st != (PublishStats{Acked: n}) {
		t.Fatalf("stats = %+v, want %d acked, no duplicates or failures", st, n)
	}
	if got := streamMsgs(t, b.store.jobs); got != n {
		t.Fatalf("stream holds %d messages, want %d", got, n)
	}
	pending, err := b.store.PendingTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"contoso.onmicrosoft.com": n / 2, "0a1b2c3d-0000-4000-8000-00000000abcd": n / 2}
	if len(pending) != 2 || pending["contoso.onmicrosoft.com"] != want["contoso.onmicrosoft.com"] ||
		pending["0a1b2c3d-0000-4000-8000-00000000abcd"] != want["0a1b2c3d-0000-4000-8000-00000000abcd"] {
		t.Fatalf("PendingTenants = %v, want %v", pending, want)
	}
}

func TestPublishDedup(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	p := b.store.NewPublisher(8)
	j := testJob("contoso.onmicrosoft.com", "imp1", 2, 1)
	// Same import and key twice (a retried ingest): stored once.
	for range 2 {
		if err := p.Publish(ctx, j); err != nil {
			t.Fatal(err)
		}
		// Flush between so the second is a real re-publish, not in flight
		// together (dedup holds either way).
		if _, err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := p.Flush(ctx)
	if st.Acked != 2 || st.Duplicates != 1 {
		t.Fatalf("stats = %+v, want 2 acked, 1 duplicate", st)
	}
	if got := streamMsgs(t, b.store.jobs); got != 1 {
		t.Fatalf("stream holds %d, want 1", got)
	}
	// Same key in another import (the file run again): a new message.
	j2 := j
	j2.ImportID = "imp2"
	if err := p.Publish(ctx, j2); err != nil {
		t.Fatal(err)
	}
	st, err := p.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Acked != 3 || st.Duplicates != 1 {
		t.Fatalf("stats = %+v, want 3 acked, 1 duplicate", st)
	}
	if got := streamMsgs(t, b.store.jobs); got != 2 {
		t.Fatalf("stream holds %d, want 2", got)
	}
}

func TestPublishRejectsInvalidJobs(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	good := testJob("contoso.onmicrosoft.com", "imp1", 2, 1)
	tests := []struct {
		name  string
		given func(j Job) Job
	}{
		{"wrong key", func(j Job) Job { j.Key = "00"; return j }},
		{"bad tenant", func(j Job) Job { j.Tenant = "a b"; j.Key = j.ComputeKey(); return j }},
		{"import id with dot", func(j Job) Job { j.ImportID = "a.b"; return j }},
		{"empty import id", func(j Job) Job { j.ImportID = ""; return j }},
	}
	p := b.store.NewPublisher(4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Publish(ctx, tt.given(good)); !errors.Is(err, ErrPublish) {
				t.Fatalf("Publish = %v, want ErrPublish", err)
			}
		})
	}
	if st, err := p.Flush(ctx); err != nil || st.Acked != 0 {
		t.Fatalf("Flush = %+v, %v: invalid jobs must not reach the stream", st, err)
	}
}

func TestPublishHonoursContextWhenFull(t *testing.T) {
	b := setup(t, Config{})
	p := b.store.NewPublisher(1)
	// Fill the only slot by hand: the next Publish must wait, then give up
	// with the context's error.
	p.sem <- struct{}{}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	err := p.Publish(ctx, testJob("contoso.onmicrosoft.com", "imp1", 2, 1))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish = %v, want context.Canceled", err)
	}
	<-p.sem
}

func TestPublishFailureIsReported(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	// Delete the jobs stream: publishes find no stream and must fail, and
	// Flush must say so rather than hang or report success.
	if err := b.store.js.DeleteStream(ctx, JobsStream); err != nil {
		t.Fatal(err)
	}
	p := b.store.NewPublisher(4)
	_ = p.Publish(ctx, testJob("contoso.onmicrosoft.com", "imp1", 2, 1))
	st, err := p.Flush(ctx)
	if !errors.Is(err, ErrPublish) || st.Failed != 1 {
		t.Fatalf("Flush = %+v, %v, want 1 failure wrapping ErrPublish", st, err)
	}
	if err := p.Publish(ctx, testJob("contoso.onmicrosoft.com", "imp1", 3, 2)); !errors.Is(err, ErrPublish) {
		t.Fatalf("Publish after a failure = %v, want the first failure", err)
	}
}

// BenchmarkPublish measures enqueue throughput against an embedded server
// (default fsync interval) with 1,024 publishes in flight.
func BenchmarkPublish(b *testing.B) {
	bb := setup(b, Config{})
	benchPublish(b, bb.store)
}

// BenchmarkPublishSyncAlways is the same with fsync on every write.
func BenchmarkPublishSyncAlways(b *testing.B) {
	e := natstest.Embedded(b, natsembed.Config{SyncAlways: true})
	s, err := Provision(context.Background(), natstest.Connect(b, e), Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchPublish(b, s)
}

func benchPublish(b *testing.B, s *Store) {
	ctx := context.Background()
	jobs := make([]Job, 4096)
	for i := range jobs {
		jobs[i] = testJob("contoso.onmicrosoft.com", "bench", i+2, i)
	}
	p := s.NewPublisher(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := jobs[i%len(jobs)]
		j.ImportID = "bench" + strconv.Itoa(i/len(jobs)) // keep message ids unique
		if err := p.Publish(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func TestPublishConcurrent(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	p := b.store.NewPublisher(32)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				n := g*1000 + i
				if err := p.Publish(ctx, testJob("contoso.onmicrosoft.com", "imp1", n+2, n)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	// A Flush racing the publishers must neither hang nor fail.
	if _, err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush during publishing: %v", err)
	}
	wg.Wait()
	st, err := p.Flush(ctx)
	if err != nil || st.Acked != 1000 || st.Duplicates != 0 {
		t.Fatalf("Flush = %+v, %v, want 1000 acked", st, err)
	}
	if got := streamMsgs(t, b.store.jobs); got != 1000 {
		t.Fatalf("stream holds %d, want 1000", got)
	}
}

// TestPublishersLeaveNothingBehind: many short-lived Publishers (serve makes
// one per queue message) share the Store's publishing handle, so none
// leaves a goroutine or subscription behind once flushed.
func TestPublishersLeaveNothingBehind(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	warm := b.store.NewPublisher(1)
	if err := warm.Publish(ctx, testJob("contoso.onmicrosoft.com", "warm", 2, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := warm.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()
	subs := b.nc.NumSubscriptions()
	for i := range 100 {
		p := b.store.NewPublisher(4)
		if err := p.Publish(ctx, testJob("contoso.onmicrosoft.com", "short", i+2, i+1)); err != nil {
			t.Fatal(err)
		}
		st, err := p.Flush(ctx)
		if err != nil || st.Acked != 1 {
			t.Fatalf("publisher %d: %+v, %v", i, st, err)
		}
	}
	if got := b.nc.NumSubscriptions(); got != subs {
		t.Errorf("subscriptions %d after 100 publishers, %d before", got, subs)
	}
	goleak.VerifyNone(t, before)
}
