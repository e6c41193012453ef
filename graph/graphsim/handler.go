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
	service      graph.Service // of the routed kind; "" for groups and filters
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.admin.ServeHTTP(w, r)
		return
	}
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
	if rt.kind != nil {
		rq.service = rt.kind.Service
	}
	if len(body) > maxBody {
		return s.write(w, rq, errorReply(rq, http.StatusRequestEntityTooLarge, CodeBadRequest, "request body too large"))
	}
	isWrite := r.Method == http.MethodPost || r.Method == http.MethodDelete
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

// gate applies throttling and chooses a fault. Every request that reaches
// it counts against the request windows, throttled or not (Graph counts
// throttled calls too). A write counts against the write windows of its
// Intune service only when it is let through; its later outcome (400, 503,
// reset) does not matter.
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
	if d, ok := s.deadline[rq.deadlineKey()]; ok && now.Before(d.until) {
		if now.Sub(d.given) >= s.cfg.EarlyGrace {
			s.early[rq.tenant]++
			s.stats.EarlyWrites++
		}
		return faultNone, s.throttleLocked(rq, now, d.until.Sub(now), true)
	}
	svcKey := rq.tenant + "|" + string(rq.service)
	appW, tenW := windowOf(s.appWrites, svcKey+"|"+rq.app), windowOf(s.tenantWrites, svcKey)
	appW.prune(cutoff)
	tenW.prune(cutoff)
	lim := s.limitsLocked(rq.service)
	wait = max(wait, appW.wait(now, lim.app, s.cfg.Window), tenW.wait(now, lim.tenant, s.cfg.Window))
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
	acc := s.accepted[rq.tenant]
	if acc == nil {
		acc = make(map[graph.Service][]time.Time)
		s.accepted[rq.tenant] = acc
	}
	acc[rq.service] = append(acc[rq.service], now)
	return f, nil
}

// deadlineKey keys the Retry-After deadlines: per tenant and Intune
// service, as Graph throttles.
func (rq *request) deadlineKey() string { return rq.tenant + "|" + string(rq.service) }

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
		if d := s.deadline[rq.deadlineKey()]; until.After(d.until) {
			s.deadline[rq.deadlineKey()] = retryWindow{given: now, until: until}
		}
	}
	return rep
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
