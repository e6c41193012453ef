package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// verdictKind is what happens to a message after one handling.
type verdictKind int

const (
	// vDone: the row has its final status; record it and Ack.
	vDone verdictKind = iota + 1
	// vRetry: a failed attempt; remember the error and NakWithDelay, unless
	// the retry would start after the job's deadline (then vDone failed).
	vRetry
	// vHandBack: not an attempt (shutdown, NATS trouble, a duplicate
	// delivery); NakWithDelay without recording anything.
	vHandBack
)

// verdict is the result of one handling of a job.
type verdict struct {
	kind         verdictKind
	status       jobs.Status // vDone
	assignmentID string
	outcome      bool // vDone: store an outcome (the assignment exists)
	httpStatus   int
	code         string // Graph error code, or one of this package's codes
	message      string
	requestID    string
	delay        time.Duration // vRetry, vHandBack
	label        string        // JobAttempt outcome
}

func done(s jobs.Status, id string, httpStatus int) verdict {
	return verdict{kind: vDone, status: s, assignmentID: id, outcome: true, httpStatus: httpStatus, label: string(s)}
}

func handBack(d time.Duration, label string) verdict {
	return verdict{kind: vHandBack, delay: d, label: label}
}

// failed is a final failure carrying Graph's error details.
func failed(err error, label string) verdict {
	v := verdict{kind: vDone, status: jobs.StatusFailed, label: label}
	v.setError(err)
	return v
}

// setError copies err's details (status, Graph code, message, request-id).
func (v *verdict) setError(err error) {
	var ge *graph.Error
	if errors.As(err, &ge) {
		v.httpStatus, v.code, v.requestID = ge.StatusCode, ge.Code, ge.RequestID
		v.message = ge.Error()
		return
	}
	v.message = err.Error()
}

// handling is one delivery of one job.
type handling struct {
	w    *Worker
	r    *runner
	t    *tenant
	rc   *runCtx
	msg  jetstream.Msg
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
}

// handle processes one message and settles it (Ack, NakWithDelay or Term)
// exactly once. A panic is one failed attempt.
func (w *Worker) handle(rc *runCtx, r *runner, msg jetstream.Msg, ackWait time.Duration) {
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
			v = verdict{kind: vRetry, code: CodePanic, message: fmt.Sprintf("panic: %v", p), label: "panic",
				delay: backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64())}
		}
	}()
	return h.process(cancel)
}

// process decides what happens to the job: the effectively-once sequence.
func (h *handling) process(cancel context.CancelFunc) verdict {
	w, job := h.w, h.job
	if h.rc.soft.Err() != nil {
		return handBack(handBackDelay, "handed_back")
	}
	// 1. One worker at a time owns the key.
	lease, err := w.store.Acquire(h.ctx, "key/"+job.Key, h.owner, h.keyTTL)
	if errors.Is(err, jobs.ErrHeld) {
		return handBack(heldDelay+time.Duration(rand.Int64N(int64(heldDelay))), "held")
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
	// An unsettled intent means a write may have landed, unless the row
	// that wrote it recorded its outcome since.
	h.inDoubt = hasIntent && !in.Settled && !(hasOutcome && o.ImportID == in.ImportID && o.Row == in.Row)
	// 3. A blocked tenant fails fast.
	if bl, ok := h.t.blocked(h.kind); ok {
		return h.blockedVerdict(bl)
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

// recorded is the verdict for a key whose outcome this import recorded:
// the recorded status when this row recorded it (the crash came between
// outcome and result), existing for another row.
func recorded(o jobs.Outcome, row int) verdict {
	v := verdict{kind: vDone, status: jobs.StatusExisting, assignmentID: o.AssignmentID, label: "existing"}
	if o.Row == row {
		v.status, v.label = o.Status, string(o.Status)
	}
	return v
}

// attempts is the row's Graph attempts, this handling included when it
// went to Graph.
func (h *handling) attempts() int {
	if h.asked {
		return h.attempt
	}
	return h.prior
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
		have, found, err = h.r.policySet(job, k).find(h, want)
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
		return handBack(handBackDelay, "handed_back") // the intent stays unsettled
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
		return failed(err, "failed")
	}
	return h.classify(err, true)
}

// isConflict reports a 409 answer to a create: the assignment exists.
func isConflict(err error) bool {
	var ge *graph.Error
	return errors.As(err, &ge) && ge.StatusCode == 409
}

// reconcile lists the policy fresh (not from the cache) and looks for the
// job's target among its direct assignments.
func (h *handling) reconcile() (graph.Assignment, bool, error) {
	set, err := h.list()
	if err != nil {
		return graph.Assignment{}, false, err
	}
	h.r.policySet(h.job, h.kind).replace(set)
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
		message: graph.ConflictMessage(have, want), label: "conflict"}, true
}

// retryLater is a failed attempt after a write Graph accepted whose
// result it does not show: the intent stays unsettled, so the next
// delivery looks in Graph before writing again.
func (h *handling) retryLater(httpStatus int, message string) verdict {
	return verdict{kind: vRetry, label: "transient", httpStatus: httpStatus, message: message,
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

// classify maps a failed Graph call (or wait) to a verdict, with its side
// effects on the tenant: a 429 closes the gate and cuts the rate, a 401 or
// 403 trips the breaker. wrote tells whether err answers a write of this
// job's key: a definite answer then settles the intent (nothing applied).
func (h *handling) classify(err error, wrote bool) verdict {
	if v, ok := h.waitVerdict(err); ok {
		return v
	}
	if h.ctx.Err() != nil {
		return handBack(handBackDelay, "handed_back")
	}
	var ge *graph.Error
	isGraph := errors.As(err, &ge)
	if wrote && isGraph && !errors.Is(err, graph.ErrAmbiguous) {
		h.inDoubt = false // Graph answered, or the request never left: nothing applied
	}
	switch {
	case errors.Is(err, graph.ErrThrottled) && isGraph:
		v := verdict{kind: vRetry, delay: h.t.throttled(h.kind, ge), label: "throttled"}
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
		label := "transient"
		if errors.Is(err, graph.ErrAmbiguous) {
			label = "ambiguous"
		}
		v := verdict{kind: vRetry, delay: delay, label: label}
		v.setError(err)
		return v
	case isGraph:
		return failed(err, "failed")
	}
	// Not a Graph error: unexpected; retry later.
	v := verdict{kind: vRetry, delay: backoff(h.attempt, baseBackoff, h.w.cfg.MaxBackoff, rand.Float64()), label: "error"}
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
			return handBack(handBackDelay, "handed_back"), true
		}
	}
	return verdict{}, false
}

// waitFailed is the verdict when admit failed.
func (h *handling) waitFailed(err error) verdict {
	if v, ok := h.waitVerdict(err); ok {
		return v
	}
	return handBack(handBackDelay, "handed_back")
}

// infra is the verdict for a NATS failure: hand the job back (it is not an
// attempt: Graph was not asked).
func (h *handling) infra(what string, err error) verdict {
	if h.ctx.Err() == nil {
		h.w.logInfra(what, err)
	}
	return handBack(backoff(h.delivered, handBackDelay, 30*time.Second, rand.Float64()), "handed_back")
}

// blockedVerdict fails the row because its tenant is blocked.
func (h *handling) blockedVerdict(bl block) verdict {
	return verdict{kind: vDone, status: jobs.StatusFailed, httpStatus: bl.status, code: bl.code,
		message: bl.message, requestID: bl.reqID, label: "blocked"}
}

// deadlineFailure fails the job at its deadline with the last error
// recorded for it.
func (h *handling) deadlineFailure() verdict {
	in := h.intent
	v := verdict{kind: vDone, status: jobs.StatusFailed, label: "deadline",
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

// putIntent records that a write of the key is about to be sent (settled
// false), or stores the last error of a failed attempt.
func (h *handling) putIntent(settled bool, last *verdict) error {
	in := jobs.Intent{
		Owner: h.owner, Attempt: h.intent.Attempt, At: time.Now(),
		ImportID: h.job.ImportID, Row: h.job.Row, Settled: settled,
		LastHTTPStatus: h.intent.LastHTTPStatus, LastCode: h.intent.LastCode,
		LastMessage: h.intent.LastMessage, LastRequestID: h.intent.LastRequestID,
		Tries: h.attempt, TriesImportID: h.job.ImportID, TriesRow: h.job.Row,
	}
	if !settled && last == nil {
		in.Attempt++
	}
	if last != nil {
		in.LastHTTPStatus, in.LastCode, in.LastMessage, in.LastRequestID = last.httpStatus, last.code, last.message, last.requestID
		if !settled && h.hasIntent && h.intent.ImportID != "" {
			// Keep who wrote the unsettled intent: a reconcile must credit
			// the write to that row.
			in.ImportID, in.Row = h.intent.ImportID, h.intent.Row
		}
	}
	ctx, cancel := h.recordCtx()
	defer cancel()
	if err := h.w.store.PutIntent(ctx, h.job.Key, in); err != nil {
		return err
	}
	h.intent, h.hasIntent = in, true
	if !settled {
		h.inDoubt = true
	}
	return nil
}

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
				h.nak(handBackDelay, "handed_back")
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
			h.nak(handBackDelay, "handed_back")
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
		h.log.Debug("job will be retried", slog.String("outcome", v.label), slog.Duration("delay", v.delay),
			slog.Int("attempt", h.attempt), slog.String("error", v.message))
		h.nak(v.delay, v.label)
	case vHandBack:
		h.nak(v.delay, v.label)
	}
}

// nak hands the message back with a delay: never a plain Nak, which
// redelivers at once.
func (h *handling) nak(d time.Duration, label string) {
	if err := h.msg.NakWithDelay(max(d, minBackoff)); err != nil {
		h.w.logInfra("nak", err)
	}
	h.w.m.JobAttempt(h.t.name, label)
}

// deadLetter terminates a message that is not a valid job, after copying
// it to the dead-letter stream.
func (w *Worker) deadLetter(rc *runCtx, msg jetstream.Msg, cause error) {
	reason := cause.Error()
	if len(reason) > 200 {
		reason = reason[:200]
	}
	w.m.MalformedMessage("job")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rc.hard), recordTimeout)
	defer cancel()
	if err := w.store.DeadLetter(ctx, msg, reason); err != nil {
		w.logInfra("dead letter", err)
		_ = msg.NakWithDelay(handBackDelay) // try again later; never lose it
		return
	}
	w.m.DeadLettered()
	w.log.Warn("malformed job message dead-lettered", slog.String("subject", msg.Subject()), slog.String("reason", reason))
	if err := msg.TermWithReason(reason); err != nil {
		w.logInfra("term", err)
	}
}

// keepAlive tells JetStream every third of AckWait that the message is
// still being worked on, until stop is called: long waits (a Retry-After,
// a policy lock) never let AckWait expire.
func keepAlive(msg jetstream.Msg, ackWait time.Duration) (stop func()) {
	every := max(ackWait/3, 50*time.Millisecond)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// holdLease renews lease every third of ttl until stop is called. When the
// lease is lost (taken over, or not renewed before it expired) it calls
// lost, which cancels the job's Graph calls: a job that no longer owns its
// key must not write it.
func holdLease(lease *jobs.Lease, ttl time.Duration, lost func()) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
				err := lease.Renew(ctx)
				cancel()
				if errors.Is(err, jobs.ErrLeaseLost) || (err != nil && time.Now().After(lease.Expires())) {
					lost()
					return
				}
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// policySet is a policy's assignment set, listed once per import and kept
// up to date with our own creates (create kinds only; merges read fresh).
type policySet struct {
	mu     sync.Mutex
	loaded bool
	set    []graph.Assignment
}

// maxCachedPolicies bounds a runner's cache; past it the cache restarts.
const maxCachedPolicies = 4096

// policySet returns the cache entry of the job's policy in its import.
func (r *runner) policySet(j jobs.Job, k *graph.Kind) *policySet {
	key := j.ImportID + "|" + k.Name + "|" + strings.ToLower(j.PolicyID)
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.cache[key]
	if ps == nil {
		if len(r.cache) >= maxCachedPolicies {
			r.cache = make(map[string]*policySet)
		}
		ps = &policySet{}
		r.cache[key] = ps
	}
	return ps
}

// find looks for a's target among the policy's direct assignments, listing
// the policy first if this import has not yet.
func (ps *policySet) find(h *handling, a graph.Assignment) (graph.Assignment, bool, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.loaded {
		set, err := h.list()
		if err != nil {
			return graph.Assignment{}, false, err
		}
		ps.set, ps.loaded = set, true
	}
	found, ok := findDirect(ps.set, a)
	return found, ok, nil
}

// add records an assignment we created.
func (ps *policySet) add(a graph.Assignment) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.loaded {
		ps.set = append(ps.set, a)
	}
}

// replace stores a fresh listing.
func (ps *policySet) replace(set []graph.Assignment) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.set, ps.loaded = set, true
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
