package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// batch is the merge jobs of one policy that one runner holds, whatever
// API version they asked for, written together by one /assign in beta. The
// first job to join leads it.
type batch struct {
	key    string
	items  []*mergeItem
	full   chan struct{} // closed when the batch reached TenantConcurrency jobs
	closed bool          // no more joiners (guarded by the runner's mu)
}

// mergeItem is one job of a batch, waiting for its verdict.
type mergeItem struct {
	h   *handling
	res chan verdict // buffered 1; the leader sends exactly one verdict
}

// merge is the merge strategy: join (or open) the policy's batch and wait
// for its verdict. The job keeps its key lease and its message alive while
// it waits.
func (h *handling) merge() verdict {
	if !h.kind.CanMerge() {
		return failed(fmt.Errorf("kind %s has no /assign action taking assignments", h.kind.Name), "failed")
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

// join adds it to the open batch of its policy, or opens one; leader is
// true for the job that opened it.
func (r *runner) join(it *mergeItem) (b *batch, leader bool) {
	key := it.h.kind.Name + "|" + strings.ToLower(it.h.job.PolicyID)
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.batches[key]; b != nil && !b.closed {
		b.items = append(b.items, it)
		if len(b.items) >= r.w.cfg.TenantConcurrency {
			r.sealLocked(b)
			close(b.full)
		}
		return b, false
	}
	b = &batch{key: key, items: []*mergeItem{it}, full: make(chan struct{})}
	if r.w.cfg.TenantConcurrency <= 1 {
		b.closed = true
		close(b.full)
	} else {
		r.batches[key] = b
	}
	return b, true
}

func (r *runner) sealLocked(b *batch) {
	b.closed = true
	if r.batches[b.key] == b {
		delete(r.batches, b.key)
	}
}

// lead waits for the batch window (or a full batch), seals the batch and
// writes it. Every item gets exactly one verdict, whatever happens.
func (r *runner) lead(b *batch, h *handling) {
	timer := time.NewTimer(r.w.cfg.MergeWindow)
	select {
	case <-timer.C:
	case <-b.full:
	case <-h.wait.Done():
	}
	timer.Stop()
	r.mu.Lock()
	r.sealLocked(b)
	items := slices.Clone(b.items)
	r.mu.Unlock()

	m := &mergeRun{h: h, items: items, sent: make(map[*mergeItem]bool, len(items))}
	defer func() {
		if p := recover(); p != nil {
			h.w.m.Panic()
			h.log.Error("panic while merging a policy", slog.Any("panic", p))
			v := verdict{kind: vRetry, code: CodePanic, message: fmt.Sprintf("panic: %v", p), label: "panic",
				delay: backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64())}
			m.deliverRest(v)
		}
		m.deliverRest(handBack(handBackDelay, "handed_back")) // safety net
	}()
	m.run()
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
	w, t, k := h.w, h.t, h.kind
	job := h.job
	if h.wait.Err() != nil {
		m.deliverRest(handBack(handBackDelay, "handed_back"))
		return
	}
	lease, err := w.store.AcquireWait(h.wait, policyLockName(job.Tenant, k, job.PolicyID), h.owner, w.cfg.LeaseTTL, policyLockPoll)
	if err != nil {
		if h.wait.Err() == nil {
			w.logInfra("acquire policy lock", err)
		}
		m.deliverRest(handBack(handBackDelay, "handed_back"))
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

	cur, err := m.list(ctx)
	if err != nil {
		m.deliverRest(h.classify(err, false))
		return
	}
	var pending []*mergeItem
	for _, it := range m.items {
		if it.h.ctx.Err() != nil {
			m.deliver(it, handBack(handBackDelay, "handed_back")) // lost its key
			continue
		}
		have, found := findDirect(cur, it.h.job.Assignment())
		if v, ok := it.h.judge(have, found, it.h.reconciledStatus(), 200); ok {
			m.deliver(it, v)
			continue
		}
		pending = append(pending, it)
	}
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

	sl, err := t.admit(h.wait, time.Time{}, k)
	if err != nil {
		m.deliverRest(handBack(handBackDelay, "handed_back"))
		return
	}
	for _, it := range adds {
		if err := it.h.putIntent(false, nil); err != nil {
			w.logInfra("write intent", err)
			m.deliverRest(handBack(handBackDelay, "handed_back"))
			return
		}
	}
	var res []graph.Assignment
	err = w.graphCall(ctx, func() error {
		var err error
		res, err = w.graph.Assign(ctx, job.Tenant, graph.Beta, k, job.PolicyID, set)
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
			have, found := findDirect(res, it.h.job.Assignment())
			added := slices.Contains(adds, it)
			if added && (!found || have.Compare(it.h.job.Assignment()) != graph.MatchSame) {
				// Graph accepted the set but does not hold the target as
				// sent: not created. Retry; the intent makes it look first.
				m.deliver(it, it.h.retryLater(status, "assign succeeded but Graph's set lacks the target with its filter and intent"))
				continue
			}
			same := jobs.StatusExisting
			if added {
				same = jobs.StatusCreated
			}
			if v, ok := it.h.judge(have, found, same, status); ok {
				m.deliver(it, v)
				continue
			}
			m.deliver(it, it.h.retryLater(status, "assign succeeded but Graph's set lacks the target"))
		}
	case ctx.Err() != nil:
		m.deliverRest(handBack(handBackDelay, "handed_back")) // intents stay unsettled
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
			have, found := findDirect(fresh, it.h.job.Assignment())
			same := jobs.StatusExisting
			if slices.Contains(adds, it) {
				same = jobs.StatusCreated
			}
			if v, ok := it.h.judge(have, found, same, 200); ok {
				m.deliver(it, v)
				continue
			}
			m.deliver(it, it.h.classify(err, true))
		}
	default:
		v := h.classify(err, true) // side effects (gate, breaker) once
		for _, it := range adds {
			if !errors.Is(err, graph.ErrAmbiguous) {
				it.h.inDoubt = false
			}
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
