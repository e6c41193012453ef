package ingest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Column names: a public contract (CSV header and queue message fields).
const (
	ColTenant     = "tenant_id"
	ColKind       = "kind"
	ColPolicy     = "policy_id"
	ColTarget     = "target"
	ColGroup      = "group_id"
	ColCollection = "collection_id"
	ColFilter     = "filter_id"
	ColFilterType = "filter_type"
	ColIntent     = "intent"
	ColAPIVersion = "api_version"
	// ColGroupName, ColFilterName and ColPolicyName name a group, filter or
	// policy by display name instead of id; a row gives one or the other.
	ColGroupName  = "group_name"
	ColFilterName = "filter_name"
	ColPolicyName = "policy_name"
	// ColAction is "add" (the default) or "remove".
	ColAction = "action"
)

// Columns returns the known column names in their documented order.
func Columns() []string {
	return []string{ColTenant, ColKind, ColPolicy, ColTarget, ColGroup, ColCollection,
		ColFilter, ColFilterType, ColIntent, ColAPIVersion,
		ColGroupName, ColFilterName, ColPolicyName, ColAction}
}

// intentList names the install intents in messages; TestIntentList keeps it
// in step with graph.ParseIntent.
const intentList = "available, required, uninstall, availableWithoutEnrollment"

// rawRow is one row as read, before validation.
type rawRow struct {
	Tenant     string `csv:"tenant_id" json:"tenant_id"`
	Kind       string `csv:"kind" json:"kind"`
	Policy     string `csv:"policy_id" json:"policy_id"`
	Target     string `csv:"target" json:"target"`
	Group      string `csv:"group_id" json:"group_id"`
	Collection string `csv:"collection_id" json:"collection_id"`
	Filter     string `csv:"filter_id" json:"filter_id"`
	FilterType string `csv:"filter_type" json:"filter_type"`
	Intent     string `csv:"intent" json:"intent"`
	APIVersion string `csv:"api_version" json:"api_version"`
	GroupName  string `csv:"group_name" json:"group_name"`
	FilterName string `csv:"filter_name" json:"filter_name"`
	PolicyName string `csv:"policy_name" json:"policy_name"`
	Action     string `csv:"action" json:"action"`
}

// trim trims spaces around every value.
func (r *rawRow) trim() {
	for _, p := range []*string{&r.Tenant, &r.Kind, &r.Policy, &r.Target, &r.Group, &r.Collection,
		&r.Filter, &r.FilterType, &r.Intent, &r.APIVersion, &r.GroupName, &r.FilterName, &r.PolicyName, &r.Action} {
		*p = strings.TrimSpace(*p)
	}
}

// fieldTooLong reports the first field over MaxFieldLen (for messages; CSV
// records are checked field by field, unknown columns included).
func (r *rawRow) fieldTooLong() *RowError {
	for _, f := range []struct{ col, v string }{
		{ColTenant, r.Tenant}, {ColKind, r.Kind}, {ColPolicy, r.Policy}, {ColTarget, r.Target},
		{ColGroup, r.Group}, {ColCollection, r.Collection}, {ColFilter, r.Filter},
		{ColFilterType, r.FilterType}, {ColIntent, r.Intent}, {ColAPIVersion, r.APIVersion},
		{ColGroupName, r.GroupName}, {ColFilterName, r.FilterName}, {ColPolicyName, r.PolicyName}, {ColAction, r.Action},
	} {
		if len(f.v) > MaxFieldLen {
			return tooLong(f.col, len(f.v))
		}
	}
	return nil
}

func tooLong(col string, n int) *RowError {
	return &RowError{Column: col, Reason: fmt.Sprintf("field too long: %d bytes (max %d)", n, MaxFieldLen)}
}

// quote quotes a value for a message, truncated so that an overlong value
// cannot flood a report.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

func rowErr(col, format string, args ...any) *RowError {
	return &RowError{Column: col, Reason: fmt.Sprintf(format, args...)}
}

// build validates a trimmed row and returns its job (without ImportID and
// Row), or the first failing column. defTenant is the normalised default
// tenant ("" for none); unresolved allows names and removals
// ([Options.AllowUnresolved]).
func build(r rawRow, defTenant string, unresolved bool) (jobs.Job, *RowError) {
	var j jobs.Job

	// tenant_id
	switch {
	case r.Tenant != "":
		t, err := graph.NormalizeTenant(r.Tenant)
		if err != nil {
			return j, rowErr(ColTenant, "not a tenant id (a GUID or a domain name): %s", quote(r.Tenant))
		}
		j.Tenant = t
	case defTenant != "":
		j.Tenant = defTenant
	default:
		return j, rowErr(ColTenant, "missing (and no default tenant given)")
	}

	// kind
	if r.Kind == "" {
		return j, rowErr(ColKind, "missing")
	}
	k, err := graph.LookupKind(r.Kind)
	if err != nil {
		return j, rowErr(ColKind, "unknown kind %s", quote(r.Kind))
	}
	j.Kind = k.Name

	// policy_id, policy_name
	switch {
	case r.PolicyName != "":
		if rerr := checkName(ColPolicy, r.Policy, ColPolicyName, r.PolicyName, unresolved); rerr != nil {
			return j, rerr
		}
		j.PolicyName = r.PolicyName
	case r.Policy == "":
		return j, rowErr(ColPolicy, "missing")
	default:
		p, err := graph.NormalizePolicyID(r.Policy)
		if err != nil {
			return j, rowErr(ColPolicy, "not a policy id (a GUID or {guid}_Suffix): %s", quote(r.Policy))
		}
		j.PolicyID = p
	}

	// target
	if r.Target == "" {
		return j, rowErr(ColTarget, "missing")
	}
	t, err := graph.ParseTargetType(r.Target)
	if err != nil {
		return j, rowErr(ColTarget, "unknown target type %s", quote(r.Target))
	}
	if !k.AllowsTarget(t) {
		return j, rowErr(ColTarget, "target %s is not allowed for kind %s (allowed: %s)", t, k.Name, targetNames(k.Targets))
	}
	j.Target = t

	// group_id, group_name
	switch {
	case r.GroupName != "" && !t.NeedsGroup():
		return j, rowErr(ColGroupName, "not allowed for target %s", t)
	case r.GroupName != "":
		if rerr := checkName(ColGroup, r.Group, ColGroupName, r.GroupName, unresolved); rerr != nil {
			return j, rerr
		}
		j.GroupName = r.GroupName
	case t.NeedsGroup() && r.Group == "":
		return j, rowErr(ColGroup, "missing (target %s needs a group)", t)
	case t.NeedsGroup():
		g, err := graph.NormalizeGUID(r.Group)
		if err != nil {
			return j, rowErr(ColGroup, "not a GUID: %s", quote(r.Group))
		}
		j.GroupID = g
	case r.Group != "":
		return j, rowErr(ColGroup, "not allowed for target %s", t)
	}

	// collection_id
	switch {
	case t.NeedsCollection() && r.Collection == "":
		return j, rowErr(ColCollection, "missing (target %s needs a collection)", t)
	case t.NeedsCollection():
		if !isCollectionID(r.Collection) {
			return j, rowErr(ColCollection, "not a Configuration Manager collection id (e.g. SMS00001): %s", quote(r.Collection))
		}
		j.CollectionID = strings.ToUpper(r.Collection)
	case r.Collection != "":
		return j, rowErr(ColCollection, "not allowed for target %s", t)
	}

	// filter_id, filter_name, filter_type
	filterCol := ColFilter
	switch {
	case r.FilterName != "":
		if rerr := checkName(ColFilter, r.Filter, ColFilterName, r.FilterName, unresolved); rerr != nil {
			return j, rerr
		}
		j.FilterName, filterCol = r.FilterName, ColFilterName
	case r.Filter != "":
		f, err := graph.NormalizeGUID(r.Filter)
		if err != nil {
			return j, rowErr(ColFilter, "not a GUID: %s", quote(r.Filter))
		}
		j.FilterID = f
	}
	hasFilter := j.FilterID != "" || j.FilterName != ""
	ft := strings.ToLower(r.FilterType)
	switch {
	case ft == "" || ft == graph.FilterNone:
		if hasFilter {
			return j, rowErr(ColFilterType, "missing (a %s needs include or exclude)", filterCol)
		}
	case ft == graph.FilterInclude || ft == graph.FilterExclude:
		if !hasFilter {
			return j, rowErr(ColFilterType, "%s needs a filter_id", ft)
		}
		j.FilterType = ft
	default:
		return j, rowErr(ColFilterType, "must be include or exclude, not %s", quote(r.FilterType))
	}

	// api_version
	switch strings.ToLower(r.APIVersion) {
	case "":
		j.APIVersion = k.DefaultVersion(hasFilter)
	case graph.V1, "v1":
		j.APIVersion = graph.V1
	case graph.Beta:
		j.APIVersion = graph.Beta
	default:
		return j, rowErr(ColAPIVersion, "unsupported API version %s (v1.0 or beta)", quote(r.APIVersion))
	}
	if !k.HasVersion(j.APIVersion) {
		return j, rowErr(ColAPIVersion, "kind %s does not exist in %s (has %s)", k.Name, j.APIVersion, strings.Join(k.Versions, ", "))
	}
	if hasFilter && j.APIVersion != graph.Beta {
		return j, rowErr(ColAPIVersion, "assignment filters exist only in beta, not %s", j.APIVersion)
	}

	// intent
	switch {
	case k.NeedsIntent && r.Intent == "":
		return j, rowErr(ColIntent, "missing (kind %s needs one of %s)", k.Name, intentList)
	case k.NeedsIntent:
		in, err := graph.ParseIntent(r.Intent)
		if err != nil {
			return j, rowErr(ColIntent, "not one of %s: %s", intentList, quote(r.Intent))
		}
		j.Intent = in
	case r.Intent != "":
		return j, rowErr(ColIntent, "not allowed for kind %s", k.Name)
	}

	// action
	switch strings.ToLower(r.Action) {
	case "", jobs.ActionAdd:
	case jobs.ActionRemove:
		if !unresolved {
			return j, rowErr(ColAction, "remove is not supported by this command (bulkassign plan shows what a removal would do)")
		}
		j.Action = jobs.ActionRemove
	default:
		return j, rowErr(ColAction, "must be add or remove, not %s", quote(r.Action))
	}

	// Backstop: the registry's own rules, so that ingest never emits a job
	// the worker would reject. A name stands in for its id as a well-formed
	// placeholder until resolution fills the id in.
	a := j.Assignment()
	if j.GroupName != "" {
		a.Target.GroupID = placeholderID
	}
	if j.FilterName != "" {
		a.Target.FilterID = placeholderID
	}
	if err := k.Validate(a, j.APIVersion); err != nil {
		return j, &RowError{Column: backstopColumn(err), Reason: strings.TrimPrefix(err.Error(), graph.ErrInvalidAssignment.Error()+": ")}
	}
	j.Key = j.ComputeKey()
	return j, nil
}

// placeholderID stands in for an id given as a name in the backstop check.
const placeholderID = "00000000-0000-0000-0000-000000000000"

// checkName checks a name column given instead of the id column: not both,
// allowed by the command, and a name that may be sent to Graph.
func checkName(idCol, id, nameCol, name string, unresolved bool) *RowError {
	switch {
	case id != "":
		return rowErr(nameCol, "give %s or %s, not both", idCol, nameCol)
	case !unresolved:
		return rowErr(nameCol, "names are resolved by bulkassign plan; this command needs %s", idCol)
	}
	if err := graph.ValidateName(name); err != nil {
		return rowErr(nameCol, "not a usable display name: %s", strings.TrimPrefix(err.Error(), graph.ErrInvalidName.Error()+": "))
	}
	return nil
}

// backstopColumn picks the column a graph validation error is most about.
func backstopColumn(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "group id"):
		return ColGroup
	case strings.Contains(msg, "collection id"):
		return ColCollection
	case strings.Contains(msg, "filter type"):
		return ColFilterType
	case strings.Contains(msg, "filter"):
		return ColFilter
	case strings.Contains(msg, "intent"):
		return ColIntent
	case strings.Contains(msg, "API version"):
		return ColAPIVersion
	case errors.Is(err, graph.ErrInvalidID):
		return ColPolicy
	default:
		return ColTarget
	}
}

func targetNames(ts []graph.TargetType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// isCollectionID accepts Configuration Manager collection ids: a three
// character site code and five hex digits ("SMS00001"). graph.Kind.Validate
// checks the same rule as the backstop.
func isCollectionID(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < 8; i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		hex := '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
		if (i < 3 && !alnum) || (i >= 3 && !hex) {
			return false
		}
	}
	return true
}
