package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Counts counts rows per decision.
type Counts map[Decision]int

// Summary counts a plan's decisions in all, per tenant and per kind.
type Summary struct {
	Rows    int
	Total   Counts
	Tenants map[string]Counts
	Kinds   map[string]Counts
}

// Summary counts the plan's decisions. Rows without a tenant or kind (some
// invalid ones) count under "-".
func (p *Plan) Summary() Summary {
	s := Summary{Rows: len(p.Entries), Total: Counts{}, Tenants: map[string]Counts{}, Kinds: map[string]Counts{}}
	add := func(m map[string]Counts, k string, d Decision) {
		if k == "" {
			k = "-"
		}
		if m[k] == nil {
			m[k] = Counts{}
		}
		m[k][d]++
	}
	for _, e := range p.Entries {
		s.Total[e.Decision]++
		add(s.Tenants, e.Tenant, e.Decision)
		add(s.Kinds, e.Kind, e.Decision)
	}
	return s
}

// OK reports whether every row can be applied as planned.
func (s Summary) OK() bool {
	for d, n := range s.Total {
		if n > 0 && !d.OK() {
			return false
		}
	}
	return true
}

// String lists the non-zero counts in [Decisions] order: "3 create, 1 exists".
func (c Counts) String() string {
	var parts []string
	for _, d := range Decisions() {
		if n := c[d]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, d))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// WriteText writes the summary for people: the totals, then one line per
// tenant and per kind, sorted.
func (s Summary) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "%d rows: %s\n", s.Rows, s.Total); err != nil {
		return err
	}
	for _, group := range []struct {
		label string
		m     map[string]Counts
	}{{"tenant", s.Tenants}, {"kind", s.Kinds}} {
		for _, k := range slices.Sorted(maps.Keys(group.m)) {
			if _, err := fmt.Fprintf(w, "  %s %s: %s\n", group.label, k, group.m[k]); err != nil {
				return err
			}
		}
	}
	return nil
}
