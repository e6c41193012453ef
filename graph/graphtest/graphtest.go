package graphtest

import (
	"net"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphsim"
)

// Types of package graphsim, under their graphtest names.
type (
	// Server is [graphsim.Server].
	Server = graphsim.Server
	// Config is [graphsim.Config].
	Config = graphsim.Config
	// Faults is [graphsim.Faults].
	Faults = graphsim.Faults
	// Stats is [graphsim.Stats].
	Stats = graphsim.Stats
	// RetryAfterMode is [graphsim.RetryAfterMode].
	RetryAfterMode = graphsim.RetryAfterMode
	// DuplicateMode is [graphsim.DuplicateMode].
	DuplicateMode = graphsim.DuplicateMode
	// IdentityProvider is [graphsim.IdentityProvider].
	IdentityProvider = graphsim.IdentityProvider
	// Group is [graphsim.Group].
	Group = graphsim.Group
	// Filter is [graphsim.Filter].
	Filter = graphsim.Filter
	// Policy is [graphsim.Policy].
	Policy = graphsim.Policy
)

// Constants of package graphsim, under their graphtest names.
const (
	TenantHeader  = graphsim.TenantHeader
	DefaultTenant = graphsim.DefaultTenant
	DefaultApp    = graphsim.DefaultApp

	CodeBadRequest        = graphsim.CodeBadRequest
	CodeNotFound          = graphsim.CodeNotFound
	CodeConflict          = graphsim.CodeConflict
	CodeTooManyRequests   = graphsim.CodeTooManyRequests
	CodeUnauthorized      = graphsim.CodeUnauthorized
	CodeServiceUnavail    = graphsim.CodeServiceUnavail
	CodeGatewayTimeout    = graphsim.CodeGatewayTimeout
	CodeMethodNotAllowed  = graphsim.CodeMethodNotAllowed
	CodeRouteNotSupported = graphsim.CodeRouteNotSupported

	RetryAfterSeconds    = graphsim.RetryAfterSeconds
	RetryAfterFractional = graphsim.RetryAfterFractional
	RetryAfterDate       = graphsim.RetryAfterDate
	RetryAfterAbsent     = graphsim.RetryAfterAbsent

	DuplicateError          = graphsim.DuplicateError
	DuplicateReturnExisting = graphsim.DuplicateReturnExisting

	DefaultClientID     = graphsim.DefaultClientID
	DefaultClientSecret = graphsim.DefaultClientSecret
)

// NoKinds is [graphsim.NoKinds]: Config{NotRouted: NoKinds} routes every
// create. Do not modify it.
var NoKinds = graphsim.NoKinds

// MaxInWindow is [graphsim.MaxInWindow]: the most of the sorted instants ts
// in any half-open interval of length span, as the simulator counts.
func MaxInWindow(ts []time.Time, span time.Duration) int { return graphsim.MaxInWindow(ts, span) }

// New is [graphsim.New]: a simulator not listening (serve its Handler).
func New(cfg Config) *Server { return graphsim.New(cfg) }

// MintToken is [graphsim.MintToken]: a JWT-shaped, unsigned token whose
// claims name the tenant and app.
func MintToken(tenant, appID, audience string, ttl time.Duration) string {
	return graphsim.MintToken(tenant, appID, audience, ttl)
}

// Start serves a new simulator on a loopback port (plain HTTP/1.1) until
// the test ends. It fails the test when cfg is invalid.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	return started(t, graphsim.StartLoopback, cfg)
}

// StartTLS is [Start] over TLS with HTTP/2 enabled. Use [Server.Client],
// which trusts the certificate. Over HTTP/2 a connection reset fault resets
// the request's stream rather than the connection.
func StartTLS(t testing.TB, cfg Config) *Server {
	t.Helper()
	return started(t, graphsim.StartLoopbackTLS, cfg)
}

// started runs a graphsim start function, failing the test on error and
// closing the server when the test ends.
func started(t testing.TB, start func(Config) (*Server, error), cfg Config) *Server {
	t.Helper()
	s, err := start(cfg)
	if err != nil {
		t.Fatalf("graphtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewIdentityProvider starts an identity provider on a loopback TLS port
// until the test ends. It accepts [DefaultClientID] with
// [DefaultClientSecret]; tokens live an hour.
func NewIdentityProvider(t testing.TB) *IdentityProvider {
	t.Helper()
	idp := graphsim.StartIdentityProvider()
	t.Cleanup(idp.Close)
	return idp
}

// ClosedAddr returns a loopback address nothing listens on (a port the
// kernel just handed out, closed again): a Graph or identity endpoint
// that refuses connections.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Client returns a Graph client for the simulator at url: a static token,
// the tenant in [TenantHeader], requests bounded by timeout (0: the
// client's default). It is closed when the test ends.
func Client(t testing.TB, url string, timeout time.Duration) *graph.Client {
	t.Helper()
	c, err := graph.NewClient(graph.Config{BaseURL: url, Tokens: graph.StaticToken("graphtest-token"), TenantHeader: TenantHeader, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
