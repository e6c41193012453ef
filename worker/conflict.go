package worker

import (
	"strings"

	"github.com/bulkassign/bulkassign/graph"
)

// conflictMessage says what Graph holds for a row's target and what the
// row asks, e.g. "policy already assigns group G with filter F (include);
// row asks no filter".
func conflictMessage(have, want graph.Assignment) string {
	return "policy already assigns " + targetName(have.Target) + " with " + settings(have) + "; row asks " + settings(want)
}

// targetName names a target in words.
func targetName(t graph.Target) string {
	switch t.Type {
	case graph.TargetGroup:
		return "group " + t.GroupID
	case graph.TargetExclusionGroup:
		return "exclusion group " + t.GroupID
	case graph.TargetAllDevices:
		return "all devices"
	case graph.TargetAllLicensedUsers:
		return "all licensed users"
	case graph.TargetConfigMgrCollection:
		return "collection " + t.CollectionID
	}
	return string(t.Type)
}

// settings describes an assignment's filter and, when it has one, its
// intent.
func settings(a graph.Assignment) string {
	parts := []string{"no filter"}
	if id, typ := a.Target.Filter(); id != "" {
		parts[0] = "filter " + id + " (" + typ + ")"
	}
	if a.Intent != "" {
		parts = append(parts, "intent "+a.Intent)
	}
	return strings.Join(parts, " and ")
}
