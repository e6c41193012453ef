package worker

import (
	"errors"
	"log/slog"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// strategy is the write strategy for kind k: its default, or merge once a
// create of that kind was refused with "No method match route template".
func (w *Worker) strategy(k *graph.Kind) graph.Strategy {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mergeKinds[k.Name] {
		return graph.StrategyMerge
	}
	return k.Strategy
}

// switchToMerge records that creates of k are not routed; it logs once per
// kind.
func (w *Worker) switchToMerge(k *graph.Kind) {
	w.mu.Lock()
	first := !w.mergeKinds[k.Name]
	w.mergeKinds[k.Name] = true
	w.mu.Unlock()
	if first {
		w.log.Warn("create is not routed for this kind; switching it to merge (/assign)",
			slog.String("kind", k.Name), slog.Bool("can_merge", k.CanMerge()))
	}
}

// create is the create strategy: one POST per row, after looking at the
// policy's set (listed once per import; fresh when a write is in doubt).
func (h *handling) create() verdict {
	w, job, k := h.w, h.job, h.kind
	want := job.Assignment()
	var (
		have  graph.Assignment
		found bool
		err   error
		same  = jobs.StatusExisting
	)
	if h.inDoubt {
		have, found, err = h.reconcile()
		same = h.reconciledStatus()
	} else {
		have, found, err = h.r.policySet(job, k).find(h, want, h.otherSince)
	}
	if err != nil {
		return h.classify(err, false)
	}
	if v, ok := h.judge(have, found, same, 200); ok {
		return v
	}
	sl, err := h.t.admit(h.wait, h.deadline, k)
	if err != nil {
		return h.waitFailed(err)
	}
	if err := h.putIntent(false, nil); err != nil {
		return h.infra("write intent", err)
	}
	var created graph.Assignment
	err = w.graphCall(h.ctx, func() error {
		var err error
		created, err = w.graph.Create(h.ctx, job.Tenant, job.APIVersion, k, job.PolicyID, want)
		return err
	})
	sl.done(err)
	return h.createAnswered(want, created, err)
}

// createAnswered is the verdict on Graph's answer to the create of want:
// created only when Graph holds the target as asked; an answer that shows
// something else, or leaves the write in doubt, is checked by listing the
// policy.
func (h *handling) createAnswered(want, created graph.Assignment, err error) verdict {
	w, job, k := h.w, h.job, h.kind
	switch {
	case err == nil && created.Compare(want) == graph.MatchSame:
		h.r.policySet(job, k).add(created)
		return done(jobs.StatusCreated, created.ID, 201)
	case err == nil:
		// Graph answered with another assignment than the one asked for:
		// look at what it holds now.
		h.log.Info("create answered with another assignment: reconciling", slog.String("assignment_id", created.ID))
		have, found, lerr := h.reconcile()
		if lerr != nil {
			return h.classify(lerr, false)
		}
		if v, ok := h.judge(have, found, jobs.StatusCreated, 201); ok {
			return v
		}
		return h.retryLater(201, "create succeeded but Graph does not list the target")
	case h.ctx.Err() != nil:
		return handBack(handBackDelay, label.HandedBack) // the intent stays unsettled
	case errors.Is(err, graph.ErrAmbiguous):
		h.log.Info("ambiguous create: reconciling", slog.Any("error", err))
		have, found, lerr := h.reconcile()
		if lerr != nil {
			v := h.classify(lerr, false)
			if v.kind == vRetry {
				v.setError(err) // the write's error is the one to remember
			}
			return v
		}
		if v, ok := h.judge(have, found, jobs.StatusCreated, 200); ok {
			return v
		}
		return h.classify(err, true)
	case isConflict(err):
		// Graph says the target is assigned: not by this write. As asked
		// (existing), or with another filter or intent (conflict).
		h.inDoubt = false
		have, found, lerr := h.reconcile()
		if lerr != nil {
			return h.classify(lerr, false)
		}
		if v, ok := h.judge(have, found, jobs.StatusExisting, 200); ok {
			return v
		}
		return h.classify(err, true)
	case errors.Is(err, graph.ErrRouteNotSupported):
		h.inDoubt = false
		w.switchToMerge(k)
		if k.CanMerge() {
			return h.merge()
		}
		return failed(err, label.Failed)
	}
	return h.classify(err, true)
}

// isConflict reports a 409 answer to a create: the assignment exists.
func isConflict(err error) bool {
	var ge *graph.Error
	return errors.As(err, &ge) && ge.StatusCode == 409
}
