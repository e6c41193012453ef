package contract

// Column is the name of a column of an input CSV, which is also the name
// of a field of a queue message.
type Column string

// Input columns.
const (
	ColTenant     Column = "tenant_id"
	ColKind       Column = "kind"
	ColPolicy     Column = "policy_id"
	ColTarget     Column = "target"
	ColGroup      Column = "group_id"
	ColCollection Column = "collection_id"
	ColFilter     Column = "filter_id"
	ColFilterType Column = "filter_type"
	ColIntent     Column = "intent"
	ColAPIVersion Column = "api_version"
	// ColGroupName, ColFilterName and ColPolicyName name a group, filter or
	// policy by display name instead of id; a row gives one or the other.
	ColGroupName  Column = "group_name"
	ColFilterName Column = "filter_name"
	ColPolicyName Column = "policy_name"
	// ColAction is "add" (the default) or "remove".
	ColAction Column = "action"
)

// CSVColumns returns the input columns in their documented order.
func CSVColumns() []Column {
	return []Column{ColTenant, ColKind, ColPolicy, ColTarget, ColGroup, ColCollection,
		ColFilter, ColFilterType, ColIntent, ColAPIVersion,
		ColGroupName, ColFilterName, ColPolicyName, ColAction}
}

// ReportColumns returns the columns of a CSV report (and the fields of a
// JSON one), in order: the original 13, then those appended since (the
// row's action and the names it gave, beside the ids they resolved to,
// last).
func ReportColumns() []string {
	return []string{
		"row", "tenant_id", "kind", "policy_id", "target", "group_id", "status",
		"assignment_id", "http_status", "error_code", "error_message", "attempts", "key",
		"filter_id", "filter_type", "intent", "api_version", "duplicate_of",
		string(ColAction), string(ColGroupName), string(ColFilterName), string(ColPolicyName),
	}
}
