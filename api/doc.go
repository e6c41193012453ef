// Package api is bulkassign's HTTP API: an adapter at the edge that turns
// HTTP requests into calls of the import pipeline (package imports) and
// answers in JSON or CSV. "bulkassign serve" mounts it on its own HTTP
// server (--http-addr, see package service).
//
// # Routes
//
// Every route is under /v1 and described by the OpenAPI 3 document
// openapi.json of this package, served at GET /v1/openapi.json:
//
//   - POST /v1/imports: a CSV body (text/csv) or a queue message
//     (application/json: one object with the CSV column names, or an array
//     of them) becomes an import: 202 and a [contract.Receipt]. A body with
//     invalid rows is refused whole with 422 and a receipt listing every
//     rejected row (unless skip_invalid=true). With plan=true (CSV only) it
//     answers 200 with the plan (package plan) and writes nothing.
//   - GET /v1/imports: the most recent imports first, each a
//     [contract.ImportView] with its progress; GET /v1/imports/{id}: one.
//   - GET /v1/imports/{id}/report: the per-row report, CSV or JSON by the
//     Accept header, as "bulkassign report" writes it, optionally only the
//     rows of some statuses.
//   - POST /v1/imports/{id}/retry and /undo: as "bulkassign retry" and
//     "bulkassign undo", a new import: 202 and its receipt.
//
// # Errors and limits
//
// Every error is JSON {"error":{"code","message"}} ([contract.APIError])
// in plain words, with a 4xx status for anything the client can fix: 400
// bad query, id or body, 401 no or wrong token, 404 no such import or
// route, 405 method, 409 nothing to retry or undo, 413 body over the limit
// (Config.MaxCSVBytes, Config.MaxJSONBytes), 415 content type. A handler
// that panics answers 500 and the server goes on.
//
// # Auth
//
// With Config.Token set, every /v1 route wants "Authorization: Bearer
// <token>", compared in constant time; other requests are answered 401
// with "WWW-Authenticate: Bearer". The token is never logged.
// [CheckExposure] is the start-up rule of serve: no listening beyond
// loopback without a token, unless explicitly insecure.
//
// Config.Page, when set, is served at "/" without auth (a web page whose
// own calls go through /v1 with the token).
package api
