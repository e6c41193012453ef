package jobs

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestRowSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		given  []int
		want   RowSet
		format string
	}{
		{"empty", nil, nil, ""},
		{"consecutive", []int{2, 3, 4, 5}, RowSet{{2, 5}}, "2-5"},
		{"gaps", []int{2, 3, 5, 9, 10}, RowSet{{2, 3}, {5, 5}, {9, 10}}, "2-3, 5, 9-10"},
		{"repeats", []int{2, 2, 3, 3}, RowSet{{2, 3}}, "2-3"},
		{"out of order, joining two ranges", []int{9, 2, 3, 10, 5, 4, 7, 6, 8}, RowSet{{2, 10}}, "2-10"},
		{"out of order, before everything", []int{5, 6, 2}, RowSet{{2, 2}, {5, 6}}, "2, 5-6"},
		{"out of order, extending a range down", []int{5, 6, 9, 8}, RowSet{{5, 6}, {8, 9}}, "5-6, 8-9"},
		{"out of order, extending a range up", []int{5, 9, 6}, RowSet{{5, 6}, {9, 9}}, "5-6, 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s RowSet
			for _, r := range tt.given {
				s.Add(r)
			}
			if !slices.Equal(s, tt.want) {
				t.Fatalf("ranges = %v, want %v", s, tt.want)
			}
			if got := s.Format(0); got != tt.format {
				t.Errorf("Format = %q, want %q", got, tt.format)
			}
			distinct := slices.Compact(slices.Sorted(slices.Values(tt.given)))
			if got := slices.Collect(s.Rows()); !slices.Equal(got, distinct) {
				t.Errorf("Rows = %v, want %v", got, distinct)
			}
			if s.Len() != len(distinct) {
				t.Errorf("Len = %d, want %d", s.Len(), len(distinct))
			}
		})
	}
}

func TestRowSetFormatLimitAndJSON(t *testing.T) {
	t.Parallel()
	s := RowSet{{2, 4}, {7, 7}, {9, 20}, {30, 31}}
	if got, want := s.Format(2), "2-4, 7, and 14 more rows"; got != want {
		t.Errorf("Format(2) = %q, want %q", got, want)
	}
	b, err := json.Marshal(Import{ID: "imp1", RowSet: s})
	if err != nil {
		t.Fatal(err)
	}
	var back Import
	if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back.RowSet, s) {
		t.Fatalf("round trip of %s = %v, %v", b, back.RowSet, err)
	}
}
