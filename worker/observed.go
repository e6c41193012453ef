package worker

import (
	"context"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// observed wraps the store so that every call is recorded in h.
type observed struct {
	store
	h *health
}

// do runs fn, a request of kind c, and records its outcome.
func (h *health) do(c call, fn func() error) error {
	start := time.Now()
	err := fn()
	h.record(c, start, err)
	return err
}

// TenantConsumer records opening the tenant's consumer.
func (s observed) TenantConsumer(ctx context.Context, tenant string) (c consumer, err error) {
	err = s.h.do(call{label.OpConsumer, streakConsumer, tenant}, func() error {
		c, err = s.store.TenantConsumer(ctx, tenant)
		return err
	})
	return c, err
}

// CheckTenantConsumer records checking the tenant's consumer.
func (s observed) CheckTenantConsumer(ctx context.Context, tenant string) error {
	return s.h.do(call{label.OpConsumerCheck, streakConsumerCheck, tenant}, func() error {
		return s.store.CheckTenantConsumer(ctx, tenant)
	})
}

// RecreateTenantConsumer records opening the tenant's consumer.
func (s observed) RecreateTenantConsumer(ctx context.Context, tenant string) (c consumer, movedTo string, err error) {
	err = s.h.do(call{label.OpConsumer, streakConsumer, tenant}, func() error {
		c, movedTo, err = s.store.RecreateTenantConsumer(ctx, tenant)
		return err
	})
	return c, movedTo, err
}

// PendingTenants records finding the tenants with jobs.
func (s observed) PendingTenants(ctx context.Context) (p map[string]uint64, err error) {
	err = s.h.do(call{label.OpDiscover, streakDiscover, ""}, func() error {
		p, err = s.store.PendingTenants(ctx)
		return err
	})
	return p, err
}

// Outcome records a read.
func (s observed) Outcome(ctx context.Context, key string) (o jobs.Outcome, ok bool, err error) {
	err = s.h.do(call{label.OpOutcome, streakRead, ""}, func() error {
		o, ok, err = s.store.Outcome(ctx, key)
		return err
	})
	return o, ok, err
}

// PutOutcome records a write.
func (s observed) PutOutcome(ctx context.Context, key string, o jobs.Outcome) error {
	return s.h.do(call{label.OpOutcome, streakWrite, ""}, func() error { return s.store.PutOutcome(ctx, key, o) })
}

// Intent records a read.
func (s observed) Intent(ctx context.Context, key string) (in jobs.Intent, ok bool, err error) {
	err = s.h.do(call{label.OpIntent, streakRead, ""}, func() error {
		in, ok, err = s.store.Intent(ctx, key)
		return err
	})
	return in, ok, err
}

// PutIntent records a write.
func (s observed) PutIntent(ctx context.Context, key string, in jobs.Intent) error {
	return s.h.do(call{label.OpIntent, streakWrite, ""}, func() error { return s.store.PutIntent(ctx, key, in) })
}

// Acquire records a write.
func (s observed) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (l *jobs.Lease, err error) {
	err = s.h.do(call{label.OpLease, streakWrite, ""}, func() error {
		l, err = s.store.Acquire(ctx, name, owner, ttl)
		return err
	})
	return l, err
}

// AcquireWait records a write, except when the wait itself ended (its
// context): waiting long for a busy policy is not a store failure.
func (s observed) AcquireWait(ctx context.Context, name, owner string, ttl, poll time.Duration) (*jobs.Lease, error) {
	l, err := s.store.AcquireWait(ctx, name, owner, ttl, poll)
	if err == nil || ctx.Err() == nil {
		// Not since the call: it may have waited long for a busy lock.
		s.h.record(call{label.OpLease, streakWrite, ""}, time.Now(), err)
	}
	return l, err
}

// PutResult records a write.
func (s observed) PutResult(ctx context.Context, r jobs.Result) error {
	return s.h.do(call{label.OpResult, streakWrite, ""}, func() error { return s.store.PutResult(ctx, r) })
}

// ProbeWrite records a write.
func (s observed) ProbeWrite(ctx context.Context) error {
	return s.h.do(call{label.OpProbe, streakWrite, ""}, func() error { return s.store.ProbeWrite(ctx) })
}

// DeadLetter records a write.
func (s observed) DeadLetter(ctx context.Context, msg message, reason string) error {
	return s.h.do(call{label.OpDeadLetter, streakWrite, ""}, func() error { return s.store.DeadLetter(ctx, msg, reason) })
}
