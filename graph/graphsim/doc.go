// Package graphsim is a Microsoft Graph simulator for Intune assignments,
// served over real HTTP, and a matching identity provider over TLS. It owns
// everything the simulator is (routes, validation against Graph's published
// metadata, throttling, faults, seeding, counters) and imports no testing
// code, so that the bulkassign binary can serve it (`bulkassign sim`,
// `bulkassign demo`). Package graphtest wraps it with helpers that take a
// testing.TB.
//
// # Graph routes
//
// The simulator ([Server]) answers, in both API versions where Graph has
// them:
//
//	POST   /{v}/{root}/{collection}/{id}[/{sub}]/assignments         create one assignment (201)
//	GET    /{v}/{root}/{collection}/{id}[/{sub}]/assignments         list, paged with @odata.nextLink
//	POST   /{v}/{root}/{collection}/{id}[/{sub}][/{cast}]/assign     replace the direct assignments (200 value or 204)
//	DELETE /{v}/{root}/{collection}/{id}[/{sub}]/assignments/{aid}   remove one (204; 404 when absent)
//	GET    /{v}/groups?$filter=displayName eq '…'&$select=id,displayName
//	GET    /beta/deviceManagement/assignmentFilters                 id, displayName, platform (beta only)
//	GET    /{v}/{root}/{collection}                                 named policies: id and displayName
//	                                                                 (name for configurationPolicies)
//
// Lists take $filter=<name property> eq '<literal>' (exact match; two quotes in
// the literal stand for one), $select, $top (1–999) and $skiptoken, and page
// with an absolute @odata.nextLink that keeps the other options. A
// resource missing from a version (a beta-only collection, or
// assignmentFilters, in v1.0) answers 400 "Resource not found for the
// segment".
//
// # Fidelity
//
// Bodies are checked the way Graph does for the version: only properties
// the version's metadata gives the assignment type and the target type
// (schema.json, derived from shared/graph-spec) — so a v1.0 body with a
// filter, source or any property v1.0 lacks is a 400 — plus GUIDs, filter
// types, intents and targets per registry kind. Assignments keep every
// property they were written with (intent, settings, …) and are listed per
// version: beta shows the filter properties of every target (null and
// "none" when unset) and source/sourceId where the type has them; v1.0
// shows neither. Ids are deterministic ({policyId}_{groupId}).
//
// Assignments inherited from a policy set (seeded: [Server.SeedInherited],
// or [Server.Seed] with source policySets) list with source policySets and
// their sourceId in beta, and like direct ones in v1.0. /assign replaces
// only the direct assignments: inherited ones stay whether or not the body
// lists them. A body element that re-posts one (its id or target, or
// source policySets) makes it direct, as on Graph, where this breaks the
// policy set; [Stats].InheritedReposted counts them. A create of an
// inherited one is refused, as is a DELETE.
//
// Creates answer 400 "No OData route exists" for the kinds in
// [Config].NotRouted (by default every kind whose strategy is merge), and
// DELETE for those in [Config].DeleteNotRouted (by default
// deviceCompliancePolicies and deviceEnrollmentConfigurations).
//
// # Throttling, faults, tenants
//
// Intune-like throttling with exact sliding windows per app and per tenant:
// writes (POST, DELETE) count against the write and request windows, reads
// (every GET, the name lists included) only against the request windows.
// Write windows and Retry-After deadlines are per Intune service
// ([graph.Kind.Service]), as Graph's limits are: writes to scripts never
// throttle writes to device configurations. [Server.SetWriteLimits]
// changes a service's limits while the server runs.
// Faults on demand from a seeded random source: 503/504, connection resets
// before or after a write is applied, random 429 storms, latency with
// jitter. Every error answer is Graph-shaped
// ({"error":{"code","message","innerError"}}) with request-id,
// client-request-id and Date headers.
//
// The tenant of a request is the tid claim of its bearer token when the
// token is JWT-shaped (signatures are not checked), else the [TenantHeader]
// header, else "default". The app is the appid (or azp) claim, else "app".
//
// # Seeding and inspection from Go
//
// [Server.SeedGroup], [Server.SeedFilter] and [Server.SeedPolicy] add named
// objects with new ids ([Server.AddGroup], [Server.AddFilter],
// [Server.AddPolicy] with chosen ids); [Server.Seed] and
// [Server.SeedInherited] add assignments. [Server.RawAssignments] is what
// Graph holds, property for property (beta rendering);
// [Server.AssignCalls] counts /assign calls per policy; [Server.Stats],
// [Server.MaxWritesInWindow], [Server.EarlyWrites] … let tests assert what
// a client did.
//
// # Admin API
//
// The same server answers JSON under /_sim/, a prefix Graph never uses, so
// that users of `bulkassign sim` and the demo can set tenants up from
// outside. No authentication, no throttling, no faults, not counted.
// Errors are {"error":{"code","message"}} with 400 or 404.
//
//	POST /_sim/tenants/{tenant}/groups       {"displayName":"…","id":"<guid, optional>"}
//	                                         → 201 {"id","displayName"}
//	POST /_sim/tenants/{tenant}/filters      {"displayName":"…","platform":"windows10AndLater","id":"<optional>"}
//	                                         → 201 {"id","displayName","platform"}
//	POST /_sim/tenants/{tenant}/policies     {"kind":"deviceCompliancePolicies","displayName":"…","id":"<optional>"}
//	                                         → 201 {"id","kind","displayName"}
//	POST /_sim/tenants/{tenant}/assignments  {"kind":"…","policyId":"…","assignment":{<Graph beta object>}}
//	                                         → 201 the assignment as beta lists it; an object with
//	                                           "source":"policySets","sourceId":"…" is inherited
//	GET  /_sim/tenants/{tenant}/assignments?kind=K&policyId=P
//	                                         → 200 {"value":[beta objects],"assignCalls":n}
//	GET  /_sim/stats                         → 200 [Stats] as JSON
//	POST /_sim/reset                         → 204, [Server.Reset]
//
// {tenant} is a tenant GUID, a domain or "default".
//
// # Identity provider
//
// [IdentityProvider] is a token endpoint that azidentity accepts
// (client-credentials flow, per-tenant JWT-shaped tokens), so tests can run
// the real credential code against loopback.
package graphsim
