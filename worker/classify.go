package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// classify maps a failed Graph call (or wait) to a verdict, with its side
// effects on the tenant: a 429 closes the gate and cuts the rate, a 401 or
// 403 trips the breaker. wrote tells whether err answers a write of this
// job's key: a definite answer then settles the intent (nothing applied).
func (h *handling) classify(err error, wrote bool) verdict {
	if v, ok := h.waitVerdict(err); ok {
		return v
	}
	if h.ctx.Err() != nil {
		return handBack(handBackDelay, label.HandedBack)
	}
	var ge *graph.Error
	isGraph := errors.As(err, &ge)
	if wrote && isGraph && !errors.Is(err, graph.ErrAmbiguous) {
		h.inDoubt = false // Graph answered, or the request never left: nothing applied
	}
	switch {
	case errors.Is(err, graph.ErrThrottled) && isGraph:
		v := verdict{kind: vRetry, delay: h.t.throttled(h.kind, ge), label: label.Throttled}
		v.setError(err)
		return v
	case errors.Is(err, graph.ErrUnauthorized), errors.Is(err, graph.ErrForbidden):
		bl, tripped := h.t.brk.trip(h.kind, err, time.Now())
		if tripped {
			h.w.m.SetTenantBlocked(h.t.name, true)
			h.log.Error("tenant blocked: failing its rows fast", slog.String("code", bl.code),
				slog.String("permission", h.kind.Permission), slog.Duration("for", breakerCooldown), slog.Any("error", err))
		}
		return h.blockedVerdict(bl)
	case errors.Is(err, graph.ErrTransient):
		delay := backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64())
		if isGraph && ge.HasRetryAfter {
			delay = max(delay, ge.RetryAfter)
		}
		outcome := label.Transient
		if errors.Is(err, graph.ErrAmbiguous) {
			outcome = label.Ambiguous
		}
		v := verdict{kind: vRetry, delay: delay, label: outcome}
		v.setError(err)
		return v
	case isGraph:
		return failed(err, label.Failed)
	}
	// Not a Graph error: unexpected; retry later.
	v := verdict{kind: vRetry, delay: backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64()), label: label.Error}
	v.setError(err)
	return v
}

// waitVerdict handles the errors of the worker's own waits.
func (h *handling) waitVerdict(err error) (verdict, bool) {
	switch {
	case errors.Is(err, errDeadline):
		return h.deadlineFailure(), true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if h.wait.Err() != nil {
			return handBack(handBackDelay, label.HandedBack), true
		}
	}
	return verdict{}, false
}

// waitFailed is the verdict when admit failed.
func (h *handling) waitFailed(err error) verdict {
	if v, ok := h.waitVerdict(err); ok {
		return v
	}
	return handBack(handBackDelay, label.HandedBack)
}

// infra is the verdict for a NATS failure: hand the job back (it is not an
// attempt: Graph was not asked).
func (h *handling) infra(what string, err error) verdict {
	if h.ctx.Err() == nil {
		h.w.logInfra(what, err)
	}
	return handBack(backoff(h.delivered, handBackDelay, 30*time.Second, rand.Float64()), label.HandedBack)
}

// blockedVerdict fails the row because its tenant is blocked.
func (h *handling) blockedVerdict(bl block) verdict {
	return verdict{kind: vDone, status: jobs.StatusFailed, httpStatus: bl.status, code: bl.code,
		message: bl.message, requestID: bl.reqID, label: label.Blocked}
}

// deadlineFailure fails the job at its deadline with the last error
// recorded for it.
func (h *handling) deadlineFailure() verdict {
	in := h.intent
	v := verdict{kind: vDone, status: jobs.StatusFailed, label: label.Deadline,
		httpStatus: in.LastHTTPStatus, code: in.LastCode, requestID: in.LastRequestID}
	v.code = strings.TrimSpace(v.code)
	if v.code == "" {
		v.code = CodeDeadlineExceeded
	}
	v.message = fmt.Sprintf("job deadline %s passed after %d attempts", h.w.cfg.JobDeadline, h.attempts())
	if in.LastMessage != "" {
		v.message += "; last error: " + in.LastMessage
	}
	return v
}
