// Package events announces the lifecycle of imports: an import's
// [contract.ImportEvent] is published on
// bulkassign.events.import.<id>.started when its record appears and on
// bulkassign.events.import.<id>.finished once every row has its result
// (with its counts by status and its duration), whatever created it: the
// CLI's ingest, a queue request, the HTTP API. Optionally each event is
// also POSTed to a webhook ([Webhook]), signed with HMAC-SHA256.
//
// Every serve replica runs a [Publisher]: it watches the import records
// of the store and checks, every Config.Interval, whether the unfinished
// ones finished. Exactly one replica publishes each event: before
// publishing, a replica claims the event in the store
// ([jobs.Store.ClaimEvent], a create that only one caller wins). A replica
// that dies between its claim and its publish loses that event (events are
// published at most once). Imports recorded before the store's first
// Publisher started are never announced, so that a store upgraded to a
// version with events does not announce its whole history.
package events
