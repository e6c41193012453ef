package graphsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/google/uuid"
)

// maxBody bounds request bodies; /assign of a large policy stays far below.
const maxBody = 4 << 20

// op is what a routed request asks for.
type op int

const (
	opList op = iota + 1
	opCreate
	opAssign
)

// route is a resolved request path.
type route struct {
	version string
	kind    *graph.Kind
	policy  string // normalised
	op      op
}

// reply is an answer not yet written, so that a reset-after fault can drop it.
type reply struct {
	status int
	body   []byte
	header http.Header
}

// fault is what the gate decided to do to a write.
type fault int

const (
	faultNone fault = iota
	fault503
	fault504
	faultResetBefore
	faultResetAfter
)

// request is the per-request context passed around the handler.
type request struct {
	id, clientID string
	tenant, app  string
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{id: uuid.NewString(), clientID: r.Header.Get("client-request-id")}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return // client went away
		}
	}
	if !s.delay(r.Context()) {
		return
	}
	status := s.handle(w, r, rq, body)
	s.cfg.Logger.LogAttrs(r.Context(), slog.LevelDebug, "graphsim request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("tenant", rq.tenant),
		slog.String("app", rq.app), slog.Int("status", status), slog.String("request_id", rq.id))
}

// handle answers one request and returns the status written (0 for a reset).
func (s *Server) handle(w http.ResponseWriter, r *http.Request, rq *request, body []byte) int {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return s.write(w, rq, s.unauthorized(rq, "Access token is empty."))
	}
	s.mu.Lock()
	rejected := s.rejected[token]
	s.mu.Unlock()
	if rejected {
		return s.write(w, rq, s.unauthorized(rq, "Access token has expired or is not yet valid."))
	}
	rq.tenant, rq.app = identify(token)
	if rq.tenant == "" {
		h := r.Header.Get(TenantHeader)
		if h == "" {
			rq.tenant = DefaultTenant
		} else if err := graph.ValidateTenant(h); err != nil {
			return s.write(w, rq, errorReply(rq, http.StatusBadRequest, CodeBadRequest, "invalid tenant header"))
		} else {
			rq.tenant = strings.ToLower(h)
		}
	}
	rt, rep := s.resolve(r, rq)
	if rep != nil {
		return s.write(w, rq, rep)
	}
	if len(body) > maxBody {
		return s.write(w, rq, errorReply(rq, http.StatusRequestEntityTooLarge, CodeBadRequest, "request body too large"))
	}
	isWrite := r.Method == http.MethodPost
	f, rep := s.gate(rq, isWrite)
	if rep != nil {
		return s.write(w, rq, rep)
	}
	switch f {
	case fault503:
		return s.write(w, rq, errorReply(rq, http.StatusServiceUnavailable, CodeServiceUnavail, "The service is temporarily unavailable."))
	case fault504:
		return s.write(w, rq, errorReply(rq, http.StatusGatewayTimeout, CodeGatewayTimeout, "The gateway timed out."))
	case faultResetBefore:
		return s.reset(w)
	}
	rep = s.apply(r, rq, rt, body)
	if f == faultResetAfter {
		return s.reset(w)
	}
	return s.write(w, rq, rep)
}

// resolve maps the path onto a kind, version, policy and operation, or
// returns the error answer: 400 for an unknown version, a kind missing from
// the version or an invalid policy id, 404 for an unknown path or policy,
// 405 for a wrong method.
func (s *Server) resolve(r *http.Request, rq *request) (route, *reply) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	version := segs[0]
	if version != graph.V1 && version != graph.Beta {
		return route{}, errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid version: "+clip(version))
	}
	notFound := errorReply(rq, http.StatusNotFound, CodeNotFound, "Resource not found for the segment '"+clip(segs[len(segs)-1])+"'.")
	if len(segs) < 5 {
		return route{}, notFound
	}
	rest := segs[4:]
	last, mid := rest[len(rest)-1], strings.Join(rest[:len(rest)-1], "/")
	var rt route
match:
	for _, k := range s.routes[strings.ToLower(segs[1]+"/"+segs[2])] {
		switch {
		case last == "assignments" && strings.EqualFold(mid, k.SubPath):
			rt = route{kind: k, op: opList}
			if r.Method == http.MethodPost {
				rt.op = opCreate
			}
		case last == "assign" && k.CanMerge() && strings.EqualFold(mid, joinPath(k.SubPath, k.AssignCast)):
			rt = route{kind: k, op: opAssign}
		default:
			continue
		}
		break match
	}
	if rt.kind == nil {
		return route{}, notFound
	}
	if !rt.kind.HasVersion(version) {
		return route{}, errorReply(rq, http.StatusBadRequest, CodeBadRequest,
			"Resource not found for the segment '"+clip(rt.kind.Collection)+"' in API version "+version+".")
	}
	allowed := http.MethodPost
	if rt.op != opAssign {
		allowed = "GET, POST"
	}
	if (rt.op == opAssign && r.Method != http.MethodPost) || (rt.op != opAssign && r.Method != http.MethodGet && r.Method != http.MethodPost) {
		rep := errorReply(rq, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "The HTTP method '"+clip(r.Method)+"' is not allowed on this resource.")
		rep.header.Set("Allow", allowed)
		return route{}, rep
	}
	if err := graph.ValidatePolicyID(segs[3]); err != nil {
		return route{}, errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid key '"+clip(segs[3])+"': not a policy id.")
	}
	rt.version, rt.policy = version, normPolicy(segs[3])
	s.mu.Lock()
	missing := s.missing[rt.policy]
	s.mu.Unlock()
	if missing {
		return route{}, errorReply(rq, http.StatusNotFound, CodeNotFound, "The policy "+rt.policy+" was not found.")
	}
	return rt, nil
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// gate applies throttling and chooses a fault. Every request that reaches
// it counts against the request windows, throttled or not (Graph counts
// throttled calls too). A write counts against the write windows only when
// it is let through; its later outcome (400, 503, reset) does not matter.
func (s *Server) gate(rq *request, isWrite bool) (fault, *reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	cutoff := now.Add(-s.cfg.Window)
	appKey := rq.tenant + "|" + rq.app
	appReq, tenReq := windowOf(s.appRequests, appKey), windowOf(s.tenantRequests, rq.tenant)
	appReq.prune(cutoff)
	tenReq.prune(cutoff)
	appReq.ts = append(appReq.ts, now)
	tenReq.ts = append(tenReq.ts, now)
	var wait time.Duration
	if len(appReq.ts) > s.cfg.AppRequestLimit {
		wait = appReq.wait(now, s.cfg.AppRequestLimit, s.cfg.Window)
	}
	if len(tenReq.ts) > s.cfg.TenantRequestLimit {
		wait = max(wait, tenReq.wait(now, s.cfg.TenantRequestLimit, s.cfg.Window))
	}
	if !isWrite {
		if wait > 0 {
			return faultNone, s.throttleLocked(rq, now, wait, false)
		}
		return faultNone, nil
	}
	s.stats.Writes++
	if d, ok := s.deadline[rq.tenant]; ok && now.Before(d.until) {
		if now.Sub(d.given) >= s.cfg.EarlyGrace {
			s.early[rq.tenant]++
			s.stats.EarlyWrites++
		}
		return faultNone, s.throttleLocked(rq, now, d.until.Sub(now), true)
	}
	appW, tenW := windowOf(s.appWrites, appKey), windowOf(s.tenantWrites, rq.tenant)
	appW.prune(cutoff)
	tenW.prune(cutoff)
	wait = max(wait, appW.wait(now, s.cfg.AppWriteLimit, s.cfg.Window), tenW.wait(now, s.cfg.TenantWriteLimit, s.cfg.Window))
	if wait > 0 {
		if s.raValue > 0 {
			wait = s.raValue
		}
		return faultNone, s.throttleLocked(rq, now, wait, false)
	}
	f := faultNone
	switch u, fs := s.rng.Float64(), s.faults; {
	case u < fs.FaultRate:
		f = fault503
		if s.rng.IntN(2) == 1 {
			f = fault504
		}
		s.stats.Faults++
	case u < fs.FaultRate+fs.ResetBeforeRate:
		f = faultResetBefore
		s.stats.ResetsBefore++
	case u < fs.FaultRate+fs.ResetBeforeRate+fs.ResetAfterRate:
		f = faultResetAfter
		s.stats.ResetsAfter++
	case u < fs.FaultRate+fs.ResetBeforeRate+fs.ResetAfterRate+fs.ThrottleRate:
		d := fs.RetryAfterMin
		if span := fs.RetryAfterMax - fs.RetryAfterMin; span > 0 {
			d += time.Duration(s.rng.Int64N(int64(span) + 1))
		}
		return faultNone, s.throttleLocked(rq, now, d, false)
	}
	appW.ts = append(appW.ts, now)
	tenW.ts = append(tenW.ts, now)
	s.accepted[rq.tenant] = append(s.accepted[rq.tenant], now)
	return f, nil
}

// throttleLocked builds a 429 answer with Retry-After for wait and records
// the deadline it gives the tenant.
func (s *Server) throttleLocked(rq *request, now time.Time, wait time.Duration, again bool) *reply {
	s.stats.Throttled++
	msg := "Too many requests. Please retry after the delay given by Retry-After."
	if again {
		msg = "Too many requests: the previous Retry-After has not run out."
	}
	rep := errorReply(rq, http.StatusTooManyRequests, CodeTooManyRequests, msg)
	if h, until := retryAfter(s.raMode, now, wait); h != "" {
		rep.header.Set("Retry-After", h)
		if d := s.deadline[rq.tenant]; until.After(d.until) {
			s.deadline[rq.tenant] = retryWindow{given: now, until: until}
		}
	}
	return rep
}

// apply performs a routed, admitted request.
func (s *Server) apply(r *http.Request, rq *request, rt route, body []byte) *reply {
	switch rt.op {
	case opList:
		return s.list(r, rq, rt)
	case opCreate:
		return s.create(rq, rt, body)
	default:
		return s.assign(rq, rt, body)
	}
}

func (s *Server) create(rq *request, rt route, body []byte) *reply {
	s.mu.Lock()
	routeErr := s.notRouted[rt.kind.Name] || s.routeErr[rt.policy]
	s.mu.Unlock()
	if routeErr {
		return errorReply(rq, http.StatusBadRequest, CodeRouteNotSupported,
			"No OData route exists that match template ~/singleton/navigation/key/navigation with http verb POST for request /"+rt.kind.Root+"/"+rt.kind.Collection+"/{id}/assignments.")
	}
	st, err := decodeAssignment(rt.kind, rt.version, rt.policy, body, false)
	if err != nil {
		return errorReply(rq, http.StatusBadRequest, CodeBadRequest, bodyMessage(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policyLocked(rq.tenant, rt.kind, rt.policy)
	if existing, ok := p.byID[st.id]; ok {
		s.stats.DuplicateCreates++
		if s.dup == DuplicateReturnExisting {
			return jsonReply(http.StatusCreated, existing.render(rt.kind, rt.version))
		}
		return errorReply(rq, http.StatusConflict, CodeConflict, "An assignment with id "+st.id+" already exists.")
	}
	p.put(st)
	s.stats.CreatesApplied++
	return jsonReply(http.StatusCreated, st.render(rt.kind, rt.version))
}

func (s *Server) assign(rq *request, rt route, body []byte) *reply {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "The body must be a JSON object with the key '"+rt.kind.AssignKey+"'.")
	}
	for key := range in {
		if key != rt.kind.AssignKey {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "The parameter '"+clip(key)+"' in the request payload is not a valid parameter for the operation 'assign'.")
		}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(in[rt.kind.AssignKey], &items); err != nil || items == nil {
		return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "The parameter '"+rt.kind.AssignKey+"' must be an array.")
	}
	set := make([]*stored, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, raw := range items {
		st, err := decodeAssignment(rt.kind, rt.version, rt.policy, raw, true)
		if err != nil {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, rt.kind.AssignKey+"["+strconv.Itoa(i)+"]: "+bodyMessage(err))
		}
		if seen[st.id] {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, rt.kind.AssignKey+"["+strconv.Itoa(i)+"]: duplicate target (assignment id "+st.id+").")
		}
		seen[st.id] = true
		set = append(set, st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policyLocked(rq.tenant, rt.kind, rt.policy)
	next := &policy{byID: make(map[string]*stored, len(set))}
	for _, st := range set {
		if _, ok := p.byID[st.id]; !ok {
			s.stats.CreatesApplied++
		}
		next.put(st)
	}
	*p = *next
	if !rt.kind.AssignReturnsValue {
		return &reply{status: http.StatusNoContent, header: http.Header{}}
	}
	out, _ := p.page(rt.kind, rt.version, 0, len(p.order))
	b, _ := json.Marshal(map[string]any{"value": out})
	return jsonReply(http.StatusOK, b)
}

func (s *Server) list(r *http.Request, rq *request, rt route) *reply {
	off := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid $skiptoken.")
		}
		off = n
	}
	s.mu.Lock()
	items, more := s.policies[policyKey(rq.tenant, rt.kind, rt.policy)].page(rt.kind, rt.version, off, s.cfg.PageSize)
	s.mu.Unlock()
	out := map[string]any{"value": items}
	if more {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		out["@odata.nextLink"] = scheme + "://" + r.Host + r.URL.Path + "?$skiptoken=" + strconv.Itoa(off+s.cfg.PageSize)
	}
	b, _ := json.Marshal(out)
	return jsonReply(http.StatusOK, b)
}

// bodyMessage is the client-facing text of a body validation error.
func bodyMessage(err error) string {
	msg := err.Error()
	if m, ok := strings.CutPrefix(msg, errBody.Error()+": "); ok && errors.Is(err, errBody) {
		msg = m
	}
	return msg
}

// delay waits the configured latency plus jitter; false when the request's
// context ended first.
func (s *Server) delay(ctx context.Context) bool {
	s.mu.Lock()
	d := s.faults.Latency
	if s.faults.Jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(s.faults.Jitter)))
	}
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// write sends rep with the Graph tracing headers and counts its status.
func (s *Server) write(w http.ResponseWriter, rq *request, rep *reply) int {
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	h.Set("request-id", rq.id)
	if rq.clientID != "" {
		h.Set("client-request-id", rq.clientID)
	}
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if rep.body != nil {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	}
	w.WriteHeader(rep.status)
	if rep.body != nil {
		_, _ = w.Write(rep.body)
	}
	s.count(rep.status)
	return rep.status
}

// reset drops the connection without an answer: hijacked and closed with
// SO_LINGER 0 so that the client sees a reset, not a clean end.
func (s *Server) reset(w http.ResponseWriter) int {
	s.count(0)
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return 0
}

func (s *Server) count(status int) {
	s.mu.Lock()
	s.status[status]++
	s.stats.Requests++
	s.mu.Unlock()
}

func (s *Server) unauthorized(rq *request, msg string) *reply {
	rep := errorReply(rq, http.StatusUnauthorized, CodeUnauthorized, msg)
	rep.header.Set("WWW-Authenticate", `Bearer realm="", error="invalid_token"`)
	return rep
}

// errorReply is a Graph-shaped error answer.
func errorReply(rq *request, status int, code, msg string) *reply {
	var inner struct {
		RequestID       string `json:"request-id"`
		Date            string `json:"date"`
		ClientRequestID string `json:"client-request-id,omitempty"`
	}
	if rq != nil {
		inner.RequestID, inner.ClientRequestID = rq.id, rq.clientID
	}
	inner.Date = time.Now().UTC().Format(time.RFC3339)
	body := map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}}
	b, _ := json.Marshal(body)
	return &reply{status: status, body: b, header: http.Header{}}
}

func jsonReply(status int, b []byte) *reply {
	return &reply{status: status, body: b, header: http.Header{}}
}

// identify reads the tenant (tid) and app (appid, else azp) claims of a
// JWT-shaped token without verifying it. tenant is "" when the token is not
// a JWT with a tid claim.
func identify(token string) (tenant, app string) {
	app = DefaultApp
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", app
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", app
	}
	var c struct {
		Tid   string `json:"tid"`
		AppID string `json:"appid"`
		Azp   string `json:"azp"`
	}
	if json.NewDecoder(bytes.NewReader(payload)).Decode(&c) != nil {
		return "", app
	}
	switch {
	case c.AppID != "":
		app = c.AppID
	case c.Azp != "":
		app = c.Azp
	}
	return strings.ToLower(c.Tid), app
}
