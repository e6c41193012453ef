package graphsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/bulkassign/bulkassign/graph"
)

// adminPrefix is the path prefix of the admin API; Graph never uses it.
const adminPrefix = "/_sim/"

// adminHandler routes the admin API (see the package documentation).
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_sim/tenants/{tenant}/groups", s.adminGroup)
	mux.HandleFunc("POST /_sim/tenants/{tenant}/filters", s.adminFilter)
	mux.HandleFunc("POST /_sim/tenants/{tenant}/policies", s.adminPolicy)
	mux.HandleFunc("POST /_sim/tenants/{tenant}/assignments", s.adminSeed)
	mux.HandleFunc("GET /_sim/tenants/{tenant}/assignments", s.adminAssignments)
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		adminError(w, http.StatusNotFound, "no admin route "+r.Method+" "+clip(r.URL.Path))
	})
	return mux
}

// adminError answers an admin request with {"error":{"code","message"}}.
func adminError(w http.ResponseWriter, status int, msg string) {
	code := CodeBadRequest
	if status == http.StatusNotFound {
		code = CodeNotFound
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// adminTenant reads and checks the {tenant} path value: a GUID, a domain
// or "default"; lower-cased.
func adminTenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	t := strings.ToLower(r.PathValue("tenant"))
	if t != DefaultTenant && graph.ValidateTenant(t) != nil {
		adminError(w, http.StatusBadRequest, "tenant "+clip(t)+" is not a GUID, a domain or "+DefaultTenant)
		return "", false
	}
	return t, true
}

// adminRead decodes a JSON body into v (unknown fields refused).
func adminRead(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

// adminAdd runs one of the Add methods for the admin API: 201 with the
// stored object, or 400.
func adminAdd[T any](w http.ResponseWriter, r *http.Request, add func(tenant string, v T) (T, error)) {
	tenant, ok := adminTenant(w, r)
	if !ok {
		return
	}
	var v T
	if !adminRead(w, r, &v) {
		return
	}
	out, err := add(tenant, v)
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) adminGroup(w http.ResponseWriter, r *http.Request) {
	adminAdd(w, r, s.AddGroup)
}

func (s *Server) adminFilter(w http.ResponseWriter, r *http.Request) {
	adminAdd(w, r, s.AddFilter)
}

func (s *Server) adminPolicy(w http.ResponseWriter, r *http.Request) {
	adminAdd(w, r, s.AddPolicy)
}

// seedRequest is the body of POST /_sim/tenants/{tenant}/assignments.
type seedRequest struct {
	Kind       string          `json:"kind"`
	PolicyID   string          `json:"policyId"`
	Assignment json.RawMessage `json:"assignment"`
}

// adminSeed stores one assignment as given (see [Server.Seed] with Raw) and
// answers its beta rendering.
func (s *Server) adminSeed(w http.ResponseWriter, r *http.Request) {
	tenant, ok := adminTenant(w, r)
	if !ok {
		return
	}
	var req seedRequest
	if !adminRead(w, r, &req) {
		return
	}
	if len(req.Assignment) == 0 {
		adminError(w, http.StatusBadRequest, "assignment is required")
		return
	}
	k, err := graph.LookupKind(req.Kind)
	var st []*stored
	if err == nil {
		st, err = s.seed(tenant, req.Kind, req.PolicyID, "", []graph.Assignment{{Raw: req.Assignment}})
	}
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, st[0].render(k, graph.Beta))
}

// adminAssignments lists what Graph holds for a policy (beta rendering) and
// the /assign calls it got: ?kind=K&policyId=P.
func (s *Server) adminAssignments(w http.ResponseWriter, r *http.Request) {
	tenant, ok := adminTenant(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	kind, pid := q.Get("kind"), q.Get("policyId")
	if _, err := graph.LookupKind(kind); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := graph.ValidatePolicyID(pid); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	value := s.RawAssignments(tenant, kind, pid)
	if value == nil {
		value = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": value, "assignCalls": s.AssignCalls(tenant, kind, pid)})
}
