package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// check compares the consumer with the stream (jobs.CheckTenantConsumer).
// Damage found by two checks in a row (one can be a race with an
// acknowledgement) gets the consumer recreated; check returns the new
// consumer, or nil when it kept the old one.
func (r *runner) check(rc *runCtx, log *slog.Logger) consumer {
	t := r.t
	ctx, cancel := context.WithTimeout(rc.soft, 10*time.Second)
	err := r.w.store.CheckTenantConsumer(ctx, t.name)
	cancel()
	t.mu.Lock()
	if errors.Is(err, jobs.ErrConsumerDamaged) {
		t.suspect++
	} else {
		t.suspect = 0
	}
	suspect := t.suspect
	t.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case suspect < 2:
		if !errors.Is(err, jobs.ErrConsumerDamaged) && rc.soft.Err() == nil {
			r.w.logInfra("check tenant consumer "+t.name, err)
		}
		return nil
	}
	return r.repair(rc, log, err)
}

// repair recreates the tenant's consumer after cause showed its state
// damaged: the work-queue stream keeps every unacknowledged job, and the
// new consumer delivers them again. It repairs a tenant at most once per
// StallTimeout: a consumer damaged again so soon is not recreated in a
// loop but left failing, for the stall detection to report.
func (r *runner) repair(rc *runCtx, log *slog.Logger, cause error) consumer {
	t := r.t
	t.mu.Lock()
	allowed := t.repaired.IsZero() || time.Since(t.repaired) >= r.w.cfg.StallTimeout
	if allowed {
		t.repaired, t.suspect = time.Now(), 0
	}
	t.mu.Unlock()
	if !allowed {
		return nil
	}
	ctx, cancel := context.WithTimeout(rc.soft, 10*time.Second)
	defer cancel()
	c, movedTo, err := r.w.store.RecreateTenantConsumer(ctx, t.name)
	if err != nil {
		log.Error("tenant consumer state is damaged and recreating the consumer failed",
			slog.Any("damage", cause), slog.Any("error", err))
		return nil
	}
	attrs := []any{slog.Any("damage", cause)}
	if movedTo != "" {
		attrs = append(attrs, slog.String("damaged_files_moved_to", movedTo))
	}
	log.Warn("tenant consumer state was damaged: deleted the consumer and created it afresh; "+
		"the jobs stream kept every unacknowledged job and delivers each again (jobs already written are recognised, not written twice)", attrs...)
	return c
}
