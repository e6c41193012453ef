package worker

import (
	"context"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/nats-io/nats.go/jetstream"
)

// Store is the part of *jobs.Store the worker uses.
type Store interface {
	TenantConsumer(ctx context.Context, tenant string) (jetstream.Consumer, error)
	CheckTenantConsumer(ctx context.Context, tenant string) error
	RecreateTenantConsumer(ctx context.Context, tenant string) (jetstream.Consumer, string, error)
	ProbeWrite(ctx context.Context) error
	PendingTenants(ctx context.Context) (map[string]uint64, error)
	Outcome(ctx context.Context, key string) (jobs.Outcome, bool, error)
	PutOutcome(ctx context.Context, key string, o jobs.Outcome) error
	Intent(ctx context.Context, key string) (jobs.Intent, bool, error)
	PutIntent(ctx context.Context, key string, in jobs.Intent) error
	DeleteIntent(ctx context.Context, key string) error
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (*jobs.Lease, error)
	AcquireWait(ctx context.Context, name, owner string, ttl, poll time.Duration) (*jobs.Lease, error)
	PutResult(ctx context.Context, r jobs.Result) error
	DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error
}
