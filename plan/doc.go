// Package plan decides, before anything is written, what applying an
// input would do to Graph, row by row, and records it in a plan file that
// apply can later be bound to.
//
// [Build] validates the input (package ingest, names and removals
// allowed), resolves names per tenant (package resolve), reads each
// policy's current assignments once (in beta where the kind has it, so
// that filters and policy-set sources are visible), and gives every row a
// [Decision]: create, exists, remove, absent, duplicate, conflict,
// invalid, unresolved or failed ([Decide] is the comparison with Graph).
// It only reads Graph, paced by a per-tenant read budget, and needs no
// NATS.
//
// # Plan file
//
// A plan file is one JSON object ([Plan]): format ("bulkassign-plan/1"),
// source, input_sha256 (the SHA-256 of the input's bytes), created, one
// entry per data row in row order ([Entry]: row, decision, reason, action,
// the row's columns with the resolved ids beside the names, key,
// assignment_id of the Graph assignment it concerns, duplicate_of,
// candidates of an ambiguous name), and plan_sha256, the SHA-256 of the
// plan's compact JSON encoding with plan_sha256 empty. [Load] refuses a
// file whose content no longer matches plan_sha256 ([ErrTampered]): a plan
// edited by hand is not the plan that was reviewed. The hash detects
// changes, it does not authenticate: anyone able to write the file can
// also recompute it.
package plan
