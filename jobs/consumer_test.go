package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestTenantConsumerSeesOnlyItsTenant(t *testing.T) {
	b := setup(t, Config{AckWait: 5 * time.Second, MaxAckPending: 8})
	ctx := testCtx(t)
	const contoso, fabrikam = "contoso.onmicrosoft.com", "0a1b2c3d-0000-4000-8000-00000000abcd"
	p := b.store.NewPublisher(16)
	for i := range 10 {
		tenant := contoso
		if i >= 4 {
			tenant = fabrikam
		}
		if err := p.Publish(ctx, testJob(tenant, "imp1", i+2, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := b.store.TenantConsumer(ctx, contoso)
	if err != nil {
		t.Fatal(err)
	}
	// Opening it again (another worker process) is fine and shares it.
	if _, err := b.store.TenantConsumer(ctx, contoso); err != nil {
		t.Fatalf("second TenantConsumer: %v", err)
	}
	info := c.CachedInfo()
	if info.Name != "jobs_contoso_onmicrosoft_com" || info.Config.MaxDeliver != -1 ||
		info.Config.AckPolicy != jetstream.AckExplicitPolicy || info.Config.MaxAckPending != 8 ||
		info.Config.AckWait != 5*time.Second {
		t.Fatalf("consumer config = %s %+v", info.Name, info.Config)
	}

	batch, err := c.Fetch(20, jetstream.FetchMaxWait(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var got int
	for msg := range batch.Messages() {
		j, err := DecodeJob(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		if j.Tenant != contoso {
			t.Fatalf("contoso's consumer got a job of %s", j.Tenant)
		}
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
		got++
	}
	if batch.Error() != nil {
		t.Fatal(batch.Error())
	}
	if got != 4 {
		t.Fatalf("fetched %d jobs, want 4", got)
	}
	// Acked jobs leave the work queue; fabrikam's wait.
	pending, err := b.store.PendingTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[fabrikam] != 6 {
		t.Fatalf("PendingTenants = %v, want only %s: 6", pending, fabrikam)
	}

	if err := b.store.DeleteTenantConsumer(ctx, contoso); err != nil {
		t.Fatal(err)
	}
	if err := b.store.DeleteTenantConsumer(ctx, contoso); err != nil {
		t.Fatalf("deleting a missing consumer: %v", err)
	}
	if _, err := b.store.TenantConsumer(ctx, "not a tenant"); err == nil {
		t.Fatal("TenantConsumer accepted an invalid tenant")
	}
}

func TestDeadLetter(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	p := b.store.NewPublisher(4)
	j := testJob("contoso.onmicrosoft.com", "imp1", 2, 1)
	if err := p.Publish(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := b.store.TenantConsumer(ctx, j.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Twice (a retried call): stored once.
	for range 2 {
		if err := b.store.DeadLetter(ctx, msg, "poison: bad json"); err != nil {
			t.Fatal(err)
		}
	}
	if err := msg.Term(); err != nil {
		t.Fatal(err)
	}
	n, err := b.store.DeadLetterCount(ctx)
	if err != nil || n != 1 {
		t.Fatalf("DeadLetterCount = %d, %v, want 1", n, err)
	}
	dead, err := b.store.dead.GetLastMsgForSubject(ctx, DeadSubjectPrefix+"contoso_onmicrosoft_com")
	if err != nil {
		t.Fatal(err)
	}
	if string(dead.Data) != string(msg.Data()) ||
		dead.Header.Get(DeadReasonHeader) != "poison: bad json" ||
		dead.Header.Get(DeadSubjectHeader) != "bulkassign.jobs.contoso_onmicrosoft_com" ||
		dead.Header.Get(DeadMsgIDHeader) != "imp1:"+j.Key ||
		dead.Header.Get(DeadSequenceHeader) != "1" {
		t.Fatalf("dead letter = %q %v", dead.Data, dead.Header)
	}
	if !strings.HasPrefix(dead.Header.Get(jetstream.MsgIDHeader), "dead:") {
		t.Fatalf("dead letter msg id %q", dead.Header.Get(jetstream.MsgIDHeader))
	}
	waitFor(t, "the terminated job to leave the work queue", func() bool {
		pending, err := b.store.PendingTenants(context.Background())
		return err == nil && len(pending) == 0
	})
}
