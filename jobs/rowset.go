package jobs

import (
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
)

// RowSet is a set of row numbers kept as sorted, disjoint, non-adjacent
// ranges, each [first, last]: an import of 20,000 consecutive rows is
// [[2,20001]]. The zero value is the empty set. It marshals to JSON as an
// array of two-element arrays.
type RowSet [][2]int

// Add adds row to the set. Rows added in increasing order (as ingest and
// retry add them) cost O(1) each.
func (s *RowSet) Add(row int) {
	rs := *s
	if n := len(rs); n == 0 || row > rs[n-1][1] {
		if n > 0 && row == rs[n-1][1]+1 {
			rs[n-1][1] = row
		} else {
			rs = append(rs, [2]int{row, row})
		}
		*s = rs
		return
	}
	// Out of order: the first range ending at or after row.
	i, _ := slices.BinarySearchFunc(rs, row, func(r [2]int, row int) int { return r[1] - row })
	switch {
	case rs[i][0] <= row:
		return // already in
	case rs[i][0] == row+1:
		rs[i][0] = row
		if i > 0 && rs[i-1][1] == row-1 { // now touches the previous range
			rs[i-1][1] = rs[i][1]
			rs = slices.Delete(rs, i, i+1)
		}
	case i > 0 && rs[i-1][1] == row-1:
		rs[i-1][1] = row
	default:
		rs = slices.Insert(rs, i, [2]int{row, row})
	}
	*s = rs
}

// Len returns the number of rows in the set.
func (s RowSet) Len() int {
	n := 0
	for _, r := range s {
		n += r[1] - r[0] + 1
	}
	return n
}

// Rows yields the rows of the set in increasing order.
func (s RowSet) Rows() iter.Seq[int] {
	return func(yield func(int) bool) {
		for _, r := range s {
			for row := r[0]; row <= r[1]; row++ {
				if !yield(row) {
					return
				}
			}
		}
	}
}

// Format lists the set as ranges, "2-5, 9, 12-40", naming at most
// maxRanges of them ("…, and 7 more rows" for the rest); maxRanges < 1
// names every range.
func (s RowSet) Format(maxRanges int) string {
	var b strings.Builder
	for i, r := range s {
		if maxRanges > 0 && i == maxRanges {
			fmt.Fprintf(&b, ", and %d more rows", s[i:].Len())
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(r[0]))
		if r[1] != r[0] {
			b.WriteString("-" + strconv.Itoa(r[1]))
		}
	}
	return b.String()
}
