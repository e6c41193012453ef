// Package web is bulkassign's imports page: a few static files embedded in
// the binary (plain HTML, CSS and JavaScript; no framework, nothing fetched
// from another origin, so it works offline) and the [Handler] that serves
// them.
//
// The page uses only the service's HTTP API under /v1 (package api), with
// the bearer token the user enters: it lists the imports with live progress
// (polled every second), counts by status, rate, ETA and each tenant's
// state; shows one import's rows from its JSON report, filtered by status,
// and downloads the CSV report; and checks a CSV file (validation and plan,
// POST /v1/imports?plan=true) before submitting it. The page itself needs
// no token: it holds no data, and every call it makes is authenticated.
package web
