package worker

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// reconcile lists the policy fresh (not from the cache) and looks for the
// job's target among its direct assignments.
func (h *handling) reconcile() (graph.Assignment, bool, error) {
	set, err := h.relist()
	if err != nil {
		return graph.Assignment{}, false, err
	}
	a, found := findDirect(set, h.job.Assignment())
	return a, found, nil
}

// judge is the verdict when Graph holds the job's target (found): status
// same when it holds it as the row asks, with its filter and intent, and
// conflict when it holds it with another filter or intent. ok is false
// when Graph does not hold the target.
func (h *handling) judge(have graph.Assignment, found bool, same jobs.Status, httpStatus int) (verdict, bool) {
	if !found {
		return verdict{}, false
	}
	want := h.job.Assignment()
	if have.Compare(want) == graph.MatchSame {
		return done(same, have.ID, httpStatus), true
	}
	return verdict{kind: vDone, status: jobs.StatusConflict, assignmentID: have.ID, httpStatus: httpStatus,
		message: graph.ConflictMessage(have, want), label: label.Conflict}, true
}

// retryLater is a failed attempt after a write Graph accepted whose
// result it does not show: the intent stays unsettled, so the next
// delivery looks in Graph before writing again.
func (h *handling) retryLater(httpStatus int, message string) verdict {
	return verdict{kind: vRetry, label: label.Transient, httpStatus: httpStatus, message: message,
		delay: backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64())}
}

// reconciledStatus is the status of a row whose target a reconcile found:
// created when the unsettled intent was this row's (its write landed),
// existing otherwise.
func (h *handling) reconciledStatus() jobs.Status {
	if h.inDoubt && h.intent.ImportID == h.job.ImportID && h.intent.Row == h.job.Row {
		return jobs.StatusCreated
	}
	return jobs.StatusExisting
}

// list reads the policy's assignments fresh, after the tenant's gate, in
// beta whatever the row's version: only beta shows filters and policy-set
// sources (every kind exists in beta).
func (h *handling) list() ([]graph.Assignment, error) {
	if err := h.t.gate(h.wait, h.deadline, h.kind); err != nil {
		return nil, err
	}
	var set []graph.Assignment
	err := h.w.graphCall(h.ctx, func() error {
		var err error
		set, err = h.w.graph.List(h.ctx, h.job.Tenant, graph.Beta, h.kind, h.job.PolicyID)
		return err
	})
	return set, err
}

// isPolicySet reports an assignment inherited from a policy set: Graph
// lists it, but it is not the policy's own and must not be re-sent.
func isPolicySet(a graph.Assignment) bool {
	return strings.EqualFold(a.Source, "policySets")
}

// findDirect finds a's target among set's direct assignments, whatever
// its filter and intent (see [graph.Assignment.Compare]).
func findDirect(set []graph.Assignment, a graph.Assignment) (graph.Assignment, bool) {
	for _, s := range set {
		if !isPolicySet(s) && s.SameTarget(a) {
			return s, true
		}
	}
	return graph.Assignment{}, false
}

// relist lists the policy fresh (not from the cache) and stores the
// listing in the import's cache.
func (h *handling) relist() ([]graph.Assignment, error) {
	asked := time.Now()
	set, err := h.list()
	if err != nil {
		return nil, err
	}
	h.r.policySet(h.job, h.kind).replace(set, asked)
	return set, nil
}
