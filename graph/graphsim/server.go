package graphsim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
)

// Server is the Graph simulator. Its methods are safe for concurrent use.
type Server struct {
	cfg       Config                   // defaults filled; fixed after New
	routes    map[string][]*graph.Kind // "root/collection" (lower case) → kinds
	notRouted map[string]bool          // kind names whose create is not routed

	mu       sync.Mutex
	rng      *rand.Rand
	faults   Faults
	raMode   RetryAfterMode
	raValue  time.Duration
	dup      DuplicateMode
	hs       *httptest.Server   // set by StartLoopback
	policies map[string]*policy // "tenant|kind|policy"
	routeErr map[string]bool    // normalised policy ids
	missing  map[string]bool    // normalised policy ids
	rejected map[string]bool    // bearer tokens

	appWrites, tenantWrites     map[string]*window // "tenant|app", "tenant"
	appRequests, tenantRequests map[string]*window
	accepted                    map[string][]time.Time // tenant → accepted write instants
	deadline                    map[string]retryWindow // tenant → the last Retry-After given
	early                       map[string]int
	status                      map[int]int
	stats                       Stats
}

// retryWindow is a Retry-After given to a tenant: when, and until when.
type retryWindow struct {
	given, until time.Time
}

// policy is the assignment set of one policy, in insertion order.
type policy struct {
	order []string
	byID  map[string]*stored
}

// Stats are the simulator's counters since it started or was last reset.
type Stats struct {
	// Requests is every request answered or reset (401s included).
	Requests int
	// Writes is every POST that passed authentication and routing.
	Writes int
	// CreatesApplied is the assignments created, through create or assign.
	CreatesApplied int
	// DuplicateCreates is the creates that hit an existing assignment id.
	DuplicateCreates int
	// Throttled is the 429 answers, window and random.
	Throttled int
	// EarlyWrites is the writes that arrived before a Retry-After given to
	// their tenant had run out (all tenants).
	EarlyWrites int
	// Faults is the injected 503/504 answers; ResetsBefore and ResetsAfter
	// the injected connection resets.
	Faults, ResetsBefore, ResetsAfter int
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
		cfg:       cfg,
		routes:    make(map[string][]*graph.Kind),
		notRouted: make(map[string]bool),
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		faults:    cfg.Faults().withDefaults(),
		raMode:    cfg.RetryAfter,
		raValue:   cfg.RetryAfterValue,
		dup:       cfg.Duplicate,
	}
	for _, k := range graph.Kinds() {
		key := strings.ToLower(k.Root + "/" + k.Collection)
		s.routes[key] = append(s.routes[key], k)
	}
	for _, n := range cfg.NotRouted {
		k, _ := graph.LookupKind(n) // validated above
		s.notRouted[k.Name] = true
	}
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

// Handler returns the simulator's HTTP handler, for use with any
// http.Server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Reset clears every assignment, counter, window, Retry-After deadline,
// route error, missing policy and rejected token. Faults and modes stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.policies = make(map[string]*policy)
	s.routeErr = make(map[string]bool)
	s.missing = make(map[string]bool)
	s.rejected = make(map[string]bool)
	s.appWrites = make(map[string]*window)
	s.tenantWrites = make(map[string]*window)
	s.appRequests = make(map[string]*window)
	s.tenantRequests = make(map[string]*window)
	s.accepted = make(map[string][]time.Time)
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

// Seed stores assignments on a policy without counting them as creates, as
// if they had existed before the test. An entry with Raw is stored exactly
// as Raw (use it for policySets entries or unmodelled targets); others are
// built from their Target and Intent and get the deterministic id. Entries
// replace existing ones with the same id.
func (s *Server) Seed(tenant, kind, policyID string, set ...graph.Assignment) error {
	k, err := graph.LookupKind(kind)
	if err != nil {
		return fmt.Errorf("graphsim: seed: %w", err)
	}
	if err := graph.ValidatePolicyID(policyID); err != nil {
		return fmt.Errorf("graphsim: seed: %w", err)
	}
	pid := normPolicy(policyID)
	entries := make([]*stored, 0, len(set))
	for _, a := range set {
		var st *stored
		if len(a.Raw) > 0 {
			st, err = keepAsGiven(pid, a.Raw, &a.ID)
		} else {
			st, err = seedEntry(k, pid, a)
		}
		if err != nil {
			return fmt.Errorf("graphsim: seed: %w", err)
		}
		entries = append(entries, st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policyLocked(strings.ToLower(tenant), k, pid)
	for _, st := range entries {
		p.put(st)
	}
	return nil
}

// seedEntry builds a stored assignment from a, validated in beta (or the
// kind's only version).
func seedEntry(k *graph.Kind, pid string, a graph.Assignment) (*stored, error) {
	v := k.DefaultVersion(true)
	if !k.HasVersion(v) {
		v = k.Versions[0]
	}
	if err := k.Validate(a, v); err != nil {
		return nil, err
	}
	t := a.Target
	if t.FilterType == graph.FilterNone {
		t.FilterType = ""
	}
	return &stored{id: assignmentID(pid, t), target: t, intent: a.Intent}, nil
}

// Assignments returns the assignments of a policy in tenant, in order, as
// Graph lists them in beta (every kind exists in beta). kind is a registry
// name; tenant and policy id are matched case-insensitively.
func (s *Server) Assignments(tenant, kind, policyID string) []graph.Assignment {
	k, err := graph.LookupKind(kind)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policies[policyKey(strings.ToLower(tenant), k, normPolicy(policyID))]
	if p == nil {
		return nil
	}
	return p.assignments(k)
}

// AllAssignments returns every non-empty policy's assignments keyed
// "tenant|kind|policy" (tenant lower case, kind as in the registry, policy
// id with its GUID part lower case).
func (s *Server) AllAssignments() map[string][]graph.Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]graph.Assignment, len(s.policies))
	for key, p := range s.policies {
		if len(p.order) == 0 {
			continue
		}
		kindName := strings.Split(key, "|")[1]
		k, _ := graph.LookupKind(kindName)
		out[key] = p.assignments(k)
	}
	return out
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
	out := make(map[int]int, len(s.status))
	for k, v := range s.status {
		out[k] = v
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// MaxWritesInWindow returns, per tenant, the largest number of accepted
// writes (writes that passed throttling, whatever their outcome) that fell
// in any sliding window of length Window. A client that respects the limit
// keeps it at or below TenantWriteLimit (and AppWriteLimit with one app).
func (s *Server) MaxWritesInWindow() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.accepted))
	for tenant, ts := range s.accepted {
		out[tenant] = maxInWindow(ts, s.cfg.Window)
	}
	return out
}

// EarlyWrites returns, per tenant, the writes that arrived before a
// Retry-After this server had given the tenant ran out. Each was throttled
// again. A client that honours Retry-After keeps it at zero.
func (s *Server) EarlyWrites() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.early))
	for k, v := range s.early {
		out[k] = v
	}
	return out
}

// policyLocked returns the policy's set, creating it.
func (s *Server) policyLocked(tenant string, k *graph.Kind, pid string) *policy {
	key := policyKey(tenant, k, pid)
	p := s.policies[key]
	if p == nil {
		p = &policy{byID: make(map[string]*stored)}
		s.policies[key] = p
	}
	return p
}

// put adds st, or replaces the entry with its id in place.
func (p *policy) put(st *stored) {
	if _, ok := p.byID[st.id]; !ok {
		p.order = append(p.order, st.id)
	}
	p.byID[st.id] = st
}

// assignments parses the set as listed in beta.
func (p *policy) assignments(k *graph.Kind) []graph.Assignment {
	out := make([]graph.Assignment, 0, len(p.order))
	for _, id := range p.order {
		a, err := graph.ParseAssignment(p.byID[id].render(k, graph.Beta))
		if err != nil { // cannot happen: render writes valid JSON
			continue
		}
		out = append(out, a)
	}
	return out
}

// page returns the entries [off, off+n) rendered in v, and whether more follow.
func (p *policy) page(k *graph.Kind, v string, off, n int) ([]any, bool) {
	if p == nil || off >= len(p.order) {
		return []any{}, false
	}
	end := min(off+n, len(p.order))
	out := make([]any, 0, end-off)
	for _, id := range p.order[off:end] {
		out = append(out, p.byID[id].render(k, v))
	}
	return out, end < len(p.order)
}

func policyKey(tenant string, k *graph.Kind, pid string) string {
	return tenant + "|" + k.Name + "|" + pid
}

// normPolicy lower-cases the GUID part of a policy id; invalid ids are
// only lower-cased (they never match a stored policy).
func normPolicy(id string) string {
	if n, err := graph.NormalizePolicyID(id); err == nil {
		return n
	}
	return strings.ToLower(id)
}
