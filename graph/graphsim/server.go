package graphsim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
)

// Server is the Graph simulator. Its methods are safe for concurrent use.
type Server struct {
	cfg             Config                   // defaults filled; fixed after New
	routes          map[string][]*graph.Kind // "root/collection" (lower case) → kinds
	notRouted       map[string]bool          // kind names whose create is not routed
	deleteNotRouted map[string]bool          // kind names whose delete is not routed
	admin           http.Handler             // the /_sim/ API

	mu          sync.Mutex
	rng         *rand.Rand
	faults      Faults
	raMode      RetryAfterMode
	raValue     time.Duration
	dup         DuplicateMode
	hs          *httptest.Server // set by StartLoopback
	policies    map[string]*policy
	assignCalls map[string]int        // policy key → /assign calls applied
	dirs        map[string]*directory // tenant → names
	routeErr    map[string]bool       // normalised policy ids
	missing     map[string]bool       // normalised policy ids
	rejected    map[string]bool       // bearer tokens

	limits                      map[graph.Service]writeLimits            // services whose limits are not AppWriteLimit/TenantWriteLimit
	appWrites, tenantWrites     map[string]*window                       // "tenant|service|app", "tenant|service"
	appRequests, tenantRequests map[string]*window                       // "tenant|app", "tenant"
	accepted                    map[string]map[graph.Service][]time.Time // tenant → service → accepted write instants
	deadline                    map[string]retryWindow                   // "tenant|service" → the last Retry-After given
	early                       map[string]int
	status                      map[int]int
	stats                       Stats
}

// writeLimits are the write limits of one Intune service.
type writeLimits struct {
	app, tenant int // per window, per app per tenant and per tenant
}

// retryWindow is a Retry-After given to a tenant: when, and until when.
type retryWindow struct {
	given, until time.Time
}

// Stats are the simulator's counters since it started or was last reset.
type Stats struct {
	// Requests is every Graph request answered or reset (401s included;
	// the admin API is not counted).
	Requests int `json:"requests"`
	// Writes is every POST or DELETE that passed authentication and
	// routing.
	Writes int `json:"writes"`
	// CreatesApplied is the assignments created, through create or assign.
	CreatesApplied int `json:"createsApplied"`
	// DuplicateCreates is the creates that hit an existing assignment id.
	DuplicateCreates int `json:"duplicateCreates"`
	// DeletesApplied is the assignments removed by DELETE.
	DeletesApplied int `json:"deletesApplied"`
	// InheritedReposted is the /assign elements that re-posted an
	// assignment inherited from a policy set (same id or target, or source
	// policySets): each turned an inherited assignment into a direct one,
	// which breaks the policy set. A faithful merge keeps it at zero.
	InheritedReposted int `json:"inheritedReposted"`
	// Throttled is the 429 answers, window and random.
	Throttled int `json:"throttled"`
	// EarlyWrites is the writes that arrived before a Retry-After given to
	// their tenant had run out (all tenants).
	EarlyWrites int `json:"earlyWrites"`
	// Faults is the injected 503/504 answers; ResetsBefore and ResetsAfter
	// the injected connection resets.
	Faults       int `json:"faults"`
	ResetsBefore int `json:"resetsBefore"`
	ResetsAfter  int `json:"resetsAfter"`
}

// New returns a simulator for cfg, not listening: serve [Server.Handler]
// with any http.Server, or use [StartLoopback]. It panics when cfg.Validate
// fails: a configuration is a programming error, like a bad regexp passed
// to regexp.MustCompile.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:             cfg,
		routes:          make(map[string][]*graph.Kind),
		notRouted:       make(map[string]bool),
		deleteNotRouted: make(map[string]bool),
		rng:             rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		faults:          cfg.Faults().withDefaults(),
		raMode:          cfg.RetryAfter,
		raValue:         cfg.RetryAfterValue,
		dup:             cfg.Duplicate,
		limits:          map[graph.Service]writeLimits{graph.ServiceDevices: {cfg.DevicesAppWriteLimit, cfg.DevicesTenantWriteLimit}},
	}
	for _, k := range graph.Kinds() {
		key := strings.ToLower(k.Root + "/" + k.Collection)
		s.routes[key] = append(s.routes[key], k)
	}
	for _, n := range cfg.NotRouted {
		k, _ := graph.LookupKind(n) // validated above
		s.notRouted[k.Name] = true
	}
	for _, n := range cfg.DeleteNotRouted {
		k, _ := graph.LookupKind(n)
		s.deleteNotRouted[k.Name] = true
	}
	s.admin = s.adminHandler()
	s.resetLocked()
	return s
}

// StartLoopback serves a new simulator on a loopback port (plain HTTP/1.1)
// until [Server.Close].
func StartLoopback(cfg Config) (*Server, error) { return startLoopback(cfg, false) }

// StartLoopbackTLS is [StartLoopback] over TLS with HTTP/2 enabled. Use
// [Server.Client], which trusts the certificate. Over HTTP/2 a connection
// reset fault resets the request's stream rather than the connection.
func StartLoopbackTLS(cfg Config) (*Server, error) { return startLoopback(cfg, true) }

func startLoopback(cfg Config, tls bool) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("graphsim: start: %w", err)
	}
	s := New(cfg)
	hs := httptest.NewUnstartedServer(s.Handler())
	if tls {
		hs.EnableHTTP2 = true
		hs.StartTLS()
	} else {
		hs.Start()
	}
	s.mu.Lock()
	s.hs = hs
	s.mu.Unlock()
	return s, nil
}

// Close stops a server started by [StartLoopback] (waiting for its
// requests to finish) and closes its client's idle connections. It does
// nothing for a server made by [New], and may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs != nil {
		hs.Close()
	}
}

// URL is the base URL of a server started by [StartLoopback], e.g.
// "http://127.0.0.1:41234" (append "/beta/…"); "" for one made by [New].
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		return ""
	}
	return s.hs.URL
}

// Client returns an HTTP client for a server started by [StartLoopback]
// (trusting the TLS certificate); [Server.Close] closes its idle
// connections. nil for a server made by [New].
func (s *Server) Client() *http.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		return nil
	}
	return s.hs.Client()
}

// Handler returns the simulator's HTTP handler (Graph and the admin API),
// for use with any http.Server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Reset clears every assignment, group, filter, named policy, counter,
// window, Retry-After deadline, route error, missing policy and rejected
// token. Faults and modes stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.policies = make(map[string]*policy)
	s.assignCalls = make(map[string]int)
	s.dirs = make(map[string]*directory)
	s.routeErr = make(map[string]bool)
	s.missing = make(map[string]bool)
	s.rejected = make(map[string]bool)
	s.appWrites = make(map[string]*window)
	s.tenantWrites = make(map[string]*window)
	s.appRequests = make(map[string]*window)
	s.tenantRequests = make(map[string]*window)
	s.accepted = make(map[string]map[graph.Service][]time.Time)
	s.deadline = make(map[string]retryWindow)
	s.early = make(map[string]int)
	s.status = make(map[int]int)
	s.stats = Stats{}
}

// SetFaults replaces the fault settings while the server runs. Invalid
// settings (rates outside [0, 1] or adding up to more than 1, negative
// durations) are refused with an error.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("graphsim: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f.withDefaults()
	return nil
}

// Faults returns the current fault settings.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetRetryAfter changes how 429 answers spell Retry-After and, when value is
// positive, fixes the wait of window throttling to value.
func (s *Server) SetRetryAfter(mode RetryAfterMode, value time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raMode, s.raValue = mode, max(value, 0)
}

// SetWriteLimits changes the write limits of one Intune service while the
// server runs: app writes per window per app per tenant, tenant writes per
// window per tenant (all apps). Writes already in a window stay there. A
// limit below 1 is refused with an error.
func (s *Server) SetWriteLimits(service graph.Service, app, tenant int) error {
	if app < 1 || tenant < 1 {
		return fmt.Errorf("graphsim: write limits %d and %d: want at least 1", app, tenant)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[service] = writeLimits{app, tenant}
	return nil
}

// limitsLocked returns the write limits of service.
func (s *Server) limitsLocked(service graph.Service) writeLimits {
	if l, ok := s.limits[service]; ok {
		return l
	}
	return writeLimits{s.cfg.AppWriteLimit, s.cfg.TenantWriteLimit}
}

// SetDuplicateMode changes what a create of an existing id answers.
func (s *Server) SetDuplicateMode(m DuplicateMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dup = m
}

// SetRouteError makes creates on policyID (any tenant, any kind) answer 400
// "No method match route template".
func (s *Server) SetRouteError(policyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routeErr[normPolicy(policyID)] = true
}

// SetMissingPolicy makes every request on policyID (any tenant, any kind)
// answer 404, as for a policy that does not exist.
func (s *Server) SetMissingPolicy(policyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing[normPolicy(policyID)] = true
}

// RejectToken makes requests with this bearer token answer 401
// InvalidAuthenticationToken, as for a revoked or expired token.
func (s *Server) RejectToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[token] = true
}

// CreatesApplied is the number of assignments created, through create or
// assign (an assign counts the ids its set adds).
func (s *Server) CreatesApplied() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.CreatesApplied
}

// CreateCount is [Server.CreatesApplied].
func (s *Server) CreateCount() int { return s.CreatesApplied() }

// DuplicateCreates is the number of creates that hit an existing id.
func (s *Server) DuplicateCreates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.DuplicateCreates
}

// StatusCounts returns the number of answers per HTTP status; connection
// resets are counted under 0.
func (s *Server) StatusCounts() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.status)
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// MaxWritesInWindow returns, per tenant, the largest number of accepted
// writes (writes that passed throttling, whatever their outcome) of one
// Intune service that fell in any sliding window of length Window. Limits
// are per service, so this is the busiest service's figure. A client that
// respects the limit keeps it at or below TenantWriteLimit (and
// AppWriteLimit with one app; twice those for the devices service).
func (s *Server) MaxWritesInWindow() map[string]int {
	return s.MaxWritesInWindowSince(time.Time{})
}

// MaxWritesInWindowSince is [Server.MaxWritesInWindow] counting only the
// writes accepted at or after since (a tenant without any is absent): what a
// client did after a limit changed ([Server.SetWriteLimits]).
func (s *Server) MaxWritesInWindowSince(since time.Time) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.accepted))
	for tenant, services := range s.accepted {
		for _, ts := range services {
			i, _ := slices.BinarySearchFunc(ts, since, time.Time.Compare)
			if i < len(ts) {
				out[tenant] = max(out[tenant], MaxInWindow(ts[i:], s.cfg.Window))
			}
		}
	}
	return out
}

// EarlyWrites returns, per tenant, the writes that arrived before a
// Retry-After this server had given the tenant, for the write's Intune
// service, ran out. Each was throttled again. A client that honours
// Retry-After keeps it at zero.
func (s *Server) EarlyWrites() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.early)
}

// normPolicy lower-cases the GUID part of a policy id; invalid ids are
// only lower-cased (they never match a stored policy).
func normPolicy(id string) string {
	if n, err := graph.NormalizePolicyID(id); err == nil {
		return n
	}
	return strings.ToLower(id)
}
