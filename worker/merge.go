package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// merge is the merge strategy: join (or open) the policy's batch and wait
// for its verdict. The job keeps its key lease and its message alive while
// it waits.
func (h *handling) merge() verdict {
	if !h.kind.CanMerge() {
		return failed(fmt.Errorf("kind %s has no /assign action taking assignments", h.kind.Name), label.Failed)
	}
	it := &mergeItem{h: h, res: make(chan verdict, 1)}
	b, leader := h.r.join(it)
	if leader {
		h.r.lead(b, h)
	}
	return <-it.res
}

// policyLockName is the name of a policy's merge lock, shared by every
// worker on the same NATS: one merge at a time per policy.
func policyLockName(tenant string, k *graph.Kind, policyID string) string {
	pid, err := graph.NormalizePolicyID(policyID)
	if err != nil {
		pid = strings.ToLower(policyID)
	}
	return "policy/" + strings.ToLower(tenant) + "/" + k.Name + "/" + pid
}

// mergeRun is one merge write: the leader's handling and the batch.
type mergeRun struct {
	h     *handling
	items []*mergeItem
	sent  map[*mergeItem]bool
}

func (m *mergeRun) deliver(it *mergeItem, v verdict) {
	if m.sent[it] {
		return
	}
	m.sent[it] = true
	it.res <- v
}

func (m *mergeRun) deliverRest(v verdict) {
	for _, it := range m.items {
		m.deliver(it, v)
	}
}

// run merges under the policy lock: read the current set in beta, find the
// rows already there (as asked, or in conflict), add the others, leave
// inherited policy-set entries out, send the full set with /assign in beta
// (existing entries exactly as Graph listed them), and check every row
// against Graph's answer (or a re-read): created only when Graph holds the
// target with the row's filter and intent. After an ambiguous answer the
// whole batch is reconciled.
func (m *mergeRun) run() {
	h := m.h
	w, k := h.w, h.kind
	job := h.job
	if h.wait.Err() != nil {
		m.deliverRest(handBack(handBackDelay, label.HandedBack))
		return
	}
	lease, err := w.store.AcquireWait(h.wait, policyLockName(job.Tenant, k, job.PolicyID), h.owner, w.cfg.LeaseTTL, policyLockPoll)
	if err != nil {
		if h.wait.Err() == nil {
			w.logInfra("acquire policy lock", err)
		}
		m.deliverRest(handBack(handBackDelay, label.HandedBack))
		return
	}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	stopLease := holdLease(lease, w.cfg.LeaseTTL, cancel)
	defer func() {
		stopLease()
		rctx, c := h.recordCtx()
		defer c()
		_ = lease.Release(rctx)
	}()
	if job.Action == jobs.ActionRemove {
		m.removeAll(ctx)
		return
	}

	cur, err := m.list(ctx)
	if err != nil {
		m.deliverRest(h.classify(err, false))
		return
	}
	pending := m.undecided(func(it *mergeItem) (verdict, bool) {
		have, found := findDirect(cur, it.h.job.Assignment())
		return it.h.judge(have, found, it.h.reconciledStatus(), 200)
	})
	if len(pending) == 0 {
		return
	}
	// One new entry per target: two rows for one target cannot both
	// exist; the first is written, the others find it (existing, or
	// conflict when their filter or intent differs).
	var adds []*mergeItem
	set := make([]graph.Assignment, 0, len(cur)+len(pending))
	for _, a := range cur {
		if !isPolicySet(a) {
			set = append(set, a)
		}
	}
	for _, it := range pending {
		if _, dup := findDirect(set, it.h.job.Assignment()); !dup {
			adds = append(adds, it)
			set = append(set, it.h.job.Assignment())
		}
	}
	// What a row is, once Graph's set is known: created when this write
	// added it and Graph holds it as sent, existing (or conflict) when it
	// was there.
	same := func(it *mergeItem) jobs.Status {
		if slices.Contains(adds, it) {
			return jobs.StatusCreated
		}
		return jobs.StatusExisting
	}
	m.assign(ctx, set, pending, adds, func(it *mergeItem, res []graph.Assignment, status int) verdict {
		have, found := findDirect(res, it.h.job.Assignment())
		if slices.Contains(adds, it) && (!found || have.Compare(it.h.job.Assignment()) != graph.MatchSame) {
			// Graph accepted the set but does not hold the target as
			// sent: not created. Retry; the intent makes it look first.
			return it.h.retryLater(status, "assign succeeded but Graph's set lacks the target with its filter and intent")
		}
		if v, ok := it.h.judge(have, found, same(it), status); ok {
			return v
		}
		return it.h.retryLater(status, "assign succeeded but Graph's set lacks the target")
	}, func(it *mergeItem, fresh []graph.Assignment) (verdict, bool) {
		have, found := findDirect(fresh, it.h.job.Assignment())
		return it.h.judge(have, found, same(it), 200)
	})
}

// undecided gives the items that lost their key back, and those judge
// decides without a write (ok) their verdict; it returns the others.
func (m *mergeRun) undecided(judge func(it *mergeItem) (verdict, bool)) []*mergeItem {
	var pending []*mergeItem
	for _, it := range m.items {
		if it.h.ctx.Err() != nil {
			m.deliver(it, handBack(handBackDelay, label.HandedBack)) // lost its key
			continue
		}
		if v, ok := judge(it); ok {
			m.deliver(it, v)
			continue
		}
		pending = append(pending, it)
	}
	return pending
}

// assign writes set with /assign in beta for the batch, once the tenant
// admits the write and the intents of writers (the rows whose targets the
// write adds or takes away) are recorded, and gives every row of pending
// its verdict. After an answer, checked judges each row against the set
// Graph then holds: its answer, or a re-read when it answers 204 (status
// 204). After an ambiguous answer, reconciled judges each row against a
// fresh listing; a row it cannot decide (ok false) is retried with the
// write's error, its intent unsettled. After any other failure every row
// gets the failure's verdict, the writers' intents settled (Graph
// answered, or the request never left).
func (m *mergeRun) assign(ctx context.Context, set []graph.Assignment, pending, writers []*mergeItem,
	checked func(it *mergeItem, res []graph.Assignment, status int) verdict,
	reconciled func(it *mergeItem, fresh []graph.Assignment) (verdict, bool)) {
	h := m.h
	w, t, job := h.w, h.t, h.job
	sl, err := t.admit(h.wait, time.Time{}, h.kind)
	if err != nil {
		m.deliverRest(handBack(handBackDelay, label.HandedBack))
		return
	}
	for _, it := range writers {
		if err := it.h.putIntent(false, nil); err != nil {
			w.logInfra("write intent", err)
			m.deliverRest(handBack(handBackDelay, label.HandedBack))
			return
		}
	}
	var res []graph.Assignment
	err = w.graphCall(ctx, func() error {
		var err error
		res, err = w.graph.Assign(ctx, job.Tenant, graph.Beta, h.kind, job.PolicyID, set)
		return err
	})
	sl.done(err)
	switch {
	case err == nil:
		status := 200
		if res == nil { // 204: read the set back to check it
			status = 204
			var lerr error
			if res, lerr = m.list(ctx); lerr != nil {
				// Applied but unchecked: the intents stay unsettled, so
				// the next delivery looks before writing again.
				m.deliverRest(h.classify(lerr, false))
				return
			}
		}
		for _, it := range pending {
			m.deliver(it, checked(it, res, status))
		}
	case ctx.Err() != nil:
		m.deliverRest(handBack(handBackDelay, label.HandedBack)) // intents stay unsettled
	case errors.Is(err, graph.ErrAmbiguous):
		h.log.Info("ambiguous assign: reconciling the whole set", slog.Any("error", err))
		fresh, lerr := m.list(ctx)
		if lerr != nil {
			v := h.classify(lerr, false)
			if v.kind == vRetry {
				v.setError(err)
			}
			m.deliverRest(v)
			return
		}
		for _, it := range pending {
			if v, ok := reconciled(it, fresh); ok {
				m.deliver(it, v)
				continue
			}
			m.deliver(it, it.h.classify(err, true))
		}
	default:
		v := h.classify(err, true) // side effects (gate, breaker) once
		for _, it := range writers {
			it.h.inDoubt = false // Graph answered, or the request never left
		}
		m.deliverRest(v)
	}
}

// list reads the policy's set fresh, after the tenant's gate, in beta (see
// [handling.list]).
func (m *mergeRun) list(ctx context.Context) ([]graph.Assignment, error) {
	h := m.h
	if err := h.t.gate(h.wait, time.Time{}, h.kind); err != nil {
		return nil, err
	}
	var set []graph.Assignment
	err := h.w.graphCall(ctx, func() error {
		var err error
		set, err = h.w.graph.List(ctx, h.job.Tenant, graph.Beta, h.kind, h.job.PolicyID)
		return err
	})
	return set, err
}
