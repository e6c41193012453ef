// Package undo builds the jobs that take an import back: the removal of
// exactly the assignments the import created.
//
// [Jobs] reads them from the import's results, never from the input again
// and never by looking names up again: each row the import reported
// created becomes a job with action remove and the same tenant, kind,
// policy, target, filter, intent and API version as the job that created
// it (the result keeps that job), under the same row number, as a new
// import. Rows the import found existing, in conflict, failed, invalid or
// duplicate are left alone: the import did not create them.
//
// The worker removes each assignment as it removes any (see package
// worker): found by its target with the same filter and intent, reported
// removed, or absent when Graph no longer holds it. Running the same undo
// again therefore removes nothing more: every row is absent. An
// assignment that Graph now holds with another filter or intent, or only
// through a policy set, is reported conflict and left as it is.
//
// [Ready] tells whether an import can be undone yet: only once every row
// has its result, so that no assignment it is still creating escapes.
package undo
