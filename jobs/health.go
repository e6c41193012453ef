package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream error codes this package names that nats.go does not.
const (
	errCodeInsufficientResources jetstream.ErrorCode = 10023
	errCodeStorageResources      jetstream.ErrorCode = 10047 // account storage limit
)

// Explain says in plain words what a failing store operation's error
// means for an operator, or "" when it has no more to say than the error
// itself.
func Explain(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrConsumerDamaged):
		return "the state of a tenant's consumer in the NATS server is damaged"
	case isAPIError(err, errCodeInsufficientResources), isAPIError(err, errCodeStorageResources):
		return "JetStream's storage is full (the disk, or the storage limit of the server or account)"
	case isAPIError(err, jetstream.JSErrCodeJetStreamNotEnabled), isAPIError(err, jetstream.JSErrCodeJetStreamNotEnabledForAccount),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return "JetStream is disabled on the NATS server (a server disables it after a failed disk write)"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrNoHeartbeat):
		return "the NATS server does not answer (stopped, unreachable, or unable to write to its disk)"
	}
	return ""
}

// probeKey is the key ProbeWrite writes in the leases bucket: '.' never
// occurs in a lease's key (base64url), so it cannot collide with a lease.
const probeKey = "probe.write"

// ProbeWrite makes one small write (a timestamp, on one key of the leases
// bucket that every worker shares, so it never accumulates) and reports
// whether the store took it. Workers call it while their writes fail, to
// tell a store that still refuses writes from one that recovered.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if _, err := s.leases.Put(ctx, probeKey, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	return nil
}
