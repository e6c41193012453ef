package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// TargetType is the short name of an assignment target type.
type TargetType string

// Target types. Their Graph names are "#microsoft.graph.<type>AssignmentTarget".
const (
	TargetGroup               TargetType = "group"
	TargetExclusionGroup      TargetType = "exclusionGroup"
	TargetAllDevices          TargetType = "allDevices"
	TargetAllLicensedUsers    TargetType = "allLicensedUsers"
	TargetConfigMgrCollection TargetType = "configurationManagerCollection"
)

// Filter types (beta only).
const (
	FilterNone    = "none"
	FilterInclude = "include"
	FilterExclude = "exclude"
)

// Install intents of mobile app assignments.
var intents = []string{"available", "required", "uninstall", "availableWithoutEnrollment"}

// ErrInvalidAssignment is wrapped by every body validation failure.
var ErrInvalidAssignment = errors.New("invalid assignment")

var targetTypes = []TargetType{TargetGroup, TargetExclusionGroup, TargetAllDevices, TargetAllLicensedUsers, TargetConfigMgrCollection}

// ODataType is the target's full Graph type name, with '#'.
func (t TargetType) ODataType() string {
	return "#microsoft.graph." + string(t) + "AssignmentTarget"
}

// NeedsGroup reports whether the target carries a groupId.
func (t TargetType) NeedsGroup() bool { return t == TargetGroup || t == TargetExclusionGroup }

// NeedsCollection reports whether the target carries a collectionId.
func (t TargetType) NeedsCollection() bool { return t == TargetConfigMgrCollection }

// ParseTargetType accepts a short name ("group", case-insensitive) or a Graph
// type name with or without '#' ("#microsoft.graph.groupAssignmentTarget").
func ParseTargetType(s string) (TargetType, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	n = strings.TrimPrefix(n, "#")
	n = strings.TrimPrefix(n, "microsoft.graph.")
	n = strings.TrimSuffix(n, "assignmenttarget")
	for _, t := range targetTypes {
		if strings.ToLower(string(t)) == n {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w: unknown target type %q", ErrInvalidAssignment, truncate(s))
}

// Target is where an assignment points.
type Target struct {
	Type         TargetType
	GroupID      string // group and exclusionGroup
	CollectionID string // configurationManagerCollection
	FilterID     string // beta only
	FilterType   string // include or exclude; beta only
}

// Assignment is one assignment of a policy: what bulkassign creates, or what
// Graph lists.
type Assignment struct {
	// ID is Graph's assignment id ("" for one not yet created).
	ID string
	// Target is where it points.
	Target Target
	// Intent is the install intent of mobile app assignments.
	Intent string
	// Source is "direct" or "policySets" as Graph reports it ("" when absent).
	Source string
	// Raw is the object exactly as Graph returned it, re-sent unchanged by
	// merge writes so that properties bulkassign does not model survive.
	Raw json.RawMessage
}

// SameTarget reports whether a and b occupy the same place on a policy:
// the same group (whether included or excluded: Graph keys an assignment
// by its group, {policyId}_{groupId}, so a policy cannot both include and
// exclude one group), or the same target type and collection. Filters and
// intents are not compared.
func (a Assignment) SameTarget(b Assignment) bool {
	if a.Target.Type.NeedsGroup() && b.Target.Type.NeedsGroup() {
		return strings.EqualFold(a.Target.GroupID, b.Target.GroupID)
	}
	return a.Target.Type == b.Target.Type &&
		strings.EqualFold(a.Target.GroupID, b.Target.GroupID) &&
		strings.EqualFold(a.Target.CollectionID, b.Target.CollectionID)
}

// Match is how an assignment a policy holds relates to one asked for.
type Match int

const (
	// MatchNone: they point at different targets.
	MatchNone Match = iota
	// MatchSame: the same target with the same filter (id and type) and the
	// same intent: the assignment asked for exists.
	MatchSame
	// MatchConflict: the same target with another filter or intent. Graph
	// keys an assignment by its target, so both cannot exist.
	MatchConflict
)

// Compare tells whether a, an assignment a policy holds, is the one b asks
// for ([MatchSame]), holds b's place with another target type (include vs
// exclude), filter or intent ([MatchConflict]), or is unrelated
// ([MatchNone]). Ids and intents compare case-insensitively; a filter type
// of none, "" or null, and a filter type without a filter id, all mean no
// filter. b without an intent asks for none in particular (beta lists
// deviceConfiguration assignments with intent "apply").
func (a Assignment) Compare(b Assignment) Match {
	if !a.SameTarget(b) {
		return MatchNone
	}
	aID, aType := a.Target.Filter()
	bID, bType := b.Target.Filter()
	if a.Target.Type == b.Target.Type && aID == bID && aType == bType &&
		(b.Intent == "" || strings.EqualFold(a.Intent, b.Intent)) {
		return MatchSame
	}
	return MatchConflict
}

// Filter returns the target's filter id and type, lower-cased, or two
// empty strings when the target has no filter in effect (no id, or a type
// of none or "").
func (t Target) Filter() (id, typ string) {
	id = strings.ToLower(strings.TrimSpace(t.FilterID))
	typ = strings.ToLower(strings.TrimSpace(t.FilterType))
	if id == "" || typ == "" || typ == FilterNone {
		return "", ""
	}
	return id, typ
}

// Validate checks a against the kind's rules for API version v: target
// allowed, ids present and GUIDs, filter only on beta with a valid type,
// intent present exactly where the kind needs one.
func (k *Kind) Validate(a Assignment, v string) error {
	if !k.HasVersion(v) {
		return fmt.Errorf("%w: kind %s does not exist in API version %q (has %s)", ErrInvalidAssignment, k.Name, truncate(v), strings.Join(k.Versions, ", "))
	}
	t := a.Target
	if !k.AllowsTarget(t.Type) {
		return fmt.Errorf("%w: target %q is not allowed for kind %s", ErrInvalidAssignment, t.Type, k.Name)
	}
	if t.Type.NeedsGroup() {
		if t.GroupID == "" {
			return fmt.Errorf("%w: target %s needs a group id", ErrInvalidAssignment, t.Type)
		}
		if err := ValidateGUID(t.GroupID); err != nil {
			return fmt.Errorf("group id: %w", err)
		}
	} else if t.GroupID != "" {
		return fmt.Errorf("%w: target %s takes no group id", ErrInvalidAssignment, t.Type)
	}
	if t.Type.NeedsCollection() {
		if t.CollectionID == "" {
			return fmt.Errorf("%w: target %s needs a collection id", ErrInvalidAssignment, t.Type)
		}
		if !isCollectionID(t.CollectionID) {
			return fmt.Errorf("%w: collection id %q is not a Configuration Manager collection id", ErrInvalidID, truncate(t.CollectionID))
		}
	} else if t.CollectionID != "" {
		return fmt.Errorf("%w: target %s takes no collection id", ErrInvalidAssignment, t.Type)
	}
	if t.FilterID != "" || (t.FilterType != "" && t.FilterType != FilterNone) {
		if v != Beta {
			return fmt.Errorf("%w: assignment filters exist only in beta, not %s", ErrInvalidAssignment, v)
		}
		if err := ValidateGUID(t.FilterID); err != nil {
			return fmt.Errorf("filter id: %w", err)
		}
		if t.FilterType != FilterInclude && t.FilterType != FilterExclude {
			return fmt.Errorf("%w: filter type must be include or exclude, not %q", ErrInvalidAssignment, truncate(t.FilterType))
		}
	}
	switch {
	case k.NeedsIntent && a.Intent == "":
		return fmt.Errorf("%w: kind %s needs an intent (%s)", ErrInvalidAssignment, k.Name, strings.Join(intents, ", "))
	case k.NeedsIntent && !isIntent(a.Intent):
		return fmt.Errorf("%w: intent %q is not one of %s", ErrInvalidAssignment, truncate(a.Intent), strings.Join(intents, ", "))
	case !k.NeedsIntent && a.Intent != "":
		return fmt.Errorf("%w: kind %s takes no intent", ErrInvalidAssignment, k.Name)
	}
	return nil
}

// ParseIntent returns the canonical spelling of an install intent
// (case-insensitive), or an error.
func ParseIntent(s string) (string, error) {
	for _, i := range intents {
		if strings.EqualFold(i, strings.TrimSpace(s)) {
			return i, nil
		}
	}
	return "", fmt.Errorf("%w: intent %q is not one of %s", ErrInvalidAssignment, truncate(s), strings.Join(intents, ", "))
}

func isIntent(s string) bool {
	for _, i := range intents {
		if i == s {
			return true
		}
	}
	return false
}

// isCollectionID accepts Configuration Manager collection ids: a three
// character site code and five hex digits ("SMS00001", "P0100023").
func isCollectionID(s string) bool {
	if len(s) != 8 || !isAlnum(s[:3]) {
		return false
	}
	for i := 3; i < 8; i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// wireTarget is a target as Graph spells it.
type wireTarget struct {
	ODataType    string `json:"@odata.type"`
	GroupID      string `json:"groupId,omitempty"`
	CollectionID string `json:"collectionId,omitempty"`
	FilterID     string `json:"deviceAndAppManagementAssignmentFilterId,omitempty"`
	FilterType   string `json:"deviceAndAppManagementAssignmentFilterType,omitempty"`
}

// wireAssignment is an assignment as Graph spells it.
type wireAssignment struct {
	ODataType string     `json:"@odata.type,omitempty"`
	ID        string     `json:"id,omitempty"`
	Intent    string     `json:"intent,omitempty"`
	Source    string     `json:"source,omitempty"`
	Target    wireTarget `json:"target"`
}

// Body returns the JSON body of POST …/assignments for a in version v:
// the kind's assignment @odata.type, the target, and intent where needed.
// It validates first.
func (k *Kind) Body(a Assignment, v string) ([]byte, error) {
	w, err := k.wire(a, v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

func (k *Kind) wire(a Assignment, v string) (wireAssignment, error) {
	if err := k.Validate(a, v); err != nil {
		return wireAssignment{}, err
	}
	t := a.Target
	w := wireAssignment{
		ODataType: k.AssignmentType,
		Intent:    a.Intent,
		Target: wireTarget{
			ODataType:    t.Type.ODataType(),
			GroupID:      t.GroupID,
			CollectionID: t.CollectionID,
		},
	}
	if t.FilterID != "" {
		w.Target.FilterID = t.FilterID
		w.Target.FilterType = t.FilterType
	}
	return w, nil
}

// AssignBody returns the JSON body of POST …/assign for the full set:
// existing assignments are re-sent as Graph returned them (Raw), new ones
// are built like [Kind.Body].
func (k *Kind) AssignBody(set []Assignment, v string) ([]byte, error) {
	if !k.CanMerge() {
		return nil, fmt.Errorf("%w: kind %s has no /assign action taking assignments", ErrInvalidAssignment, k.Name)
	}
	items := make([]json.RawMessage, 0, len(set))
	for _, a := range set {
		if len(a.Raw) > 0 {
			items = append(items, a.Raw)
			continue
		}
		b, err := k.Body(a, v)
		if err != nil {
			return nil, err
		}
		items = append(items, b)
	}
	return json.Marshal(map[string][]json.RawMessage{k.AssignKey: items})
}

// ParseAssignment decodes one assignment object as Graph returns it. Target
// types bulkassign does not model are kept with their Graph name as Type so
// that merges re-send them untouched (through Raw).
func ParseAssignment(raw []byte) (Assignment, error) {
	var w wireAssignment
	if err := json.Unmarshal(raw, &w); err != nil {
		return Assignment{}, fmt.Errorf("decode assignment: %w", err)
	}
	tt, err := ParseTargetType(w.Target.ODataType)
	if err != nil {
		tt = TargetType(w.Target.ODataType)
	}
	return Assignment{
		ID: w.ID,
		Target: Target{
			Type:         tt,
			GroupID:      w.Target.GroupID,
			CollectionID: w.Target.CollectionID,
			FilterID:     w.Target.FilterID,
			FilterType:   w.Target.FilterType,
		},
		Intent: w.Intent,
		Source: w.Source,
		Raw:    append(json.RawMessage(nil), raw...),
	}, nil
}
