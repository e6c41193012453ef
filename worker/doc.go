// Package worker consumes bulkassign's jobs from NATS JetStream and writes
// them to Microsoft Graph: each valid row created exactly once and
// reported exactly once, every tenant as close to its write ceiling as
// Graph allows, whatever the other tenants do.
//
// # What the worker owns
//
// The execution of jobs: finding the tenants with work, pulling their jobs
// with bounded memory, each tenant's write budget (rate, Retry-After gate,
// circuit breaker), the effectively-once sequence per job (key lease,
// outcome, intent, reconcile, write, record, ack), merges, dead letters,
// the store's health (stalls) and the tenants' wait states. It does not
// own the job model or the queue (package jobs: the job, its statuses and
// codes, the JetStream streams, consumers and buckets), Graph's protocol
// (package graph) or the metric collectors (package metrics).
//
// The worker talks to its dependencies through interfaces it declares:
// [Graph] and [Metrics], and, for the job store, small roles without NATS
// types (store.go): jobSource (the tenants with jobs; open, check or
// recreate a tenant's consumer), consumer (Fetch, AckWait), fetch
// (Messages, Err), message (Data, Subject, Metadata, Ack, NakWithDelay,
// InProgress, TermWithReason), ledger (outcomes and intents), locker
// (leases), resultSink, deadLetterSink and prober. jetstream.go adapts the
// *jobs.Store given to [New] to them and is the only file that knows NATS.
// The outcome and store-operation labels it reports are the typed
// constants of package [github.com/bulkassign/bulkassign/worker/label],
// from which metrics builds its allow-lists.
//
// # Fairness and bounded memory
//
// Jobs live on one subject per tenant, each with its own durable pull
// consumer ([jobs.Store.TenantConsumer]). Run polls
// [jobs.Store.PendingTenants] every DiscoverInterval and starts one runner
// goroutine per tenant with waiting jobs. A runner holds at most
// TenantConcurrency messages: it fetches only as many as it has room for,
// and nothing while its tenant is paused by a Retry-After, so jobs wait in
// the stream, not in memory (MaxAckPending bounds each consumer too).
// Memory is bounded by active tenants × TenantConcurrency, not by the
// number of jobs. A global semaphore bounds the Graph requests in flight
// (Concurrency); it is held only for the request itself, never while a job
// waits for its tenant's rate, so a slow or throttled tenant cannot take
// slots from the others. A runner without work for a while exits; discovery
// starts it again when jobs arrive. One tenant's 10,000 rows therefore
// occupy that tenant's runner only, and its throttling pauses only it.
//
// # Write budgets and adaptive throttling
//
// Graph's write limits are per tenant and Intune service ([graph.Kind]'s
// Service): each service of a tenant has its own budget, WriteLimit per
// WriteWindow (Intune: 100 per 20 s per app), DevicesWriteLimit per
// DevicesWriteWindow for the devices service (scripts, health scripts:
// 200). Graph's window is a trailing one, so a budget sends its whole
// allowance at once and keeps at most the limit in any window: a write
// holds a slot from its admission until a window after its answer (Graph
// counted it in between), which never puts limit+1 writes into any window
// as Graph counts them, whatever the latency (see budget). A 429 closes
// the service's gate until its Retry-After (or, without one, an
// exponential backoff with full jitter over the service's 429 streak,
// starting at a twentieth of the window): every in-flight and queued job
// of the service waits, not only the one that got it, a write admitted
// before the 429 and not yet sent is held back, and the runner stops
// fetching once every service of its tenant is paused. Until a window has
// passed without a 429 a budget writes one at a time (or the few more its
// round trip needs), so that writes on the wire cannot miss a Retry-After.
//
// A 429 may be Graph's limit (lower than configured: other apps share the
// tenant's budget) or random (another app used it just then). Random 429s
// pause but teach nothing: a 429 when Graph accepted more of our writes in
// a window lately, or refuted by a write accepted above its count, is not
// a limit. A limit is learned from one 429 at the top of the window while
// no random 429 was seen, or from two at the same level half a window
// apart; the budget keeps 90% of it for 30 windows, then climbs back one
// write per window. So a configured limit above the real one costs one
// 429, and random 429s do not erode the budget. While a job is held, its
// message gets InProgress every third of AckWait, so no wait (a
// Retry-After, a policy lock, a slow call) lets AckWait expire.
//
// # Circuit breaker
//
// A 401 after the Graph client's token refresh blocks the tenant; a 403
// blocks the kind's permission in the tenant. Their remaining rows fail at
// once with error code tenant_unauthorized or forbidden instead of
// hammering Graph; other tenants continue. The block lifts after five
// minutes: the next jobs try Graph again (and trip it again if consent is
// still missing), so a fixed consent needs no restart.
//
// # Effectively-once
//
// For each job, in order:
//
//  1. A lease on "key/<key>" ([jobs.Store.Acquire], with the consumer's
//     AckWait as TTL, renewed every third of it) makes one worker at a time
//     own the key: a duplicate or late delivery finds it held and comes
//     back later (NakWithDelay), then finds the outcome. A job whose lease
//     is lost cancels its Graph call. A delivery handed back because the
//     key is held is not an attempt.
//  2. An outcome for the key recorded by this import (outcomes bucket,
//     read under the lease) ends it: the recorded status when this row
//     recorded it (a crash between outcome and result), existing for
//     another row. An import never writes a key twice. Another import's
//     outcome does not answer for Graph (the assignment may have been
//     deleted since): Graph is asked.
//  3. A blocked tenant fails the row here, without calling Graph.
//  4. An intent without the settled flag, whose row has not recorded its
//     outcome since, means a write may have landed (crash, ambiguous
//     answer): the policy is listed fresh and the target looked for; found
//     is created when the intent was this row's, existing otherwise. Create
//     kinds otherwise use the policy's set listed once per import (and kept
//     up to date with our own creates). Lists are read in beta, the only
//     version showing filters and policy-set sources.
//  5. A target found with the row's filter (id and type) and intent is
//     existing; found with another filter or intent it is conflict, with
//     what Graph holds in the error message, and nothing is written.
//  6. The intent is written just before the write. A definite answer
//     settles it; an ambiguous one (5xx, timeout, reset after sending) is
//     reconciled at once by listing the policy. A 409 to a create is
//     reconciled the same way (existing or conflict). A create is created
//     only when Graph answers with the target, filter and intent asked for.
//  7. The outcome is recorded, then the result, then the message is acked;
//     the lease is released last.
//
// # Merge kinds
//
// Merge jobs of one policy held by a runner join a batch (up to
// TenantConcurrency jobs, or MergeWindow), whatever API version they asked
// for. The batch leader takes the policy's lock in NATS
// ("policy/<tenant>/<kind>/<policy>", a lease with LeaseTTL, renewed), so
// merges are serialised across goroutines and processes; lists the set
// fresh in beta; reports the rows already there (existing or conflict);
// leaves inherited policySets entries out; sends the full set with /assign
// in beta, every existing entry exactly as Graph listed it (filters,
// intent, settings and properties bulkassign does not model); and checks
// each row against Graph's answer, or a re-read when Graph answers 204:
// created only when Graph holds the target with the row's filter and
// intent. After an ambiguous answer it lists again and reconciles every
// row of the batch. A create refused with "No method match route template"
// switches its kind to merge for this worker (logged once) and the job
// goes through merge at once.
//
// # Removals
//
// A job whose action is remove goes through steps 1 to 3 like an addition,
// under its own key (a removal's key differs from the addition's). The
// assignment to remove is the policy's direct assignment on the job's
// target, as a listing in beta shows it: with the row's filter and intent
// it is removed; with another filter or intent, or held only through a
// policy set, the row is conflict and nothing is written; not there, the
// row is absent (success), or removed when this row's own unsettled intent
// says an earlier write of it landed. Create kinds remove with DELETE
// …/assignments/{id} (the policy listed once per import, fresh when a
// write is in doubt; a lost answer is reconciled by listing again). Merge
// kinds, and a kind whose DELETE Graph refused with a route error (for
// this worker, logged once), remove through /assign: removal jobs of a
// policy join their own batch (never one with additions), whose leader
// takes the policy lock, lists the set fresh in beta and sends it without
// the batch's targets, every other direct assignment exactly as listed and
// inherited ones left out; a row is removed only when Graph's answer (or a
// re-read) no longer holds its target.
//
// # Retries, deadline, poison
//
// 429: NakWithDelay until the gate opens. Transient: NakWithDelay with the
// backoff of the row's Graph attempts (a 503's Retry-After when longer).
// The attempts are kept in the key's intent across redeliveries and
// reported in the result; deliveries handed back unhandled (key held,
// shutdown, NATS trouble) do not count. A plain
// Nak is never used. Retries are bounded by JobDeadline from the message's
// publish time; the final failed record carries the last error, kept in the
// intent across redeliveries. A message that is not a valid job is copied
// to the dead-letter stream and terminated. A panic while handling a job is
// a failed attempt (NakWithDelay with backoff), counted.
//
// # A store that cannot make progress
//
// Every store request the worker makes goes through a recorder: per kind
// (fetching a tenant's jobs, opening its consumer, finding the tenants
// with jobs, reads, and writes together), since when it has failed without
// a success. A request that timed out counts from when it was sent. When
// one kind has failed for StallTimeout (and is still failing), the store
// is stalled: [Worker.Stalled] returns a [*StallError] naming the request,
// how long, the last error and what it means (storage full, server not
// answering, damaged consumer), the store-healthy metric is 0 and the
// change is logged. With StopOnStall (bulkassign run) Run then stops at
// once and returns it; otherwise (serve) the worker goes on and recovers
// when the store does. Only refused or unanswered requests count, so a
// throttled or backing-off tenant, slow rows or an idle queue never stall.
// Jobs retry a failed write only after a backoff, so while writes fail, or
// while jobs are in flight and nothing has been written for a few seconds,
// Run probes the store with one small write each DiscoverInterval.
//
// A tenant's consumer whose state the server cannot load, or whose state
// contradicts the stream (it counts as acknowledged jobs the work queue
// still holds, so it would never deliver them: two checks in a row while
// the runner fetches nothing although jobs wait), is deleted and created
// afresh ([jobs.Store.RecreateTenantConsumer]), at most once per
// StallTimeout per tenant, and the log says what was done. The work-queue
// stream keeps every unacknowledged job; the new consumer delivers them
// again and their outcomes keep them from being written twice.
//
// # Shutdown
//
// When Run's context is cancelled, runners stop fetching; jobs waiting for
// a gate, a token or a lock are handed back (NakWithDelay 1 s); writes in
// flight may finish for DrainTimeout, then are cancelled and handed back
// too (their intents make the next delivery reconcile). Final records use
// context.WithoutCancel with a timeout. Run returns when every goroutine it
// started has stopped. [Worker.Abort] is the hard stop.
//
// # Files
//
// One concept each:
//
//   - worker.go: the Worker, New, Run (drain) and Abort.
//   - config.go: Config, its defaults and validation, timing constants.
//   - graph.go, metrics.go, store.go: the interfaces the worker declares
//     (Graph and its concurrency slots, Metrics, the store roles).
//   - jetstream.go: the NATS adapter over *jobs.Store.
//   - discover.go: tenant discovery and the health watch of Run.
//   - runner.go: a tenant's runner (fetch loop, handler goroutines).
//   - repair.go: checking and recreating a damaged tenant consumer.
//   - tenant.go: a tenant's write budget (token bucket, gate, admit).
//   - throttle.go, backoff.go, breaker.go: adaptive rate, retry backoff,
//     circuit breaker.
//   - execute.go: the handling of one delivery (decode, the
//     effectively-once sequence, the create/merge dispatch).
//   - verdict.go: verdicts and their outcome labels.
//   - create.go: the create strategy, and the switch of a kind to merge.
//   - merge.go, batch.go: the merge strategy and its batches.
//   - policycache.go: the policy-set cache of create kinds.
//   - reconcile.go: reading the policy's set and judging what Graph holds.
//   - classify.go: failure verdicts (Graph errors, waits, store trouble,
//     blocks, deadlines).
//   - intent.go: the write intent recorded before each write.
//   - finish.go: recording outcome and result, then Ack or NakWithDelay.
//   - deadletter.go: malformed messages to the dead letters.
//   - keepalive.go: the InProgress and lease-renewal goroutines.
//   - health.go, observed.go: store health and stalls; the store wrapper
//     that records every call.
//   - state.go: the tenants' wait states ([Worker.Waiting]).
package worker
