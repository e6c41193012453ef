// Package events announces the lifecycle of imports: an import's
// [contract.ImportEvent] is published on
// bulkassign.events.import.<id>.started when its record appears and on
// bulkassign.events.import.<id>.finished once every row has its result
// (with its counts by status and its duration), whatever created it: the
// CLI's ingest, a queue request, the HTTP API. Optionally each event is
// also POSTed to a webhook ([Webhook]), signed with HMAC-SHA256.
//
// Events are durable: they are published through JetStream to the
// store's events stream ([jobs.EventsStream], which stores them under the
// subjects above, keeps them for [jobs.Config.EventsMaxAge] and
// republishes each stored event there for live subscribers), with message
// id "<import id>.<event>", and a publish counts once the stream
// acknowledged it.
//
// Every serve replica runs a [Publisher]: it watches the import records
// of the store and checks, every Config.Interval (and at once when a
// record appears), which events are due. For each due event a replica
// publishes, waits for the acknowledgement, hands the event to its webhook
// unless the stream reports it a duplicate (another replica stored it
// first), then records it published in the store
// ([jobs.Store.RecordEvent]): replicas skip recorded events. A publish
// that fails is not recorded and is retried at the next check (a finished
// event waits for its started event). Events are published at least
// once: a replica that dies between its publish and its record leaves the
// event to another replica, whose publish the stream drops within its
// duplicate window ([jobs.Config.EventsDuplicateWindow]) and stores a
// second time after it. A webhook POST is sent by the replica whose
// publish was stored; it is lost when that replica dies before sending
// it. Imports recorded before the store's first Publisher started are
// never announced, so that a store upgraded to a version with events does
// not announce its whole history.
package events
