// Package graphtest starts the Graph simulator of package graphsim (and its
// identity provider) for tests: [Start], [StartTLS] and
// [NewIdentityProvider] take a testing.TB, serve on loopback and stop when
// the test ends. Everything else is graphsim's, re-exported under the names
// tests have always used (graphtest.Config, graphtest.Server,
// graphtest.TenantHeader, …); see graphsim for what the simulator does.
// Production code (bulkassign sim, demo) imports graphsim, never this
// package, so that the binary does not link the testing package.
package graphtest
