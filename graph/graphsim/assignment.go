package graphsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bulkassign/bulkassign/graph"
)

// Property names and values as Graph spells them.
const (
	propFilterID   = "deviceAndAppManagementAssignmentFilterId"
	propFilterType = "deviceAndAppManagementAssignmentFilterType"
	propODataType  = "@odata.type"
	propSource     = "source"
	propSourceID   = "sourceId"
	propTarget     = "target"
	sourceDirect   = "direct"
	sourcePolicy   = "policySets"
	sourceEnum     = "deviceAndAppManagementAssignmentSource"
)

// stored is one assignment of a policy as Graph holds it: every property it
// was written with, whatever API version it is later read through.
type stored struct {
	id string
	// target is the modelled view of the target (for ids and validation);
	// Type is the Graph type name for target types bulkassign does not
	// model (seeded only).
	target graph.Target
	// targetProps are the target's properties as written, @odata.type
	// included (with '#').
	targetProps map[string]json.RawMessage
	// props are the other properties as written (intent, settings, …):
	// never @odata.type, id, source, sourceId or target.
	props map[string]json.RawMessage
	// inherited marks an assignment that comes from a policy set
	// (source policySets, sourceID the set's id).
	inherited bool
	sourceID  string
}

// render spells st as Graph lists it in API version v: only the properties
// the version's metadata gives the kind's assignment type and the target's
// type. Beta shows source (direct or policySets, sourceId for the latter)
// where the type has it, and the filter properties of every target (null
// and "none" when unset); v1.0 shows neither.
func (st *stored) render(k *graph.Kind, v string) json.RawMessage {
	allowed, _ := metadata.entityProps(v, typeName(k.AssignmentType))
	var o jsonObject
	o.value(propODataType, k.AssignmentType)
	o.value("id", st.id)
	for _, p := range allowed {
		switch p {
		case propTarget:
		case propSource:
			o.value(p, map[bool]string{false: sourceDirect, true: sourcePolicy}[st.inherited])
		case propSourceID:
			if st.inherited {
				o.value(p, st.sourceID)
			}
		default:
			if raw, ok := st.props[p]; ok {
				o.raw(p, raw)
			}
		}
	}
	o.raw(propTarget, st.renderTarget(v))
	return o.bytes()
}

// renderTarget spells the target in version v.
func (st *stored) renderTarget(v string) json.RawMessage {
	var o jsonObject
	o.raw(propODataType, st.targetProps[propODataType])
	var allowed []string
	known := isModelled(st.target.Type)
	if known {
		allowed, known = metadata.targetProps(v, typeName(st.target.Type.ODataType()))
	}
	if !known { // a seeded target type bulkassign does not model: as held
		for _, p := range slices.Sorted(maps.Keys(st.targetProps)) {
			if p != propODataType {
				o.raw(p, st.targetProps[p])
			}
		}
		return o.bytes()
	}
	for _, p := range allowed {
		raw, ok := st.targetProps[p]
		switch {
		case ok:
			o.raw(p, raw)
		case p == propFilterID:
			o.raw(p, json.RawMessage("null"))
		case p == propFilterType:
			o.value(p, graph.FilterNone)
		}
	}
	return o.bytes()
}

// jsonObject writes a JSON object with its keys in the order added.
type jsonObject struct{ buf bytes.Buffer }

// raw adds a key with an already encoded, compact value.
func (o *jsonObject) raw(key string, val json.RawMessage) {
	if o.buf.Len() == 0 {
		o.buf.WriteByte('{')
	} else {
		o.buf.WriteByte(',')
	}
	k, _ := json.Marshal(key) // a string always marshals
	o.buf.Write(k)
	o.buf.WriteByte(':')
	o.buf.Write(val)
}

// value adds a key with a value to encode (strings and other plain values).
func (o *jsonObject) value(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the plain values passed here
		panic(fmt.Sprintf("graphsim: encode %s: %v", key, err))
	}
	o.raw(key, b)
}

// bytes closes the object and returns it.
func (o *jsonObject) bytes() json.RawMessage {
	if o.buf.Len() == 0 {
		return json.RawMessage("{}")
	}
	o.buf.WriteByte('}')
	return o.buf.Bytes()
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

// unknownProperty is Graph's refusal of a property the type lacks.
func unknownProperty(prop, typ string) error {
	return bodyErrorf("The property '%s' does not exist on type 'microsoft.graph.%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", clip(prop), typ)
}

// written is one assignment object of a request body, checked.
type written struct {
	st *stored
	// bodyID is the id the body gave ("" when none).
	bodyID string
	// claimsInherited is set when the body said source policySets (an
	// inherited entry re-posted as read).
	claimsInherited bool
}

// decodeAssignment checks one assignment object the way Graph does for kind
// k in version v: only properties the version's metadata gives the type
// (and @odata.type, id), a modelled target with only its type's properties,
// the kind's rules (ids, filters, intent). inAssign relaxes the rules for
// /assign elements: @odata.type may be absent and source may be policySets
// (a create of an inherited assignment is refused). source and sourceId are
// not kept: what a client writes is direct.
func decodeAssignment(k *graph.Kind, v, policyID string, raw json.RawMessage, inAssign bool) (written, error) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil || props == nil {
		return written{}, bodyErrorf("an assignment must be a JSON object")
	}
	entity := typeName(k.AssignmentType)
	allowed, _ := metadata.entityProps(v, entity)
	for p := range props {
		if p != propODataType && p != "id" && !slices.Contains(allowed, p) {
			return written{}, unknownProperty(p, entity)
		}
	}
	var w written
	odataType, err := optionalString(props, propODataType)
	switch {
	case err != nil:
		return written{}, err
	case odataType == nil && !inAssign:
		return written{}, bodyErrorf("@odata.type is required (%s)", k.AssignmentType)
	case odataType != nil && typeName(*odataType) != entity:
		return written{}, bodyErrorf("a resource of type '%s' cannot be written to a collection of '%s'", clip(*odataType), entity)
	}
	if id, err := optionalString(props, "id"); err != nil {
		return written{}, err
	} else if id != nil {
		w.bodyID = *id
	}
	if src, err := optionalString(props, propSource); err != nil {
		return written{}, err
	} else if src != nil {
		switch {
		case !metadata.inEnum(v, sourceEnum, *src):
			return written{}, bodyErrorf("source '%s' is not one of direct, policySets", clip(*src))
		case *src == sourcePolicy && !inAssign:
			return written{}, bodyErrorf("assignments from policy sets cannot be created directly")
		}
		w.claimsInherited = *src == sourcePolicy
	}
	t, targetProps, err := decodeTarget(v, props[propTarget])
	if err != nil {
		return written{}, err
	}
	a := graph.Assignment{Target: t}
	if k.NeedsIntent {
		intent, err := optionalString(props, "intent")
		if err != nil {
			return written{}, err
		}
		if intent != nil {
			if *intent == "" {
				return written{}, bodyErrorf("intent must not be empty")
			}
			a.Intent = *intent
		}
	}
	if err := k.Validate(a, v); err != nil {
		return written{}, bodyErrorf("%v", err)
	}
	rest := make(map[string]json.RawMessage, len(props))
	for p, val := range props {
		switch p {
		case propODataType, "id", propSource, propSourceID, propTarget:
		default:
			rest[p] = compact(val)
		}
	}
	w.st = &stored{id: assignmentID(policyID, t), target: t, targetProps: targetProps, props: rest}
	return w, nil
}

// optionalString reads a string property; nil when absent or null.
func optionalString(props map[string]json.RawMessage, p string) (*string, error) {
	raw, ok := props[p]
	if !ok {
		return nil, nil
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, bodyErrorf("property '%s' must be a string", clip(p))
	}
	return s, nil
}

// compact returns raw without insignificant white space.
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil { // raw came from a successful Unmarshal
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}

// decodeTarget reads the target object: a modelled @odata.type (with or
// without '#'), only the properties the type has in version v (filters only
// in beta), string ids. It returns the target and its properties as
// written, @odata.type spelt with '#'.
func decodeTarget(v string, raw json.RawMessage) (graph.Target, map[string]json.RawMessage, error) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil || props == nil {
		return graph.Target{}, nil, bodyErrorf("target is required and must be a JSON object")
	}
	odataType, err := optionalString(props, propODataType)
	if err != nil || odataType == nil || *odataType == "" {
		return graph.Target{}, nil, bodyErrorf("target @odata.type is required")
	}
	tt, ok := modelledTarget(*odataType)
	if !ok {
		return graph.Target{}, nil, bodyErrorf("target type '%s' is not a known assignment target", clip(*odataType))
	}
	name := typeName(tt.ODataType())
	allowed, _ := metadata.targetProps(v, name)
	t := graph.Target{Type: tt}
	kept := make(map[string]json.RawMessage, len(props))
	for p, val := range props {
		if p == propODataType {
			continue
		}
		if !slices.Contains(allowed, p) {
			return graph.Target{}, nil, unknownProperty(p, name)
		}
		s, err := optionalString(props, p)
		if err != nil {
			return graph.Target{}, nil, bodyErrorf("target property '%s' must be a string", p)
		}
		kept[p] = compact(val)
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
	kept[propODataType], _ = json.Marshal(tt.ODataType())
	return t, kept, nil
}

// modelledTargets are the target types bulkassign models.
var modelledTargets = []graph.TargetType{graph.TargetGroup, graph.TargetExclusionGroup, graph.TargetAllDevices, graph.TargetAllLicensedUsers, graph.TargetConfigMgrCollection}

// isModelled reports whether tt is a modelled target type.
func isModelled(tt graph.TargetType) bool { return slices.Contains(modelledTargets, tt) }

// modelledTarget matches an exact Graph target type name, '#' optional.
func modelledTarget(s string) (graph.TargetType, bool) {
	for _, tt := range modelledTargets {
		if strings.TrimPrefix(s, "#") == strings.TrimPrefix(tt.ODataType(), "#") {
			return tt, true
		}
	}
	return "", false
}

// seedStored builds a stored assignment from a seeded object, as Graph
// would hold it: property names are checked against the beta metadata (the
// superset), values are kept as given; a target type bulkassign does not
// model is kept whole. source policySets makes it inherited.
func seedStored(k *graph.Kind, policyID string, raw json.RawMessage, id string) (*stored, error) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil || props == nil {
		return nil, errors.New("an assignment must be a JSON object")
	}
	entity := typeName(k.AssignmentType)
	allowed, _ := metadata.entityProps(graph.Beta, entity)
	for p := range props {
		if p != propODataType && p != "id" && !slices.Contains(allowed, p) {
			return nil, fmt.Errorf("property %q does not exist on %s in beta", p, entity)
		}
	}
	if ot, err := optionalString(props, propODataType); err != nil || (ot != nil && typeName(*ot) != entity) {
		return nil, fmt.Errorf("@odata.type must be %s", k.AssignmentType)
	}
	a, err := graph.ParseAssignment(raw)
	if err != nil {
		return nil, err
	}
	var targetProps map[string]json.RawMessage
	if err := json.Unmarshal(props[propTarget], &targetProps); err != nil || targetProps == nil {
		return nil, errors.New("target is required and must be a JSON object")
	}
	if isModelled(a.Target.Type) {
		allowedT, _ := metadata.targetProps(graph.Beta, typeName(a.Target.Type.ODataType()))
		for p := range targetProps {
			if p != propODataType && !slices.Contains(allowedT, p) {
				return nil, fmt.Errorf("property %q does not exist on target %s in beta", p, a.Target.Type)
			}
		}
		targetProps[propODataType], _ = json.Marshal(a.Target.Type.ODataType())
	}
	for p, val := range targetProps {
		targetProps[p] = compact(val)
	}
	st := &stored{id: id, target: a.Target, targetProps: targetProps, props: map[string]json.RawMessage{}}
	if st.id == "" {
		st.id = a.ID
	}
	if st.id == "" {
		st.id = assignmentID(policyID, a.Target)
	}
	for p, val := range props {
		switch p {
		case propODataType, "id", propSource, propSourceID, propTarget:
		default:
			st.props[p] = compact(val)
		}
	}
	switch a.Source {
	case "", sourceDirect:
	case sourcePolicy:
		st.inherited = true
		sid, err := optionalString(props, propSourceID)
		if err != nil {
			return nil, err
		}
		if sid != nil {
			st.sourceID = *sid
		}
	default:
		return nil, fmt.Errorf("source %q is not one of direct, policySets", a.Source)
	}
	return st, nil
}

// clip keeps client-supplied text in messages short.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
