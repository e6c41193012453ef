// Package graph is bulkassign's Microsoft Graph client for Intune assignments.
//
// It knows every assignable collection ("kind") in a registry (see [Kinds]),
// builds assignment bodies exactly as Graph expects them (see [Kind.Body]),
// validates every identifier before it reaches a URL path (see [ValidateGUID],
// [ValidatePolicyID], [ValidateTenant]), talks to Graph over one reused
// HTTP client with per-tenant tokens, and classifies every answer into an
// outcome callers branch on with errors.Is and errors.As (see [Error]).
//
// The client never retries: whether and when to retry is the worker's
// decision, because only the worker knows the tenant's rate budget, the
// job's deadline and whether a write may already have been applied.
package graph
