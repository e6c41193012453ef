// Package label is the vocabulary the worker reports to its metrics: the
// outcome of each handling of a job (label "outcome" of
// bulkassign_job_attempts_total) and the job-store operation that failed
// (label "operation" of bulkassign_store_errors_total).
//
// The worker emits only these typed constants, and package metrics builds
// its allow-lists from [Outcomes] and [StoreOps]: a value added here is
// accepted there, instead of being counted as "other". Every constant must
// be listed in its function (a test checks it). The values are a public
// contract (dashboards and alerts select on them): add, never rename. The
// package imports nothing, so that the worker and metrics can both use it.
package label

// Outcome is the outcome of one handling of a job.
type Outcome string

// Outcomes that settle the row: its final status in the report.
const (
	Created   Outcome = "created"
	Existing  Outcome = "existing"
	Duplicate Outcome = "duplicate"
	Failed    Outcome = "failed"
	Invalid   Outcome = "invalid"
	Conflict  Outcome = "conflict"
	Removed   Outcome = "removed"
	Absent    Outcome = "absent"
)

// Outcomes of a Graph call that failed and will be retried.
const (
	// Throttled: Graph answered 429.
	Throttled Outcome = "throttled"
	// Transient: a 5xx, a timeout or a reset, or a write Graph accepted
	// without showing its result.
	Transient Outcome = "transient"
	// Ambiguous: a write that may have been applied.
	Ambiguous Outcome = "ambiguous"
)

// Outcomes of the worker's own verdicts.
const (
	// Error: a failure that is not a Graph error; retried.
	Error Outcome = "error"
	// Panic: handling the job panicked; retried.
	Panic Outcome = "panic"
	// Blocked: the tenant's circuit breaker failed the row.
	Blocked Outcome = "blocked"
	// Deadline: the job's deadline passed; the row failed.
	Deadline Outcome = "deadline"
	// HandedBack: not an attempt (shutdown, job-store trouble); the job
	// comes back later.
	HandedBack Outcome = "handed_back"
	// Held: another handling owns the job's key (a duplicate delivery); the
	// job comes back later.
	Held Outcome = "held"
)

// Outcomes metrics has accepted since its first version, which the worker
// does not emit (it reports these cases as failed, blocked, created
// or existing).
// They stay accepted so that queries using them stay valid.
const (
	Permanent         Outcome = "permanent"
	Unauthorized      Outcome = "unauthorized"
	Forbidden         Outcome = "forbidden"
	RouteNotSupported Outcome = "route_not_supported"
	Reconciled        Outcome = "reconciled"
)

// Outcomes returns every Outcome, in a fixed order.
func Outcomes() []Outcome {
	return []Outcome{
		Created, Existing, Duplicate, Failed, Invalid, Conflict, Removed, Absent,
		Throttled, Transient, Ambiguous,
		Error, Panic, Blocked, Deadline, HandedBack, Held,
		Permanent, Unauthorized, Forbidden, RouteNotSupported, Reconciled,
	}
}

// StoreOp is a kind of job-store request.
type StoreOp string

// Job-store requests.
const (
	// OpDiscover: finding the tenants with jobs.
	OpDiscover StoreOp = "discover"
	// OpConsumer: opening (or recreating) a tenant's consumer.
	OpConsumer StoreOp = "consumer"
	// OpConsumerCheck: comparing a tenant's consumer with the queue.
	OpConsumerCheck StoreOp = "consumer_check"
	// OpFetch: fetching a tenant's jobs.
	OpFetch StoreOp = "fetch"
	// OpLease: taking a lease.
	OpLease StoreOp = "lease"
	// OpOutcome: reading or writing an outcome.
	OpOutcome StoreOp = "outcome"
	// OpIntent: reading or writing a write intent.
	OpIntent StoreOp = "intent"
	// OpResult: recording a row's result.
	OpResult StoreOp = "result"
	// OpDeadLetter: copying a malformed message to the dead letters.
	OpDeadLetter StoreOp = "dead_letter"
	// OpProbe: a write made only to learn whether writes work.
	OpProbe StoreOp = "probe"
)

// StoreOps returns every StoreOp, in a fixed order.
func StoreOps() []StoreOp {
	return []StoreOp{
		OpDiscover, OpConsumer, OpConsumerCheck, OpFetch, OpLease,
		OpOutcome, OpIntent, OpResult, OpDeadLetter, OpProbe,
	}
}
