package worker

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// The roles the worker needs from its job store, declared here in the
// worker's own terms and without NATS types. jetstream.go provides them
// over a *jobs.Store (NATS JetStream); observed.go records every call in
// the store's health.

// store is the job store as the worker uses it: every role together.
type store interface {
	jobSource
	ledger
	locker
	resultSink
	deadLetterSink
	prober
}

// jobSource delivers the jobs: one durable consumer per tenant, shared by
// every worker process.
type jobSource interface {
	// PendingTenants returns the tenants with jobs not yet acknowledged
	// (waiting or in progress) and how many each has.
	PendingTenants(ctx context.Context) (map[string]uint64, error)
	// TenantConsumer opens the consumer of a tenant's jobs. Its error
	// wraps jobs.ErrConsumerDamaged when the consumer's state cannot be
	// loaded.
	TenantConsumer(ctx context.Context, tenant string) (consumer, error)
	// CheckTenantConsumer compares the tenant's consumer with the queue;
	// its error wraps jobs.ErrConsumerDamaged when the consumer accounts
	// for fewer jobs than the queue holds.
	CheckTenantConsumer(ctx context.Context, tenant string) error
	// RecreateTenantConsumer deletes the tenant's consumer and creates it
	// afresh (the queue keeps every unacknowledged job). movedTo names
	// where damaged state files were moved, if any.
	RecreateTenantConsumer(ctx context.Context, tenant string) (c consumer, movedTo string, err error)
}

// consumer is one tenant's queue of jobs.
// errConsumerGone is wrapped by the errors of a fetch from a consumer the
// server no longer has: the runner opens it again.
var errConsumerGone = errors.New("the tenant's consumer is gone from the server")

type consumer interface {
	// Fetch asks for up to n messages and returns at once; the messages
	// arrive through the fetch within maxWait, and the fetch ends early
	// when ctx is done (a stop does not wait out maxWait). Messages the
	// server sent to a fetch that ended early are delivered again after
	// AckWait, as after a crash.
	Fetch(ctx context.Context, n int, maxWait time.Duration) (fetch, error)
	// AckWait is how long a delivered message stays this worker's without
	// an Ack, a NakWithDelay or an InProgress.
	AckWait() time.Duration
}

// fetch is one pull of messages.
type fetch interface {
	// Messages yields the messages as they arrive, until the fetch ends.
	Messages() iter.Seq[message]
	// Err is why the fetch ended early, read after Messages: nil when it
	// ended because it had its messages or maxWait passed.
	Err() error
}

// message is one delivery of a job. The worker settles it exactly once:
// Ack (done, never again), NakWithDelay (again after the delay) or
// TermWithReason (never again); InProgress, sent while the job is worked
// on, keeps the delivery from expiring.
type message interface {
	Data() []byte
	Subject() string
	Metadata() (metadata, error)
	Ack() error
	NakWithDelay(delay time.Duration) error
	InProgress() error
	TermWithReason(reason string) error
}

// metadata is what the queue says of one delivery.
type metadata struct {
	// NumDelivered counts the deliveries of the message, this one
	// included.
	NumDelivered uint64
	// Timestamp is when the message entered the queue.
	Timestamp time.Time
}

// ledger keeps, per assignment key, the outcome recorded by the row that
// wrote it and the intent of a write that may be in flight.
type ledger interface {
	Outcome(ctx context.Context, key string) (jobs.Outcome, bool, error)
	PutOutcome(ctx context.Context, key string, o jobs.Outcome) error
	Intent(ctx context.Context, key string) (jobs.Intent, bool, error)
	PutIntent(ctx context.Context, key string, in jobs.Intent) error
}

// locker gives out expiring, exclusive leases on names (an assignment key,
// a policy's merge), shared by every worker process. Acquire fails with an
// error matching jobs.ErrHeld while another owner holds the name;
// AcquireWait waits for it instead.
type locker interface {
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (*jobs.Lease, error)
	AcquireWait(ctx context.Context, name, owner string, ttl, poll time.Duration) (*jobs.Lease, error)
}

// resultSink records a row's final result (the first per row counts).
type resultSink interface {
	PutResult(ctx context.Context, r jobs.Result) error
}

// deadLetterSink keeps a copy of a message that is not a valid job, with
// the reason; the caller terminates the message afterwards.
type deadLetterSink interface {
	DeadLetter(ctx context.Context, msg message, reason string) error
}

// prober makes one small write that tells whether the store takes writes.
type prober interface {
	ProbeWrite(ctx context.Context) error
}
