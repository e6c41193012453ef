package graphsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bulkassign/bulkassign/graph"
)

// Target property names as Graph spells them.
const (
	propFilterID   = "deviceAndAppManagementAssignmentFilterId"
	propFilterType = "deviceAndAppManagementAssignmentFilterType"
	sourceDirect   = "direct"
	sourcePolicy   = "policySets"
)

// Properties an assignment and its target may carry; Graph rejects others.
var (
	assignmentProps = map[string]bool{"@odata.type": true, "id": true, "source": true, "sourceId": true, "intent": true, "settings": true, "target": true}
	targetProps     = map[string]bool{"@odata.type": true, "groupId": true, "collectionId": true, propFilterID: true, propFilterType: true}
)

// stored is one assignment of a policy as the simulator keeps it,
// independent of API version.
type stored struct {
	id       string
	target   graph.Target
	intent   string
	settings json.RawMessage
	// raw, when set, is an entry kept exactly as a client sent it (a
	// policySets entry re-sent through /assign); it is listed unchanged.
	raw json.RawMessage
}

// wireOut is an assignment as the simulator lists it.
type wireOut struct {
	ODataType string          `json:"@odata.type"`
	ID        string          `json:"id"`
	Intent    string          `json:"intent,omitempty"`
	Settings  json.RawMessage `json:"settings,omitempty"`
	Source    string          `json:"source"`
	Target    map[string]any  `json:"target"`
}

// render spells st in API version v: beta targets carry the filter
// properties (null and "none" when unset), v1.0 targets have none.
func (st *stored) render(k *graph.Kind, v string) json.RawMessage {
	if st.raw != nil {
		return st.raw
	}
	t := map[string]any{"@odata.type": st.target.Type.ODataType()}
	if st.target.GroupID != "" {
		t["groupId"] = st.target.GroupID
	}
	if st.target.CollectionID != "" {
		t["collectionId"] = st.target.CollectionID
	}
	if v == graph.Beta {
		if st.target.FilterID != "" {
			t[propFilterID] = st.target.FilterID
			t[propFilterType] = st.target.FilterType
		} else {
			t[propFilterID] = nil
			t[propFilterType] = graph.FilterNone
		}
	}
	b, err := json.Marshal(wireOut{
		ODataType: k.AssignmentType, ID: st.id, Intent: st.intent,
		Settings: st.settings, Source: sourceDirect, Target: t,
	})
	if err != nil { // cannot happen: every field marshals
		panic(fmt.Sprintf("graphsim: render assignment: %v", err))
	}
	return b
}

// assignmentID is the deterministic id Graph gives an assignment:
// {policyId}_{groupId}, {policyId}_{collectionId}, {policyId}_allDevices,
// {policyId}_allLicensedUsers. policyID is already normalised.
func assignmentID(policyID string, t graph.Target) string {
	switch {
	case t.GroupID != "":
		return policyID + "_" + strings.ToLower(t.GroupID)
	case t.CollectionID != "":
		return policyID + "_" + strings.ToUpper(t.CollectionID)
	default:
		return policyID + "_" + string(t.Type)
	}
}

// errBody is a request body Graph would refuse; its text is the message of
// the 400 answer.
var errBody = errors.New("invalid body")

// bodyErrorf returns an error wrapping errBody.
func bodyErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBody}, args...)...)
}

// decodeAssignment checks one assignment object the way Graph does for kind
// k in version v and returns it as stored. inAssign relaxes the rules for
// /assign elements: @odata.type may be absent and entries whose source is
// policySets are kept as given.
func decodeAssignment(k *graph.Kind, v, policyID string, raw json.RawMessage, inAssign bool) (*stored, error) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil || props == nil {
		return nil, bodyErrorf("an assignment must be a JSON object")
	}
	typeName := strings.TrimPrefix(k.AssignmentType, "#")
	for p := range props {
		if !assignmentProps[p] {
			return nil, bodyErrorf("the property '%s' does not exist on type '%s'", clip(p), typeName)
		}
	}
	var w struct {
		ODataType *string         `json:"@odata.type"`
		ID        *string         `json:"id"`
		Source    *string         `json:"source"`
		Intent    *string         `json:"intent"`
		Settings  json.RawMessage `json:"settings"`
		Target    json.RawMessage `json:"target"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bodyErrorf("cannot read the assignment: %v", err)
	}
	switch {
	case w.ODataType == nil && !inAssign:
		return nil, bodyErrorf("@odata.type is required (%s)", k.AssignmentType)
	case w.ODataType != nil && strings.TrimPrefix(*w.ODataType, "#") != typeName:
		return nil, bodyErrorf("a resource of type '%s' cannot be written to a collection of '%s'", clip(*w.ODataType), typeName)
	}
	if w.Source != nil {
		switch *w.Source {
		case sourceDirect:
		case sourcePolicy:
			if !inAssign {
				return nil, bodyErrorf("assignments from policy sets cannot be created directly")
			}
			return keepAsGiven(policyID, raw, w.ID)
		default:
			return nil, bodyErrorf("source '%s' is not one of direct, policySets", clip(*w.Source))
		}
	}
	t, err := decodeTarget(v, w.Target)
	if err != nil {
		return nil, err
	}
	a := graph.Assignment{Target: t}
	if w.Intent != nil {
		a.Intent = *w.Intent
		if a.Intent == "" {
			return nil, bodyErrorf("intent must not be empty")
		}
	}
	if err := k.Validate(a, v); err != nil {
		return nil, bodyErrorf("%v", err)
	}
	settings := bytes.TrimSpace(w.Settings)
	if bytes.Equal(settings, []byte("null")) {
		settings = nil
	}
	return &stored{id: assignmentID(policyID, t), target: t, intent: a.Intent, settings: settings}, nil
}

// keepAsGiven stores a policySets entry exactly as sent.
func keepAsGiven(policyID string, raw json.RawMessage, id *string) (*stored, error) {
	a, err := graph.ParseAssignment(raw)
	if err != nil {
		return nil, bodyErrorf("%v", err)
	}
	st := &stored{target: a.Target, raw: append(json.RawMessage(nil), raw...)}
	if id != nil && *id != "" {
		st.id = *id
	} else {
		st.id = assignmentID(policyID, a.Target)
	}
	return st, nil
}

// decodeTarget reads the target object: a modelled @odata.type (with or
// without '#'), string ids, filter properties only in beta.
func decodeTarget(v string, raw json.RawMessage) (graph.Target, error) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil || props == nil {
		return graph.Target{}, bodyErrorf("target is required and must be a JSON object")
	}
	var odataType string
	if err := json.Unmarshal(props["@odata.type"], &odataType); err != nil || odataType == "" {
		return graph.Target{}, bodyErrorf("target @odata.type is required")
	}
	tt, ok := modelledTarget(odataType)
	if !ok {
		return graph.Target{}, bodyErrorf("target type '%s' is not a known assignment target", clip(odataType))
	}
	typeName := strings.TrimPrefix(tt.ODataType(), "#")
	t := graph.Target{Type: tt}
	for p, val := range props {
		if !targetProps[p] || (v != graph.Beta && (p == propFilterID || p == propFilterType)) {
			return graph.Target{}, bodyErrorf("the property '%s' does not exist on type '%s'", clip(p), typeName)
		}
		if p == "@odata.type" {
			continue
		}
		var s *string
		if err := json.Unmarshal(val, &s); err != nil {
			return graph.Target{}, bodyErrorf("target property '%s' must be a string", p)
		}
		if s == nil {
			continue
		}
		switch p {
		case "groupId":
			t.GroupID = *s
		case "collectionId":
			t.CollectionID = *s
		case propFilterID:
			t.FilterID = *s
		case propFilterType:
			t.FilterType = *s
		}
	}
	if t.FilterID == "" && t.FilterType == graph.FilterNone {
		t.FilterType = ""
	}
	return t, nil
}

// modelledTarget matches an exact Graph target type name, '#' optional.
func modelledTarget(s string) (graph.TargetType, bool) {
	s = strings.TrimPrefix(s, "#")
	for _, tt := range []graph.TargetType{graph.TargetGroup, graph.TargetExclusionGroup, graph.TargetAllDevices, graph.TargetAllLicensedUsers, graph.TargetConfigMgrCollection} {
		if s == strings.TrimPrefix(tt.ODataType(), "#") {
			return tt, true
		}
	}
	return "", false
}

// clip keeps client-supplied text in messages short.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
