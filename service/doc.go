// Package service owns bulkassign's long-running process: the store and
// its connection ([Backend]), the workers, the intakes that turn requests
// into imports (the queue subject bulkassign.submit, [Config.SubmitSubject];
// the durable request stream on bulkassign.requests.>,
// [Config.RequestsSubject]), the import events (package events,
// [Config.Events]), the operational HTTP server (/metrics, /healthz,
// /readyz) and the HTTP API server (package api, [Config.HTTP]).
// "bulkassign serve" is a [Service] run until it is stopped; "bulkassign
// run" is one without intakes, run until its import is done.
//
// # Stop
//
// [Service.Run] runs until its context ends (the soft stop), then stops
// in this order, each step after the previous one ended:
//
//  1. Readiness turns false (/readyz answers 503), and the intakes stop
//     taking requests (the durable intake stops fetching and finishes the
//     request it holds; the others are left in the stream): they leave the hand-off group at once, so that
//     other replicas get every request, let the requests they are
//     enqueueing finish, and from then on hand every request that still
//     reaches them to a live replica and relay its answer — or, when no
//     replica is left, answer "shutting down" (never "context canceled").
//     The HTTP API server (Config.HTTPListener) stops taking connections
//     and lets the requests in flight finish (for up to 30 s).
//  2. The workers drain: they stop fetching, hand back the jobs that have
//     not started writing and let in-flight writes finish for up to the
//     worker's drain timeout.
//  3. The operational HTTP server stops: /healthz answered 200 until here.
//  4. The events publisher and the webhook stop, and the intakes
//     unsubscribe.
//  5. The connection drains and closes.
//  6. The embedded server, if this process runs it, shuts down.
//
// [Service.Abort] is the hard stop (a second signal): in-flight writes and
// enqueues are cancelled at once, and Run goes through the same steps
// without waiting. A request whose enqueue was cancelled is answered
// "shutting down", and the same request sent again resumes its import (see
// package imports); one nobody sends again is completed by the next
// service to start ([imports.Importer.Recover]).
package service
