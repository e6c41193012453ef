package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// recordCtx is the context of final writes: it survives Run's
// cancellation, bounded by recordTimeout.
func (h *handling) recordCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(h.rc.hard), recordTimeout)
}

// finish settles the message according to v: every job ends with exactly
// one result record (the results stream keeps the first per row).
func (h *handling) finish(v verdict) {
	w, job, msg := h.w, h.job, h.msg
	now := time.Now()
	if v.kind == vRetry && !retryFits(now, h.deadline, v.delay) {
		h.log.Warn("job deadline reached: failing it with its last error", slog.String("code", v.code))
		v.kind, v.status, v.outcome = vDone, jobs.StatusFailed, false
		v.message = fmt.Sprintf("job deadline %s reached after %d attempts; last error: %s", w.cfg.JobDeadline, h.attempts(), v.message)
		if v.code == "" {
			v.code = CodeDeadlineExceeded
		}
	}
	ctx, cancel := h.recordCtx()
	defer cancel()
	switch v.kind {
	case vDone:
		if v.outcome {
			o := jobs.Outcome{Status: v.status, AssignmentID: v.assignmentID, ImportID: job.ImportID, Row: job.Row, At: now}
			if err := w.store.PutOutcome(ctx, job.Key, o); err != nil {
				w.logInfra("put outcome", err)
				h.nak(handBackDelay, label.HandedBack)
				return
			}
		}
		r := jobs.ResultFor(job, v.status)
		r.AssignmentID, r.HTTPStatus, r.RequestID = v.assignmentID, v.httpStatus, v.requestID
		r.Attempts, r.At = h.attempts(), now
		if v.status == jobs.StatusFailed || v.status == jobs.StatusConflict {
			r.ErrorCode, r.ErrorMessage = v.code, v.message
		}
		if err := w.store.PutResult(ctx, r); err != nil {
			w.logInfra("put result", err)
			h.nak(handBackDelay, label.HandedBack)
			return
		}
		if err := msg.Ack(); err != nil {
			w.logInfra("ack", err)
		}
		w.m.RowFinished(job.Tenant, job.Kind, string(v.status))
		w.m.JobAttempt(h.t.name, v.label)
		w.m.ObserveJobDuration(h.t.name, time.Since(h.start))
	case vRetry:
		if err := h.putIntent(!h.inDoubt, &v); err != nil {
			w.logInfra("write intent", err)
		}
		h.log.Debug("job will be retried", slog.String("outcome", string(v.label)), slog.Duration("delay", v.delay),
			slog.Int("attempt", h.attempt), slog.String("error", v.message))
		h.nak(v.delay, v.label)
	case vHandBack:
		h.nak(v.delay, v.label)
	}
}

// nak hands the message back with a delay: never a plain Nak, which
// redelivers at once.
func (h *handling) nak(d time.Duration, outcome label.Outcome) {
	if err := h.msg.NakWithDelay(max(d, minBackoff)); err != nil {
		h.w.logInfra("nak", err)
	}
	h.w.m.JobAttempt(h.t.name, outcome)
}
