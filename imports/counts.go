package imports

import (
	"fmt"
	"maps"
	"strings"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/jobs"
)

// Counts is the number of rows by status: the one place rows are counted
// (progress, status, the summary of a report).
type Counts map[contract.Status]int

// CountResults counts results by status.
func CountResults(results []jobs.Result) Counts {
	c := Counts{}
	for _, r := range results {
		c[r.Status]++
	}
	return c
}

// Done returns the number of rows counted.
func (c Counts) Done() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// OK reports whether every row counted has a successful status (created,
// existing or duplicate): what exit status 0 means.
func (c Counts) OK() bool {
	for s, n := range c {
		if n > 0 && !s.OK() {
			return false
		}
	}
	return true
}

// String lists every status with its count, in [contract.Statuses] order:
// "created 5, existing 0, duplicate 1, failed 0, invalid 0, conflict 0".
func (c Counts) String() string {
	parts := make([]string, 0, len(contract.Statuses()))
	for _, s := range contract.Statuses() {
		parts = append(parts, fmt.Sprintf("%s %d", s, c[s]))
	}
	return strings.Join(parts, ", ")
}

// clone returns a copy of c that the caller may keep.
func (c Counts) clone() Counts { return maps.Clone(c) }
