package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// remove is the removal of one assignment (a job whose action is remove),
// after the same lease, outcome and intent steps as an addition
// ([handling.process]): a DELETE of the one assignment where Graph routes
// it (create kinds), otherwise /assign with the policy's set without the
// target, batched with the policy's other removals under its lock (merge
// kinds, and create kinds whose DELETE Graph refused with a route error).
func (h *handling) remove() verdict {
	if time.Now().After(h.deadline) {
		// One last look when a write may have landed.
		if h.inDoubt {
			h.asked = true
			if set, err := h.relist(); err == nil {
				if _, v, ok := h.judgeRemoval(set, 200); ok {
					return v
				}
			}
		}
		return h.deadlineFailure()
	}
	h.asked = true
	if h.w.strategy(h.kind) == graph.StrategyMerge || h.w.removesByAssign(h.kind) {
		return h.merge()
	}
	return h.deleteOne()
}

// deleteOne removes the job's assignment with DELETE …/assignments/{id},
// the id found in the policy's set (listed once per import, or fresh when
// a write is in doubt).
func (h *handling) deleteOne() verdict {
	w, job, k := h.w, h.job, h.kind
	ps := h.r.policySet(job, k)
	var (
		set []graph.Assignment
		err error
	)
	if h.inDoubt {
		set, err = h.relist()
	} else {
		set, err = ps.snapshot(h)
	}
	if err != nil {
		return h.classify(err, false)
	}
	have, v, ok := h.judgeRemoval(set, 200)
	if ok {
		return v
	}
	sl, err := h.t.admit(h.wait, h.deadline, h.kind)
	if err != nil {
		return h.waitFailed(err)
	}
	if err := h.putIntent(false, nil); err != nil {
		return h.infra("write intent", err)
	}
	err = w.graphCall(h.ctx, func() error {
		return w.graph.Delete(h.ctx, job.Tenant, job.APIVersion, k, job.PolicyID, have.ID)
	})
	sl.done(err)
	switch {
	case err == nil:
		ps.drop(have.ID)
		return done(jobs.StatusRemoved, have.ID, 204)
	case h.ctx.Err() != nil:
		return handBack(handBackDelay, label.HandedBack) // the intent stays unsettled
	case errors.Is(err, graph.ErrAbsent):
		// Graph answered that it no longer holds it: removed since the
		// listing, not by this row.
		ps.drop(have.ID)
		return done(jobs.StatusAbsent, have.ID, 404)
	case errors.Is(err, graph.ErrAmbiguous):
		h.log.Info("ambiguous delete: reconciling", slog.Any("error", err))
		fresh, lerr := h.relist()
		if lerr != nil {
			v := h.classify(lerr, false)
			if v.kind == vRetry {
				v.setError(err) // the write's error is the one to remember
			}
			return v
		}
		if _, v, ok := h.judgeRemoval(fresh, 200); ok {
			return v
		}
		return h.classify(err, true)
	case errors.Is(err, graph.ErrRouteNotSupported):
		h.inDoubt = false
		w.switchRemovalsToAssign(k)
		if k.CanMerge() {
			return h.merge()
		}
		return failed(err, label.Failed)
	}
	return h.classify(err, true)
}

// judgeRemoval looks for the job's target in set (a listing in beta). ok
// is true with the final verdict when there is nothing to remove: absent
// (removed when this row's own earlier write is what removed it), or
// conflict when Graph holds the target with another filter or intent, or
// only through a policy set. Otherwise have is the assignment to remove,
// whose id the write's intent records. A removal this row's write made
// reports the id its intent recorded.
func (h *handling) judgeRemoval(set []graph.Assignment, httpStatus int) (have graph.Assignment, v verdict, ok bool) {
	want := h.job.Assignment()
	have, found := findDirect(set, want)
	switch {
	case found && have.Compare(want) == graph.MatchSame:
		h.removing = have.ID
		return have, verdict{}, false
	case found:
		return graph.Assignment{}, conflict(have.ID, httpStatus, graph.ConflictMessage(have, want)), true
	}
	for _, a := range set {
		if isPolicySet(a) && a.SameTarget(want) {
			return graph.Assignment{}, conflict(a.ID, httpStatus, inheritedMessage(a)), true
		}
	}
	if h.inDoubt && h.intent.ImportID == h.job.ImportID && h.intent.Row == h.job.Row {
		return graph.Assignment{}, done(jobs.StatusRemoved, h.intent.AssignmentID, httpStatus), true // this row's write landed
	}
	return graph.Assignment{}, done(jobs.StatusAbsent, "", httpStatus), true
}

// conflict is the verdict of a row that cannot be done as asked: nothing
// is changed and message says what Graph holds.
func conflict(assignmentID string, httpStatus int, message string) verdict {
	return verdict{kind: vDone, status: jobs.StatusConflict, assignmentID: assignmentID, httpStatus: httpStatus,
		message: message, label: label.Conflict}
}

// inheritedMessage says that assignment a comes from a policy set, which is
// where it must be removed.
func inheritedMessage(a graph.Assignment) string {
	var src struct {
		SourceID string `json:"sourceId"`
	}
	set := "a policy set"
	if json.Unmarshal(a.Raw, &src) == nil && src.SourceID != "" {
		set = "policy set " + src.SourceID
	}
	return "assignment " + a.ID + " is inherited from " + set + "; remove it from the policy set"
}

// snapshot returns a copy of the policy's set, listing the policy first if
// this import has not yet.
func (ps *policySet) snapshot(h *handling) ([]graph.Assignment, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.loaded {
		set, err := h.list()
		if err != nil {
			return nil, err
		}
		ps.set, ps.loaded = set, true
	}
	return slices.Clone(ps.set), nil
}

// drop forgets the assignment with id, which we removed (or found gone).
// It builds a new slice: listings handed out earlier (relist stores the
// slice it returns) share the old one and are read without the lock.
func (ps *policySet) drop(id string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.set = slices.DeleteFunc(slices.Clone(ps.set), func(a graph.Assignment) bool { return strings.EqualFold(a.ID, id) })
}

// removeAll is the merge write of a batch of removals, under the policy
// lock run holds: list the set fresh in beta; report the rows with nothing
// to remove (absent) or that cannot be removed (conflict); send the set
// without the other rows' targets with /assign in beta, every remaining
// direct assignment exactly as Graph listed it and inherited ones left out
// (Graph keeps them); and report a row removed only when Graph's answer (or
// a re-read) no longer holds its target. After an ambiguous answer it lists
// again and reconciles every row of the batch.
func (m *mergeRun) removeAll(ctx context.Context) {
	h := m.h
	cur, err := m.list(ctx)
	if err != nil {
		m.deliverRest(h.classify(err, false))
		return
	}
	removing := make(map[*mergeItem]graph.Assignment, len(m.items))
	pending := m.undecided(func(it *mergeItem) (verdict, bool) {
		have, v, ok := it.h.judgeRemoval(cur, 200)
		if !ok {
			removing[it] = have
		}
		return v, ok
	})
	if len(pending) == 0 {
		return
	}
	set := make([]graph.Assignment, 0, len(cur))
	for _, a := range cur {
		if !isPolicySet(a) && !slices.ContainsFunc(pending, func(it *mergeItem) bool { return a.SameTarget(removing[it]) }) {
			set = append(set, a)
		}
	}
	m.assign(ctx, set, pending, pending, func(it *mergeItem, res []graph.Assignment, status int) verdict {
		if _, still := findDirect(res, it.h.job.Assignment()); still {
			return it.h.retryLater(status, "assign succeeded but Graph's set still holds the target")
		}
		it.h.r.policySet(it.h.job, h.kind).drop(removing[it].ID)
		return done(jobs.StatusRemoved, removing[it].ID, status)
	}, func(it *mergeItem, fresh []graph.Assignment) (verdict, bool) {
		_, v, ok := it.h.judgeRemoval(fresh, 200)
		return v, ok
	})
}

// removesByAssign reports whether removals of kind k go through /assign
// for this worker because Graph refused a DELETE of that kind with a
// route error.
func (w *Worker) removesByAssign(k *graph.Kind) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rmByAssign[k.Name]
}

// switchRemovalsToAssign records that DELETE is not routed for kind k; it
// logs once per kind.
func (w *Worker) switchRemovalsToAssign(k *graph.Kind) {
	w.mu.Lock()
	first := !w.rmByAssign[k.Name]
	w.rmByAssign[k.Name] = true
	w.mu.Unlock()
	if first {
		w.log.Warn("DELETE of an assignment is not routed for this kind; removing through /assign",
			slog.String("kind", k.Name), slog.Bool("can_merge", k.CanMerge()))
	}
}
