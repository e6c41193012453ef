package worker

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/worker/label"
)

// batch is the merge jobs of one policy and action that one runner holds,
// whatever API version they asked for, written together by one /assign in
// beta. Additions and removals never share a batch: each /assign either
// adds targets or takes them away, so no body has to choose between an
// addition and a removal of one target, and a batch's verdicts follow one
// rule. The first job to join leads it.
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

// join adds it to the open batch of its policy, or opens one; leader is
// true for the job that opened it.
func (r *runner) join(it *mergeItem) (b *batch, leader bool) {
	key := it.h.kind.Name + "|" + strings.ToLower(it.h.job.PolicyID) + "|" + it.h.job.Action
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
			v := verdict{kind: vRetry, code: CodePanic, message: fmt.Sprintf("panic: %v", p), label: label.Panic,
				delay: backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64())}
			m.deliverRest(v)
		}
		m.deliverRest(handBack(handBackDelay, label.HandedBack)) // safety net
	}()
	m.run()
}
