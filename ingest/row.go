package ingest

import (
	"fmt"
	"strings"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

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
	for _, f := range []struct {
		col contract.Column
		v   string
	}{
		{contract.ColTenant, r.Tenant}, {contract.ColKind, r.Kind}, {contract.ColPolicy, r.Policy}, {contract.ColTarget, r.Target},
		{contract.ColGroup, r.Group}, {contract.ColCollection, r.Collection}, {contract.ColFilter, r.Filter},
		{contract.ColFilterType, r.FilterType}, {contract.ColIntent, r.Intent}, {contract.ColAPIVersion, r.APIVersion},
		{contract.ColGroupName, r.GroupName}, {contract.ColFilterName, r.FilterName}, {contract.ColPolicyName, r.PolicyName}, {contract.ColAction, r.Action},
	} {
		if len(f.v) > MaxFieldLen {
			return tooLong(f.col, len(f.v))
		}
	}
	return nil
}

func tooLong(col contract.Column, n int) *RowError {
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

func rowErr(col contract.Column, format string, args ...any) *RowError {
	return &RowError{Column: col, Reason: fmt.Sprintf(format, args...)}
}

// build validates a trimmed row and returns its job (without ImportID and
// Row), or the first failing column. defTenant is the normalised default
// tenant ("" for none); unresolved allows names and removals
// ([Options.AllowUnresolved]).
func build(r rawRow, defTenant string, unresolved bool) (jobs.Job, *RowError) {
	b := &builder{r: r, defTenant: defTenant, unresolved: unresolved}
	// Column by column, in this order: each step relies on the ones
	// before (the kind, the target, whether there is a filter).
	for _, step := range []func(*builder) *RowError{
		(*builder).tenant, (*builder).kind, (*builder).policy, (*builder).target, (*builder).group,
		(*builder).collection, (*builder).filter, (*builder).apiVersion, (*builder).intent, (*builder).action,
		(*builder).backstop,
	} {
		if rerr := step(b); rerr != nil {
			return b.j, rerr
		}
	}
	b.j.Key = b.j.ComputeKey()
	return b.j, nil
}

// builder is the state of build: the row, the job so far, and what later
// columns depend on.
type builder struct {
	r          rawRow
	defTenant  string
	unresolved bool
	j          jobs.Job
	k          *graph.Kind
	hasFilter  bool
}

// tenant checks tenant_id.
func (b *builder) tenant() *RowError {
	switch {
	case b.r.Tenant != "":
		t, err := graph.NormalizeTenant(b.r.Tenant)
		if err != nil {
			return rowErr(contract.ColTenant, "not a tenant id (a GUID or a domain name): %s", quote(b.r.Tenant))
		}
		b.j.Tenant = t
	case b.defTenant != "":
		b.j.Tenant = b.defTenant
	default:
		return rowErr(contract.ColTenant, "missing (and no default tenant given)")
	}
	return nil
}

// kind checks kind.
func (b *builder) kind() *RowError {
	if b.r.Kind == "" {
		return rowErr(contract.ColKind, "missing")
	}
	k, err := graph.LookupKind(b.r.Kind)
	if err != nil {
		return rowErr(contract.ColKind, "unknown kind %s", quote(b.r.Kind))
	}
	b.k, b.j.Kind = k, k.Name
	return nil
}

// policy checks policy_id and policy_name.
func (b *builder) policy() *RowError {
	switch {
	case b.r.PolicyName != "":
		if rerr := checkName(contract.ColPolicy, b.r.Policy, contract.ColPolicyName, b.r.PolicyName, b.unresolved); rerr != nil {
			return rerr
		}
		b.j.PolicyName = b.r.PolicyName
	case b.r.Policy == "":
		return rowErr(contract.ColPolicy, "missing")
	default:
		p, err := graph.NormalizePolicyID(b.r.Policy)
		if err != nil {
			return rowErr(contract.ColPolicy, "not a policy id (a GUID or {guid}_Suffix): %s", quote(b.r.Policy))
		}
		b.j.PolicyID = p
	}
	return nil
}

// target checks target against the kind.
func (b *builder) target() *RowError {
	if b.r.Target == "" {
		return rowErr(contract.ColTarget, "missing")
	}
	t, err := graph.ParseTargetType(b.r.Target)
	if err != nil {
		return rowErr(contract.ColTarget, "unknown target type %s", quote(b.r.Target))
	}
	if !b.k.AllowsTarget(t) {
		return rowErr(contract.ColTarget, "target %s is not allowed for kind %s (allowed: %s)", t, b.k.Name, targetNames(b.k.Targets))
	}
	b.j.Target = t
	return nil
}

// group checks group_id and group_name against the target.
func (b *builder) group() *RowError {
	r, t := b.r, b.j.Target
	switch {
	case r.GroupName != "" && !t.NeedsGroup():
		return rowErr(contract.ColGroupName, "not allowed for target %s", t)
	case r.GroupName != "":
		if rerr := checkName(contract.ColGroup, r.Group, contract.ColGroupName, r.GroupName, b.unresolved); rerr != nil {
			return rerr
		}
		b.j.GroupName = r.GroupName
	case t.NeedsGroup() && r.Group == "":
		return rowErr(contract.ColGroup, "missing (target %s needs a group)", t)
	case t.NeedsGroup():
		g, err := graph.NormalizeGUID(r.Group)
		if err != nil {
			return rowErr(contract.ColGroup, "not a GUID: %s", quote(r.Group))
		}
		b.j.GroupID = g
	case r.Group != "":
		return rowErr(contract.ColGroup, "not allowed for target %s", t)
	}
	return nil
}

// collection checks collection_id against the target.
func (b *builder) collection() *RowError {
	r, t := b.r, b.j.Target
	switch {
	case t.NeedsCollection() && r.Collection == "":
		return rowErr(contract.ColCollection, "missing (target %s needs a collection)", t)
	case t.NeedsCollection():
		if !isCollectionID(r.Collection) {
			return rowErr(contract.ColCollection, "not a Configuration Manager collection id (e.g. SMS00001): %s", quote(r.Collection))
		}
		b.j.CollectionID = strings.ToUpper(r.Collection)
	case r.Collection != "":
		return rowErr(contract.ColCollection, "not allowed for target %s", t)
	}
	return nil
}

// filter checks filter_id, filter_name and filter_type.
func (b *builder) filter() *RowError {
	r := b.r
	filterCol := contract.ColFilter
	switch {
	case r.FilterName != "":
		if rerr := checkName(contract.ColFilter, r.Filter, contract.ColFilterName, r.FilterName, b.unresolved); rerr != nil {
			return rerr
		}
		b.j.FilterName, filterCol = r.FilterName, contract.ColFilterName
	case r.Filter != "":
		f, err := graph.NormalizeGUID(r.Filter)
		if err != nil {
			return rowErr(contract.ColFilter, "not a GUID: %s", quote(r.Filter))
		}
		b.j.FilterID = f
	}
	b.hasFilter = b.j.FilterID != "" || b.j.FilterName != ""
	ft := strings.ToLower(r.FilterType)
	switch {
	case ft == "" || ft == graph.FilterNone:
		if b.hasFilter {
			return rowErr(contract.ColFilterType, "missing (a %s needs include or exclude)", filterCol)
		}
	case ft == graph.FilterInclude || ft == graph.FilterExclude:
		if !b.hasFilter {
			return rowErr(contract.ColFilterType, "%s needs a filter_id", ft)
		}
		b.j.FilterType = ft
	default:
		return rowErr(contract.ColFilterType, "must be include or exclude, not %s", quote(r.FilterType))
	}
	return nil
}

// apiVersion checks api_version against the kind and the filter.
func (b *builder) apiVersion() *RowError {
	k := b.k
	switch strings.ToLower(b.r.APIVersion) {
	case "":
		b.j.APIVersion = k.DefaultVersion(b.hasFilter)
	case graph.V1, "v1":
		b.j.APIVersion = graph.V1
	case graph.Beta:
		b.j.APIVersion = graph.Beta
	default:
		return rowErr(contract.ColAPIVersion, "unsupported API version %s (v1.0 or beta)", quote(b.r.APIVersion))
	}
	if !k.HasVersion(b.j.APIVersion) {
		return rowErr(contract.ColAPIVersion, "kind %s does not exist in %s (has %s)", k.Name, b.j.APIVersion, strings.Join(k.Versions, ", "))
	}
	if b.hasFilter && b.j.APIVersion != graph.Beta {
		return rowErr(contract.ColAPIVersion, "assignment filters exist only in beta, not %s", b.j.APIVersion)
	}
	return nil
}

// intent checks intent against the kind.
func (b *builder) intent() *RowError {
	k := b.k
	switch {
	case k.NeedsIntent && b.r.Intent == "":
		return rowErr(contract.ColIntent, "missing (kind %s needs one of %s)", k.Name, intentList)
	case k.NeedsIntent:
		in, err := graph.ParseIntent(b.r.Intent)
		if err != nil {
			return rowErr(contract.ColIntent, "not one of %s: %s", intentList, quote(b.r.Intent))
		}
		b.j.Intent = in
	case b.r.Intent != "":
		return rowErr(contract.ColIntent, "not allowed for kind %s", k.Name)
	}
	return nil
}

// action checks action.
func (b *builder) action() *RowError {
	switch strings.ToLower(b.r.Action) {
	case "", jobs.ActionAdd:
	case jobs.ActionRemove:
		if !b.unresolved {
			return rowErr(contract.ColAction, "remove is not supported by this command (bulkassign plan shows what a removal would do)")
		}
		b.j.Action = jobs.ActionRemove
	default:
		return rowErr(contract.ColAction, "must be add or remove, not %s", quote(b.r.Action))
	}
	return nil
}

// backstop checks the job against the registry's own rules, so that
// ingest never emits a job the worker would reject. A name stands in for
// its id as a well-formed placeholder until resolution fills the id in.
// The steps before name the column of every rule they know; the registry's
// error names none, so the row as a whole is at fault.
func (b *builder) backstop() *RowError {
	a := b.j.Assignment()
	if b.j.GroupName != "" {
		a.Target.GroupID = placeholderID
	}
	if b.j.FilterName != "" {
		a.Target.FilterID = placeholderID
	}
	if err := b.k.Validate(a, b.j.APIVersion); err != nil {
		return &RowError{Reason: "not a valid assignment: " + strings.TrimPrefix(err.Error(), graph.ErrInvalidAssignment.Error()+": ")}
	}
	return nil
}

// placeholderID stands in for an id given as a name in the backstop check.
const placeholderID = "00000000-0000-0000-0000-000000000000"

// checkName checks a name column given instead of the id column: not both,
// allowed by the command, and a name that may be sent to Graph.
func checkName(idCol contract.Column, id string, nameCol contract.Column, name string, unresolved bool) *RowError {
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
