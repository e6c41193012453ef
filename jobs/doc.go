// Package jobs is bulkassign's job model and its home in NATS JetStream:
// the jobs stream (one subject per tenant), the outcome and claim KV
// buckets that make writes effectively-once, the results stream (one
// subject per import), the imports bucket, the dead-letter stream and the
// import events stream. It works on any NATS connection; the embedded
// server for single-machine use is package natsembed.
//
// # Topology
//
// [Provision] creates, or updates in place, everything below: the
// processes that run workers call it on start. [Open] only looks it up,
// for commands that read or enqueue: it changes nothing on the server and
// fails with [ErrNoStore] where nothing was provisioned. Provision never
// lowers replicas, stream max ages or bucket TTLs set higher than asked.
//
//   - Stream BULKASSIGN_JOBS, subjects bulkassign.jobs.<tenant token>
//     (see [TenantSubject]), work-queue retention: a job leaves when a
//     worker acknowledges it. One durable consumer per tenant
//     ([Store.TenantConsumer]), shared by every worker process.
//     [Publisher] writes it with message id ImportID:Key.
//   - Stream BULKASSIGN_RESULTS, subjects bulkassign.results.<import id>:
//     one record per row ([Store.PutResult], message id import:row); the
//     first record of a row wins ([Store.Results], [Store.WatchResults]).
//   - Stream BULKASSIGN_DEAD, subjects bulkassign.dead.<tenant token>:
//     copies of messages that could not be processed ([Store.DeadLetter]).
//   - Stream BULKASSIGN_EVENTS, subjects bulkassign.eventlog.> stored as
//     bulkassign.events.> (and republished there once stored): import
//     events (package events), message id <import id>.<event>, kept
//     [Config.EventsMaxAge], deduplicated within
//     [Config.EventsDuplicateWindow]; [Store.RecordEvent] records in the
//     imports bucket that one was stored.
//   - KV buckets bulkassign_outcomes (assignment key → [Outcome]),
//     bulkassign_intents (key → [Intent]), bulkassign_leases (see
//     [Store.Acquire]) and bulkassign_imports (id → [Import]; and
//     request.<id> → the request an import came from, kept while it is
//     enqueued: [Store.PutRequest]).
//
// # Exactly once
//
// JetStream delivers at least once and drops re-publishes within its
// duplicate window; it cannot make a Graph write happen once. The worker
// does that with these pieces: a [Lease] per assignment key so one worker
// at a time writes it, an [Intent] written before the Graph call, and an
// [Outcome] written after it and read before any write. An intent without
// an outcome means a write may have been applied: look in Graph first.
//
// # Damage
//
// A tenant consumer whose state file the server cannot read fails to load;
// [Store.TenantConsumer] then wraps [ErrConsumerDamaged], and
// [Store.CheckTenantConsumer] finds a readable state that contradicts the
// stream. [Store.RecreateTenantConsumer] deletes and recreates the
// consumer (moving its files aside when the server did not load it and
// [Config.LocalStoreDir] holds them). A damaged results block loses
// results: [Store.Progress] tells rows whose result may still come from
// rows that lost it, which [Import.RowSet] names. [Explain] puts store
// errors in plain words.
//
// # Durability
//
// Every publish, result and KV update is acknowledged by JetStream once
// it is stored (see package natsembed for what that means on the embedded
// server). Consumer acknowledgements are written asynchronously: after a
// crash a few acknowledged jobs may be delivered again, which the
// outcomes bucket turns into "existing".
package jobs
