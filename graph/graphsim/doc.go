// Package graphsim is a Microsoft Graph simulator for Intune assignments,
// served over real HTTP, and a matching identity provider over TLS. It owns
// everything the simulator is (routes, validation, throttling, faults,
// seeding, counters) and imports no testing code, so that the bulkassign
// binary can serve it (`bulkassign sim`, `bulkassign demo`). Package
// graphtest wraps it with helpers that take a testing.TB.
//
// The simulator ([Server]) answers the routes bulkassign uses for every kind
// of the graph registry, in both API versions:
//
//	POST /{version}/{root}/{collection}/{id}[/{sub}]/assignments        create one assignment (201)
//	GET  /{version}/{root}/{collection}/{id}[/{sub}]/assignments        list, paged with @odata.nextLink
//	POST /{version}/{root}/{collection}/{id}[/{sub}][/{cast}]/assign    replace the whole set (200 value or 204)
//
// It validates bodies the way Graph does (assignment and target @odata.type,
// GUIDs, filters only in beta, intents only for mobile apps), gives
// assignments deterministic ids ({policyId}_{groupId}), throttles like Intune
// with exact sliding windows per app and per tenant, and injects faults on
// demand from a seeded random source: 503/504, connection resets before or
// after a write is applied, random 429 storms, latency with jitter. Every
// error answer is Graph-shaped ({"error":{"code","message","innerError"}})
// with request-id, client-request-id and Date headers.
//
// The tenant of a request is the tid claim of its bearer token when the token
// is JWT-shaped (signatures are not checked), else the [TenantHeader] header,
// else "default". The app is the appid (or azp) claim, else "app".
//
// Counters ([Server.Stats], [Server.MaxWritesInWindow], [Server.EarlyWrites],
// …) let tests assert what a client did: how many writes were applied, how
// close it ran to the rate limit, whether it honoured Retry-After.
//
// [IdentityProvider] is a token endpoint that azidentity accepts
// (client-credentials flow, per-tenant JWT-shaped tokens), so tests can run
// the real credential code against loopback.
package graphsim
