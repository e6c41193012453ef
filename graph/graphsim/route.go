package graphsim

import (
	"net/http"
	"strings"

	"github.com/bulkassign/bulkassign/graph"
)

// op is what a routed request asks for.
type op int

const (
	opList     op = iota + 1 // GET  …/{id}/assignments
	opCreate                 // POST …/{id}/assignments
	opAssign                 // POST …/{id}/assign
	opDelete                 // DELETE …/{id}/assignments/{assignmentId}
	opGroups                 // GET /groups
	opFilters                // GET /deviceManagement/assignmentFilters (beta)
	opPolicies               // GET /{root}/{collection}
)

// methods is the Allow header of each operation's path.
func (o op) methods() string {
	switch o {
	case opList, opCreate:
		return "GET, POST"
	case opAssign:
		return http.MethodPost
	case opDelete:
		return http.MethodDelete
	}
	return http.MethodGet
}

// allows reports whether method is accepted on the operation's path.
func (o op) allows(method string) bool {
	for m := range strings.SplitSeq(o.methods(), ", ") {
		if m == method {
			return true
		}
	}
	return false
}

// route is a resolved request path.
type route struct {
	version string
	op      op
	kind    *graph.Kind // assignment operations and policy lists
	policy  string      // normalised policy id (assignment operations)
	item    string      // assignment id (opDelete)
}

// resolve maps the path onto an operation, or returns the error answer:
// 400 for an unknown version, a resource missing from the version or an
// invalid policy id, 404 for an unknown path or policy, 405 for a wrong
// method.
func (s *Server) resolve(r *http.Request, rq *request) (route, *reply) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	version := segs[0]
	if version != graph.V1 && version != graph.Beta {
		return route{}, errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid version: "+clip(version))
	}
	rt, rep := s.match(rq, segs)
	if rep != nil {
		return route{}, rep
	}
	rt.version = version
	if rt.kind != nil && !rt.kind.HasVersion(version) {
		return route{}, segmentNotFound(rq, rt.kind.Collection)
	}
	if !rt.op.allows(r.Method) {
		rep := errorReply(rq, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "The HTTP method '"+clip(r.Method)+"' is not allowed on this resource.")
		rep.header.Set("Allow", rt.op.methods())
		return route{}, rep
	}
	if rt.op == opList && r.Method == http.MethodPost {
		rt.op = opCreate
	}
	if rt.kind == nil || rt.op == opPolicies {
		return rt, nil
	}
	if err := graph.ValidatePolicyID(segs[3]); err != nil {
		return route{}, errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid key '"+clip(segs[3])+"': not a policy id.")
	}
	rt.policy = normPolicy(segs[3])
	s.mu.Lock()
	missing := s.missing[rt.policy]
	s.mu.Unlock()
	if missing {
		return route{}, errorReply(rq, http.StatusNotFound, CodeNotFound, "The policy "+rt.policy+" was not found.")
	}
	return rt, nil
}

// match finds the operation of the path segments after the version.
func (s *Server) match(rq *request, segs []string) (route, *reply) {
	notFound := errorReply(rq, http.StatusNotFound, CodeNotFound, "Resource not found for the segment '"+clip(segs[len(segs)-1])+"'.")
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[1], "groups"):
		return route{op: opGroups}, nil
	case len(segs) == 3 && strings.EqualFold(segs[1], "deviceManagement") && strings.EqualFold(segs[2], "assignmentFilters"):
		if segs[0] != graph.Beta {
			return route{}, segmentNotFound(rq, segs[2])
		}
		return route{op: opFilters}, nil
	case len(segs) < 3:
		return route{}, notFound
	}
	kinds := s.routes[strings.ToLower(segs[1]+"/"+segs[2])]
	if len(segs) == 3 {
		for _, k := range kinds {
			if k.SubPath == "" {
				return route{op: opPolicies, kind: k}, nil
			}
		}
		return route{}, notFound
	}
	if len(segs) < 5 {
		return route{}, notFound
	}
	rest := segs[4:]
	n := len(rest)
	last, mid := rest[n-1], strings.Join(rest[:n-1], "/")
	for _, k := range kinds {
		switch {
		case last == "assignments" && strings.EqualFold(mid, k.SubPath):
			return route{kind: k, op: opList}, nil
		case last == "assign" && k.CanMerge() && strings.EqualFold(mid, joinPath(k.SubPath, k.AssignCast)):
			return route{kind: k, op: opAssign}, nil
		case n >= 2 && rest[n-2] == "assignments" && strings.EqualFold(strings.Join(rest[:n-2], "/"), k.SubPath):
			return route{kind: k, op: opDelete, item: last}, nil
		}
	}
	return route{}, notFound
}

// segmentNotFound is Graph's answer for a path segment the API version
// lacks (its OData model has no such segment).
func segmentNotFound(rq *request, segment string) *reply {
	return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Resource not found for the segment '"+clip(segment)+"'.")
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
