package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// handling is one delivery of one job.
type handling struct {
	w    *Worker
	r    *runner
	t    *tenant
	rc   *runCtx
	msg  message
	job  jobs.Job
	kind *graph.Kind
	log  *slog.Logger

	delivered int       // deliveries so far, this one included
	prior     int       // Graph attempts of this row before this handling
	attempt   int       // this handling's number as a Graph attempt: prior+1
	asked     bool      // this handling went to Graph (looked the target up or wrote it)
	deadline  time.Time // published + JobDeadline
	start     time.Time
	owner     string
	keyTTL    time.Duration // of the key lease: the consumer's AckWait

	// ctx ends Graph calls and store reads: Run's hard context, also
	// cancelled when one of the job's leases is lost. wait ends waits
	// (gate, token, policy lock): ctx or Run's soft context.
	ctx, wait context.Context

	intent    jobs.Intent // the key's intent as last read or written
	hasIntent bool
	// inDoubt: a write of this key may have been applied without an
	// outcome recorded (an unsettled intent); a reconcile must look first.
	inDoubt bool
	// otherSince is when another import recorded an outcome for the key
	// (zero if none): a policy listing older than that may miss what it
	// wrote, so the create strategy lists again before writing.
	otherSince time.Time
	// removing is the id of the assignment a removal's next write takes
	// away, as judgeRemoval found it: recorded in the write's intent.
	removing string
}

// handle processes one message and settles it (Ack, NakWithDelay or Term)
// exactly once. A panic is one failed attempt.
func (w *Worker) handle(rc *runCtx, r *runner, msg message, ackWait time.Duration) {
	w.m.InFlight(1)
	defer w.m.InFlight(-1)
	stopKeep := keepAlive(msg, ackWait)
	defer stopKeep()

	meta, err := msg.Metadata()
	var job jobs.Job
	if err == nil {
		job, err = jobs.DecodeJob(msg.Data())
	}
	if err == nil && jobs.TenantSubject(job.Tenant) != msg.Subject() {
		err = fmt.Errorf("%w: tenant %q does not belong on subject %q", jobs.ErrMalformedJob, job.Tenant, msg.Subject())
	}
	if err != nil {
		w.deadLetter(rc, msg, err)
		return
	}
	kind, err := graph.LookupKind(job.Kind)
	if err != nil { // DecodeJob validated it; cannot happen
		w.deadLetter(rc, msg, err)
		return
	}
	ctx, cancel := context.WithCancel(rc.hard)
	defer cancel()
	wait, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	stopWait := context.AfterFunc(rc.soft, cancelWait)
	defer stopWait()

	h := &handling{
		w: w, r: r, t: r.t, rc: rc, msg: msg, job: job, kind: kind,
		log:       w.log.With(slog.String("tenant", job.Tenant), slog.String("import", job.ImportID), slog.Int("row", job.Row)),
		delivered: int(meta.NumDelivered),
		attempt:   1,
		deadline:  jobDeadline(meta.Timestamp, w.cfg.JobDeadline),
		start:     time.Now(),
		owner:     w.owner(),
		keyTTL:    keyLeaseTTL(ackWait),
		ctx:       ctx,
		wait:      wait,
	}
	if h.delivered > 1 {
		w.m.Redelivered(r.t.name)
	}
	h.finish(h.safeProcess(cancel))
}

// safeProcess runs process, turning a panic into a failed attempt.
func (h *handling) safeProcess(cancel context.CancelFunc) (v verdict) {
	defer func() {
		if p := recover(); p != nil {
			h.w.m.Panic()
			h.log.Error("panic while handling a job", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			v = verdict{kind: vRetry, code: CodePanic, message: fmt.Sprintf("panic: %v", p), label: label.Panic,
				delay: backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64())}
		}
	}()
	return h.process(cancel)
}

// process decides what happens to the job: the effectively-once sequence.
func (h *handling) process(cancel context.CancelFunc) verdict {
	w, job := h.w, h.job
	if h.rc.soft.Err() != nil {
		return handBack(handBackDelay, label.HandedBack)
	}
	// 1. One worker at a time owns the key.
	lease, err := w.store.Acquire(h.ctx, "key/"+job.Key, h.owner, h.keyTTL)
	if errors.Is(err, jobs.ErrHeld) {
		return handBack(heldDelay+time.Duration(rand.Int64N(int64(heldDelay))), label.Held)
	}
	if err != nil {
		return h.infra("acquire key lease", err)
	}
	stopLease := holdLease(lease, h.keyTTL, cancel)
	defer func() {
		stopLease()
		ctx, c := h.recordCtx()
		defer c()
		_ = lease.Release(ctx)
	}()
	// 2. What the store knows of the key (read under the lease: whoever
	// wrote it had released the lease after recording it): its outcome and
	// its intent, which carries this row's attempts so far.
	o, hasOutcome, err := w.store.Outcome(h.ctx, job.Key)
	if err != nil {
		return h.infra("read outcome", err)
	}
	in, hasIntent, err := w.store.Intent(h.ctx, job.Key)
	if err != nil {
		return h.infra("read intent", err)
	}
	h.intent, h.hasIntent = in, hasIntent
	if hasIntent && in.TriesImportID == job.ImportID && in.TriesRow == job.Row {
		h.prior = in.Tries
	}
	h.attempt = h.prior + 1
	// An outcome of this import ends the job: this import never writes a
	// key twice. Another import's outcome says nothing about Graph now
	// (the assignment may have been deleted since): Graph decides.
	if hasOutcome && o.ImportID == job.ImportID {
		return recorded(o, job.Row)
	}
	if hasOutcome {
		h.otherSince = o.At
	}
	// An unsettled intent means a write may have landed, unless the row
	// that wrote it recorded its outcome since.
	h.inDoubt = hasIntent && !in.Settled && !(hasOutcome && o.ImportID == in.ImportID && o.Row == in.Row)
	// 3. A blocked tenant fails fast.
	if bl, ok := h.t.blocked(h.kind); ok {
		return h.blockedVerdict(bl)
	}
	if job.Action == jobs.ActionRemove {
		return h.remove() // steps 4 on for a removal
	}
	// 4. Past the deadline, one last look when a write may have landed.
	if time.Now().After(h.deadline) {
		if h.inDoubt {
			h.asked = true
			if have, found, err := h.reconcile(); err == nil {
				if v, ok := h.judge(have, found, h.reconciledStatus(), 200); ok {
					return v
				}
			}
		}
		return h.deadlineFailure()
	}
	h.asked = true
	if w.strategy(h.kind) == graph.StrategyMerge {
		return h.merge()
	}
	return h.create()
}

// attempts is the row's Graph attempts, this handling included when it
// went to Graph.
func (h *handling) attempts() int {
	if h.asked {
		return h.attempt
	}
	return h.prior
}
