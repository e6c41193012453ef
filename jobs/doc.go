// Package jobs is bulkassign's job model and its home in NATS JetStream:
// the jobs stream (one subject per tenant), the outcome and claim KV
// buckets that make writes effectively-once, the results stream (one
// subject per import), the imports bucket, the dead-letter stream, and an
// embedded nats-server for single-machine use.
package jobs
