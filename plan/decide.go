package plan

import (
	"strings"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Decision is what applying a row would do. The values are a public
// contract (the plan file's "decision").
type Decision string

// Decisions.
const (
	// Create: the assignment is not in Graph; apply creates it.
	Create Decision = "create"
	// Exists: Graph already has this assignment, with the same filter and
	// intent; apply leaves it.
	Exists Decision = "exists"
	// Remove: the row removes an assignment Graph has, exactly as the row
	// describes it; apply deletes it.
	Remove Decision = "remove"
	// Absent: the row removes an assignment Graph does not have; nothing to
	// do.
	Absent Decision = "absent"
	// Duplicate: an earlier row of the file asks for the same thing
	// (DuplicateOf names it).
	Duplicate Decision = "duplicate"
	// Conflict: Graph (or an earlier row) has the same target with another
	// filter, filter type, intent or target type, or the assignment is
	// inherited from a policy set; nothing is changed.
	Conflict Decision = "conflict"
	// Invalid: the row fails validation.
	Invalid Decision = "invalid"
	// Unresolved: a name matches no object or several in the tenant, or the
	// policy does not exist there.
	Unresolved Decision = "unresolved"
	// Failed: Graph could not be read for the row (permission missing,
	// unreachable, throttled past the retries).
	Failed Decision = "failed"
)

// Decisions lists every decision in the order summaries show them.
func Decisions() []Decision {
	return []Decision{Create, Exists, Remove, Absent, Duplicate, Conflict, Invalid, Unresolved, Failed}
}

// OK reports whether a row with this decision can be applied as planned
// (including rows that need nothing done).
func (d Decision) OK() bool {
	switch d {
	case Create, Exists, Remove, Absent, Duplicate:
		return true
	}
	return false
}

// sourcePolicySets is the source of an assignment inherited from a policy
// set: bulkassign never re-posts nor removes one.
const sourcePolicySets = "policySets"

// Decide compares one resolved job with the policy's current assignments
// (listed in beta, so filters and sources are visible) and returns the
// decision, the id of the Graph assignment it concerns ("" for create and
// absent) and, for a conflict, what Graph has.
//
// The assignment the row concerns is the one on the same target: the same
// group (whether included or excluded: Graph keys assignments by group),
// the same collection, or the same all-devices or all-users target. It
// matches the row when target type, filter id and type, and (for kinds with
// an install intent) intent are equal ([graph.Assignment.Compare]).
func Decide(k *graph.Kind, j jobs.Job, current []graph.Assignment) (d Decision, assignmentID, reason string) {
	want := j.Assignment()
	var have *graph.Assignment
	match := graph.MatchNone
	for i := range current {
		if match = current[i].Compare(want); match != graph.MatchNone {
			have = &current[i]
			break
		}
	}
	remove := j.Action == jobs.ActionRemove
	switch {
	case have == nil && remove:
		return Absent, "", ""
	case have == nil:
		return Create, "", ""
	case match == graph.MatchConflict:
		return Conflict, have.ID, graph.ConflictMessage(*have, want) + "; nothing is changed"
	case remove && strings.EqualFold(have.Source, sourcePolicySets):
		return Conflict, have.ID, "the assignment is inherited from a policy set; remove it from the policy set"
	case remove:
		return Remove, have.ID, ""
	}
	return Exists, have.ID, ""
}
