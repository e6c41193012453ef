package graph

import "strings"

// ConflictMessage says what Graph holds in the place of an assignment asked
// for and what was asked, e.g. "policy already assigns group G with filter
// F (include); row asks no filter" (for a [MatchConflict]).
func ConflictMessage(have, want Assignment) string {
	return "policy already assigns " + targetName(have.Target) + " with " + settings(have) + "; row asks " + settings(want)
}

// targetName names a target in words.
func targetName(t Target) string {
	switch t.Type {
	case TargetGroup:
		return "group " + t.GroupID
	case TargetExclusionGroup:
		return "exclusion group " + t.GroupID
	case TargetAllDevices:
		return "all devices"
	case TargetAllLicensedUsers:
		return "all licensed users"
	case TargetConfigMgrCollection:
		return "collection " + t.CollectionID
	}
	return string(t.Type)
}

// settings describes an assignment's filter and, when it has one, its
// intent.
func settings(a Assignment) string {
	parts := []string{"no filter"}
	if id, typ := a.Target.Filter(); id != "" {
		parts[0] = "filter " + id + " (" + typ + ")"
	}
	if a.Intent != "" {
		parts = append(parts, "intent "+a.Intent)
	}
	return strings.Join(parts, " and ")
}
