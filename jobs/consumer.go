package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/nats-io/nats.go/jetstream"
)

// TenantConsumer creates or updates the durable consumer of a tenant's
// jobs ("jobs_<tenant token>") and returns it: explicit acks, AckWait and
// MaxAckPending from the Config, unlimited deliveries (a job's retries are
// bounded by the worker's per-job deadline, not a count) and no server
// back-off (the worker chooses each delay with NakWithDelay). Every worker
// process shares the durable, so each job goes to one of them at a time.
func (s *Store) TenantConsumer(ctx context.Context, tenant string) (jetstream.Consumer, error) {
	if err := graph.ValidateTenant(tenant); err != nil {
		return nil, fmt.Errorf("tenant consumer: %w", err)
	}
	name := consumerName(tenant)
	c, err := s.jobs.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "bulkassign jobs of tenant " + tenant,
		FilterSubject: TenantSubject(tenant),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: s.cfg.MaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		Replicas:      s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("tenant consumer %s: %w", name, err)
	}
	return c, nil
}

// DeleteTenantConsumer removes a tenant's durable consumer (when the tenant
// has no jobs left). A missing consumer is not an error.
func (s *Store) DeleteTenantConsumer(ctx context.Context, tenant string) error {
	if err := graph.ValidateTenant(tenant); err != nil {
		return fmt.Errorf("delete tenant consumer: %w", err)
	}
	err := s.jobs.DeleteConsumer(ctx, consumerName(tenant))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete tenant consumer %s: %w", consumerName(tenant), err)
	}
	return nil
}

// PendingTenants returns the tenants with jobs in the jobs stream and how
// many each has. On a work-queue stream that is every job not yet
// acknowledged: waiting, or delivered and in progress.
func (s *Store) PendingTenants(ctx context.Context) (map[string]uint64, error) {
	info, err := s.jobs.Info(ctx, jetstream.WithSubjectFilter(JobsSubjectPrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("pending tenants: %w", err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		if t, ok := TenantFromSubject(subj); ok && n > 0 {
			out[t] += n
		}
	}
	return out, nil
}
