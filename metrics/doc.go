// Package metrics holds bulkassign's Prometheus collectors and its small
// operational HTTP surface: /metrics, /healthz and /readyz.
//
// Nothing here touches the default registry. [New] registers every collector
// on the [prometheus.Registerer] it is given, and [Handler] serves whatever
// [prometheus.Gatherer] it is given, so tests and embedders run as many
// independent instances as they like.
//
// Every method of [*Metrics] is safe on a nil receiver and then does nothing,
// so a component can take a *Metrics and run without metrics when it is nil.
// All methods are safe for concurrent use.
//
// # Metric names
//
// Jobs and rows:
//
//	bulkassign_rows_total{tenant,kind,status}            counter   rows reported, one per row
//	bulkassign_job_attempts_total{tenant,outcome}         counter   Graph write attempts by outcome
//	bulkassign_throttled_total{tenant,retry_after}        counter   429 answers; retry_after="present|absent"
//	bulkassign_retry_after_seconds                        histogram Retry-After values sent by Graph
//	bulkassign_tenant_write_rate{tenant}                  gauge     current adaptive write limit (writes/s)
//	bulkassign_tenant_paused{tenant}                      gauge     1 while the tenant is paused (backing off)
//	bulkassign_tenant_blocked{tenant}                     gauge     1 while the tenant is blocked (needs a human)
//	bulkassign_inflight_jobs                              gauge     jobs being worked on now
//	bulkassign_malformed_messages_total{source}           counter   undecodable messages; source="queue|job"
//	bulkassign_dead_letter_total                          counter   messages sent to the dead-letter stream
//	bulkassign_redeliveries_total{tenant}                 counter   jobs seen again after a redelivery
//	bulkassign_worker_panics_total                        counter   panics recovered in job handlers
//	bulkassign_job_duration_seconds{tenant}               histogram enqueue → final result
//
// Graph HTTP (see [Metrics.InstrumentTransport]):
//
//	bulkassign_graph_requests_total{code,method}          counter
//	bulkassign_graph_request_duration_seconds{method}     histogram
//	bulkassign_graph_requests_in_flight                   gauge
//	bulkassign_graph_transport_errors_total{method}       counter   requests that got no HTTP response
//
// Job store (NATS JetStream), as the worker sees it:
//
//	bulkassign_store_errors_total{operation}              counter   store requests that failed or got no answer
//	bulkassign_store_healthy                              gauge     0 while the store cannot make progress
//
// Queue depth, read at scrape time (see [Metrics.WatchQueueDepth]):
//
//	bulkassign_queue_depth{tenant}                        gauge     messages waiting per tenant
//	bulkassign_queue_depth_up                             gauge     1 if the last read succeeded
//	bulkassign_queue_depth_scrape_errors_total            counter   failed reads
//
// # Cardinality
//
// The only unbounded label is tenant: one series per tenant and label
// combination. A managed-service provider runs hundreds of tenants, which is
// fine for Prometheus (the largest family, bulkassign_job_duration_seconds,
// has 13 series per tenant). There are deliberately no per-policy, per-group,
// per-row or per-import labels, and the Graph HTTP metrics carry neither URL
// nor tenant: Graph URLs contain object ids, and request headers carry
// tokens, so neither ever becomes a label. Label values for status and
// outcome are folded onto their documented sets ("other" otherwise), and
// every free-form label value is checked (valid UTF-8, at most 128 bytes)
// so a bad caller cannot explode the series count or panic the registry.
package metrics
