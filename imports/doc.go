// Package imports is the one way to create an import and follow it to its
// report. Every intake — a CSV file or stream, a queue message, the retry
// of an import's failed rows, and the jobs of a plan being applied — hands
// its rows to [Importer.Create] as a [RowSource]; nothing else publishes
// jobs.
//
// # Life cycle
//
// Create reads the source once to check it ([RowSource.Scan]: nothing is
// enqueued when it is refused, see [SourceError]), runs the caller's
// tenant check when one is given ([Spec.Check]), records the import
// (enqueueing), then reads the source again ([RowSource.Emit]) and
// publishes every job and records every other row's result, and marks the
// import enqueued. [Importer.Wait] follows it until every row has a result,
// [Importer.Progress] says where it stands (counting rows by status,
// [Counts], and telling rows whose result is on its way from rows that lost
// it, [MissingError]), and [Importer.Report] writes the report.
//
// # Names
//
// A source whose rows may give names instead of ids (group_name,
// filter_name, policy_name) is wrapped by [ResolveNames]: its rows are
// resolved in their own tenant when it is scanned, and the jobs it emits
// carry the ids, so that what is enqueued and reported is what was
// resolved. Any RowSource can be wrapped; run and ingest wrap their CSV.
//
// # Resume
//
// An import is identified by its content: the SHA-256 of its source's bytes
// (a file, a message), its row count and its tenants. Creating an import
// whose content matches an unfinished one (rows without a result) resumes
// that import instead of starting another:
//
//   - while it was being enqueued (the process died): enqueueing continues
//     after the rows it recorded as acknowledged ([jobs.Import.Emitted]),
//     skipping rows that have a result;
//   - once it is enqueued: the rows that lost their job or result (see
//     [jobs.Store.Progress]) are enqueued again, and nothing else.
//
// A finished import is never resumed: the same content again is a new
// import, whose rows report existing.
//
// An import created with an idempotency key ([Spec.Key]: a request's
// request_id, or the stream sequence of a queue message without one) is
// identified by its key instead: the key is bound to one import id
// ([jobs.Store.ClaimImportKey]) before the import is recorded, and every
// later Create with that key — a redelivery, a second replica, a sender
// trying again — returns that import, resumed when it is unfinished.
//
// A [Request] ([ParseRequest]) is the JSON import request of the queue
// intake and the HTTP API (contract/request.schema.json); [NewReceipt]
// turns what ParseRequest and Create returned into its receipt.
//
// A source that stays with its caller (a file) is resumed by creating it
// again. A source that does not (a queue message) is kept in the store
// until its import is enqueued ([Keeper]): the same message sent again
// resumes it, and [Importer.Recover], which the service runs on start,
// completes it even when nobody sends it again.
//
// Either way each row gets exactly one result and its assignment is written
// once. A resumed enqueue publishes again only the rows after its last
// checkpoint (Config.Checkpoint rows apart) that have no result; their jobs
// carry the message id import:key, which JetStream drops as a duplicate
// within its duplicate window. Past the window such a job is queued twice:
// the worker finds the first one's outcome and writes nothing, and the
// first result of a row wins.
package imports
