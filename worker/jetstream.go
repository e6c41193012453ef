package worker

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/jobs"
)

// jobStore adapts a *jobs.Store, the job store on NATS JetStream, to the
// worker's store roles (store.go); it is the only file of the worker that
// knows NATS. The ledger, locker, result and probe roles are the
// *jobs.Store's own methods; the job source and the dead letters wrap
// JetStream's consumers and messages.
type jobStore struct{ *jobs.Store }

// TenantConsumer opens the tenant's durable consumer.
func (s jobStore) TenantConsumer(ctx context.Context, tenant string) (consumer, error) {
	c, err := s.Store.TenantConsumer(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return natsConsumer{c}, nil
}

// RecreateTenantConsumer deletes the tenant's durable consumer and creates
// it afresh.
func (s jobStore) RecreateTenantConsumer(ctx context.Context, tenant string) (consumer, string, error) {
	c, movedTo, err := s.Store.RecreateTenantConsumer(ctx, tenant)
	if err != nil {
		return nil, movedTo, err
	}
	return natsConsumer{c}, movedTo, nil
}

// DeadLetter copies msg to the dead-letter stream.
func (s jobStore) DeadLetter(ctx context.Context, msg message, reason string) error {
	m, ok := msg.(natsMessage)
	if !ok {
		return errors.New("dead letter: the message did not come from the job store")
	}
	return s.Store.DeadLetter(ctx, m.Msg, reason)
}

// natsConsumer is a tenant's JetStream pull consumer.
type natsConsumer struct{ c jetstream.Consumer }

// Fetch pulls up to n messages, waiting at most maxWait or until ctx is
// done.
func (c natsConsumer) Fetch(ctx context.Context, n int, maxWait time.Duration) (fetch, error) {
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	b, err := c.c.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		cancel()
		return nil, gone(err)
	}
	return natsFetch{b: b, cancel: cancel}, nil
}

// gone marks the errors of a pull from a consumer the server no longer
// has (a memory-stored consumer after a server restart, or one deleted)
// with errConsumerGone.
func gone(err error) error {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%w: %w", errConsumerGone, err)
	}
	return err
}

// AckWait is the consumer's AckWait (30 s if unknown).
func (c natsConsumer) AckWait() time.Duration {
	if info := c.c.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		return info.Config.AckWait
	}
	return 30 * time.Second
}

// natsFetch is one JetStream pull; cancel ends its context.
type natsFetch struct {
	b      jetstream.MessageBatch
	cancel context.CancelFunc
}

// Messages yields the pulled messages as they arrive.
func (f natsFetch) Messages() iter.Seq[message] {
	return func(yield func(message) bool) {
		defer f.cancel()
		for m := range f.b.Messages() {
			if !yield(natsMessage{m}) {
				return
			}
		}
	}
}

// Err is the pull's error, nil when it ended without messages, at its
// wait or because its context ended (the worker stops): an idle queue is
// not a failure.
func (f natsFetch) Err() error {
	err := f.b.Error()
	if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return nil
	}
	return gone(err)
}

// natsMessage is one JetStream delivery of a job.
type natsMessage struct{ jetstream.Msg }

// Metadata is the delivery count and publish time JetStream gives.
func (m natsMessage) Metadata() (metadata, error) {
	md, err := m.Msg.Metadata()
	if err != nil {
		return metadata{}, err
	}
	return metadata{NumDelivered: md.NumDelivered, Timestamp: md.Timestamp}, nil
}
