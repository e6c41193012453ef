package graphsim

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/bulkassign/bulkassign/graph"
)

// apply performs a routed, admitted request.
func (s *Server) apply(r *http.Request, rq *request, rt route, body []byte) *reply {
	switch rt.op {
	case opList:
		s.mu.Lock()
		items := s.policies[policyKey(rq.tenant, rt.kind, rt.policy)].rendered(rt.kind, rt.version)
		s.mu.Unlock()
		return s.page(r, rq, items)
	case opCreate:
		return s.create(rq, rt, body)
	case opAssign:
		return s.assign(rq, rt, body)
	case opDelete:
		return s.remove(rq, rt)
	}
	s.mu.Lock()
	d := s.dirLocked(rq.tenant)
	var (
		all           []entry
		typ, nameProp string
		props         []string
	)
	switch rt.op {
	case opGroups:
		all, typ, nameProp, props = d.groupEntries(), "group", "displayName", []string{"id", "displayName"}
	case opFilters:
		all, typ, nameProp, props = d.filterEntries(), "deviceAndAppManagementAssignmentFilter", "displayName", []string{"id", "displayName", "platform"}
	default: // opPolicies
		nameProp = nameProperty(rt.kind)
		all, typ, props = d.policyEntries(rt.kind), rt.kind.Collection, []string{"id", nameProp}
	}
	s.mu.Unlock()
	return s.listEntries(r, rq, typ, nameProp, props, all)
}

// routeError is Graph's answer for a route it does not serve.
func routeError(rq *request, k *graph.Kind, template, method, suffix string) *reply {
	return errorReply(rq, http.StatusBadRequest, CodeRouteNotSupported,
		"No OData route exists that match template "+template+" with http verb "+method+" for request /"+k.Root+"/"+k.Collection+"/{id}/assignments"+suffix+".")
}

func (s *Server) create(rq *request, rt route, body []byte) *reply {
	s.mu.Lock()
	notRouted := s.notRouted[rt.kind.Name] || s.routeErr[rt.policy]
	s.mu.Unlock()
	if notRouted {
		return routeError(rq, rt.kind, "~/singleton/navigation/key/navigation", http.MethodPost, "")
	}
	w, err := decodeAssignment(rt.kind, rt.version, rt.policy, body, false)
	if err != nil {
		return errorReply(rq, http.StatusBadRequest, CodeBadRequest, bodyMessage(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policyLocked(rq.tenant, rt.kind, rt.policy)
	if existing, ok := p.byID[w.st.id]; ok {
		s.stats.DuplicateCreates++
		if s.dup == DuplicateReturnExisting {
			return jsonReply(http.StatusCreated, existing.render(rt.kind, rt.version))
		}
		return errorReply(rq, http.StatusConflict, CodeConflict, "An assignment with id "+w.st.id+" already exists.")
	}
	p.put(w.st)
	s.stats.CreatesApplied++
	return jsonReply(http.StatusCreated, w.st.render(rt.kind, rt.version))
}

// assign replaces the policy's direct assignments with the body's set.
// Inherited assignments stay unless the body re-posts one (same id or
// target, or source policySets): that one becomes direct and is counted.
func (s *Server) assign(rq *request, rt route, body []byte) *reply {
	key := rt.kind.AssignKey
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "The body must be a JSON object with the key '"+key+"'.")
	}
	for k := range in {
		if k != key {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "The parameter '"+clip(k)+"' in the request payload is not a valid parameter for the operation 'assign'.")
		}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(in[key], &items); err != nil || items == nil {
		return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "The parameter '"+key+"' must be an array.")
	}
	set := make([]written, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, raw := range items {
		w, err := decodeAssignment(rt.kind, rt.version, rt.policy, raw, true)
		if err != nil {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, key+"["+strconv.Itoa(i)+"]: "+bodyMessage(err))
		}
		if seen[w.st.id] {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, key+"["+strconv.Itoa(i)+"]: duplicate target (assignment id "+w.st.id+").")
		}
		seen[w.st.id] = true
		set = append(set, w)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := policyKey(rq.tenant, rt.kind, rt.policy)
	p := s.policyLocked(rq.tenant, rt.kind, rt.policy)
	reposted := make(map[string]bool)
	for _, w := range set {
		if id := p.inheritedMatch(w); id != "" {
			reposted[id] = true
			s.stats.InheritedReposted++
		} else if w.claimsInherited {
			s.stats.InheritedReposted++
		} else if _, ok := p.byID[w.st.id]; !ok {
			s.stats.CreatesApplied++
		}
	}
	next := newPolicy()
	for _, id := range p.order {
		if st := p.byID[id]; st.inherited && !reposted[id] {
			next.put(st)
		}
	}
	for _, w := range set {
		next.put(w.st)
	}
	*p = *next
	s.assignCalls[pk]++
	if !rt.kind.AssignReturnsValue {
		return &reply{status: http.StatusNoContent, header: http.Header{}}
	}
	b, _ := json.Marshal(map[string]any{"value": p.rendered(rt.kind, rt.version)})
	return jsonReply(http.StatusOK, b)
}

// remove deletes one direct assignment where Graph routes DELETE.
func (s *Server) remove(rq *request, rt route) *reply {
	if s.deleteNotRouted[rt.kind.Name] {
		return routeError(rq, rt.kind, "~/singleton/navigation/key/navigation/key", http.MethodDelete, "/{id}")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policies[policyKey(rq.tenant, rt.kind, rt.policy)]
	id := p.find(rt.item)
	if id == "" {
		return errorReply(rq, http.StatusNotFound, CodeNotFound, "The assignment '"+clip(rt.item)+"' was not found.")
	}
	if st := p.byID[id]; st.inherited {
		return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "The assignment '"+id+"' comes from policy set '"+st.sourceID+"'; remove it from the policy set.")
	}
	p.remove(id)
	s.stats.DeletesApplied++
	return &reply{status: http.StatusNoContent, header: http.Header{}}
}
