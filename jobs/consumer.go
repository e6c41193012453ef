package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrConsumerDamaged is wrapped by [Store.TenantConsumer] when the server
// can neither load nor create a tenant's durable consumer (its stored state
// is unreadable, or the server cannot write a new one), and by
// [Store.CheckTenantConsumer] when the consumer's state contradicts the
// stream (it counts as acknowledged jobs the work queue still holds, so it
// never delivers them). [Store.RecreateTenantConsumer] repairs both.
var ErrConsumerDamaged = errors.New("tenant consumer state is damaged")

// damagedDir is the folder of LocalStoreDir where RecreateTenantConsumer
// moves consumer files the server could not load.
const damagedDir = "damaged"

// TenantConsumer creates or updates the durable consumer of a tenant's
// jobs ("jobs_<tenant token>") and returns it: explicit acks, AckWait and
// MaxAckPending from the Config, unlimited deliveries (a job's retries are
// bounded by the worker's per-job deadline, not a count), no server
// back-off (the worker chooses each delay with NakWithDelay) and its state
// kept as Config.ConsumerStorage says; a consumer created earlier with the
// other storage keeps it (the server cannot change it, and deleting a
// consumer other workers share would hand their jobs out again). Every
// worker process shares the durable, so each job goes to one of them at a
// time.
func (s *Store) TenantConsumer(ctx context.Context, tenant string) (jetstream.Consumer, error) {
	if err := graph.ValidateTenant(tenant); err != nil {
		return nil, fmt.Errorf("tenant consumer: %w", err)
	}
	name := consumerName(tenant)
	cfg := jetstream.ConsumerConfig{
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
		MemoryStorage: s.cfg.ConsumerStorage == ConsumerMemory,
	}
	c, err := s.jobs.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil && isAPIError(err, jetstream.JSErrCodeConsumerCreate) {
		if cur, cerr := s.jobs.Consumer(ctx, name); cerr == nil && cur.CachedInfo().Config.MemoryStorage != cfg.MemoryStorage {
			cfg.MemoryStorage = !cfg.MemoryStorage
			c, err = s.jobs.CreateOrUpdateConsumer(ctx, cfg)
		}
	}
	if err != nil {
		if isAPIError(err, jetstream.JSErrCodeConsumerCreate) && !s.consumerKnown(ctx, name) {
			return nil, fmt.Errorf("tenant consumer %s: %w: the server can neither load nor create it (%w); %s",
				name, ErrConsumerDamaged, err, removeHint(name))
		}
		return nil, fmt.Errorf("tenant consumer %s: %w", name, err)
	}
	return c, nil
}

// consumerKnown reports whether the server has the durable loaded; false
// only when it answers that it does not.
func (s *Store) consumerKnown(ctx context.Context, name string) bool {
	_, err := s.jobs.Consumer(ctx, name)
	return !errors.Is(err, jetstream.ErrConsumerNotFound)
}

// isAPIError reports whether err is a JetStream API error with code.
func isAPIError(err error, code jetstream.ErrorCode) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}

// CheckTenantConsumer compares a tenant's durable consumer with the jobs
// stream. On a work-queue stream every job the stream holds for the tenant
// is either waiting for delivery (the consumer's pending count) or
// delivered and not yet acknowledged (its ack-pending count); a consumer
// that accounts for fewer has a damaged state that will never deliver the
// rest, and the error wraps [ErrConsumerDamaged]. A job acknowledged
// between the two reads can make one check report damage that is not
// there: act only on a result that repeats.
func (s *Store) CheckTenantConsumer(ctx context.Context, tenant string) error {
	if err := graph.ValidateTenant(tenant); err != nil {
		return fmt.Errorf("check tenant consumer: %w", err)
	}
	subj, name := TenantSubject(tenant), consumerName(tenant)
	// The stream first: a job published after this read only raises the
	// consumer's counts.
	info, err := s.jobs.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return fmt.Errorf("check tenant consumer %s: %w", name, err)
	}
	held := info.State.Subjects[subj]
	c, err := s.jobs.Consumer(ctx, name)
	if err != nil {
		return fmt.Errorf("check tenant consumer %s: %w", name, err)
	}
	ci := c.CachedInfo()
	if known := ci.NumPending + uint64(max(ci.NumAckPending, 0)); known < held {
		return fmt.Errorf("check tenant consumer %s: %w: it accounts for %d of the %d jobs the stream holds for the tenant (delivered up to stream sequence %d, acknowledged up to %d)",
			name, ErrConsumerDamaged, known, held, ci.Delivered.Stream, ci.AckFloor.Stream)
	}
	return nil
}

// RecreateTenantConsumer deletes a tenant's durable consumer and creates
// it afresh. Nothing is lost: the work-queue stream keeps every job not
// yet acknowledged, and the new consumer delivers each of them again (a
// job already written is recognised by its outcome). Jobs held by workers
// at that moment are delivered again too, and their acknowledgements are
// ignored.
//
// When the server has not loaded the consumer (it could not read its
// state) there is nothing to delete through the API: if Config.LocalStoreDir
// holds the server's files, the consumer's folder is moved to
// LocalStoreDir/damaged/ and movedTo names where; otherwise the error says
// which folder to remove on the server.
func (s *Store) RecreateTenantConsumer(ctx context.Context, tenant string) (c jetstream.Consumer, movedTo string, err error) {
	if err := graph.ValidateTenant(tenant); err != nil {
		return nil, "", fmt.Errorf("recreate tenant consumer: %w", err)
	}
	name := consumerName(tenant)
	err = s.jobs.DeleteConsumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if movedTo, err = s.moveConsumerFiles(name); err != nil {
			return nil, "", fmt.Errorf("recreate tenant consumer %s: %w", name, err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("recreate tenant consumer %s: delete: %w", name, err)
	}
	c, err = s.TenantConsumer(ctx, tenant)
	if err != nil {
		return nil, movedTo, fmt.Errorf("recreate tenant consumer: %w", err)
	}
	s.log.WarnContext(ctx, "tenant consumer recreated", slog.String("consumer", name), slog.String("moved_to", movedTo))
	return c, movedTo, nil
}

// removeHint tells an operator how to repair a consumer the server cannot
// load when bulkassign cannot reach its files.
func removeHint(name string) string {
	return fmt.Sprintf("if its state file is damaged, move the folder jetstream/<account>/streams/%s/obs/%s out of the NATS server's store directory (the server has not loaded it; no job is lost: the stream keeps them)", JobsStream, name)
}

// moveConsumerFiles moves the folder of a consumer the server did not load
// out of the server's store, so that it can be created again. It returns
// "" when there is no such folder (nothing to move).
func (s *Store) moveConsumerFiles(name string) (string, error) {
	if s.cfg.LocalStoreDir == "" {
		return "", fmt.Errorf("%w: the server did not load it and its files are not on this machine; %s", ErrConsumerDamaged, removeHint(name))
	}
	matches, err := filepath.Glob(filepath.Join(s.cfg.LocalStoreDir, "jetstream", "*", "streams", JobsStream, "obs", name))
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("%w: %d folders named %s under %s (several accounts?): remove the damaged one by hand", ErrConsumerDamaged, len(matches), name, s.cfg.LocalStoreDir)
	}
	dst := filepath.Join(s.cfg.LocalStoreDir, damagedDir, JobsStream+"."+name+"."+time.Now().UTC().Format("20060102T150405.000000000"))
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", fmt.Errorf("move damaged consumer files: %w", err)
	}
	if err := os.Rename(matches[0], dst); err != nil {
		return "", fmt.Errorf("move damaged consumer files: %w", err)
	}
	return dst, nil
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
