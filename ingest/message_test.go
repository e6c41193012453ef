package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

func TestParseMessage(t *testing.T) {
	t.Parallel()
	okMsg := `{"tenant_id":"` + tenantA + `","kind":"deviceConfigurations","policy_id":"` + strings.ToUpper(policyA) + `","target":"group","group_id":"` + groupA + `","row":9}`
	want := jobs.Job{ImportID: "imp", Row: 9, Tenant: tenantA, Kind: "deviceConfigurations", PolicyID: policyA,
		Target: graph.TargetGroup, GroupID: groupA, APIVersion: graph.V1}
	want.Key = want.ComputeKey()

	tests := []struct {
		name    string
		opts    Options
		given   string
		want    *jobs.Job
		wantErr error     // sentinel
		wantRow *RowError // exact
	}{
		{name: "ok", given: okMsg, want: &want},
		{name: "default tenant", opts: Options{Tenant: tenantA},
			given: `{"kind":"deviceConfigurations","policy_id":"` + policyA + `","target":"group","group_id":"` + groupA + `","row":9}`, want: &want},
		{name: "unknown field", given: `{"colour":"red",` + okMsg[1:], wantErr: ErrMalformedMessage},
		{name: "unknown field allowed", opts: Options{AllowExtraColumns: true}, given: `{"colour":"red",` + okMsg[1:], want: &want},
		{name: "not an object", given: `["a"]`, wantErr: ErrMalformedMessage},
		{name: "number for a string", given: `{"kind":1}`, wantErr: ErrMalformedMessage},
		{name: "trailing data", given: okMsg + `{}`, wantErr: ErrMalformedMessage},
		{name: "empty", given: ``, wantErr: ErrMalformedMessage},
		{name: "negative row", given: `{"row":-1}`, wantErr: ErrMalformedMessage},
		{name: "too long", given: `{"kind":"` + strings.Repeat("a", MaxMessageLen) + `"}`, wantErr: ErrMalformedMessage},
		{name: "field too long", given: `{"kind":"` + strings.Repeat("a", MaxFieldLen+1) + `","row":4}`,
			wantRow: &RowError{4, "kind", "field too long: 4097 bytes (max 4096)"}},
		{name: "path injection", given: strings.Replace(okMsg, strings.ToUpper(policyA), "../../users", 1),
			wantRow: &RowError{9, "policy_id", `not a policy id (a GUID or {guid}_Suffix): "../../users"`}},
		{name: "missing tenant", given: `{"kind":"deviceConfigurations"}`,
			wantRow: &RowError{0, "tenant_id", "missing (and no default tenant given)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.ImportID = "imp"
			j, err := ParseMessage([]byte(tt.given), tt.opts)
			switch {
			case tt.want != nil:
				if err != nil || j != *tt.want {
					t.Fatalf("got %+v, %v\nwant %+v", j, err, *tt.want)
				}
				if err := j.Validate(); err != nil {
					t.Fatal(err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
			default:
				var re *RowError
				if !errors.As(err, &re) || *re != *tt.wantRow {
					t.Fatalf("error %#v, want %#v", err, tt.wantRow)
				}
			}
		})
	}
}

func TestSplitMessages(t *testing.T) {
	t.Parallel()
	many := "[" + strings.Repeat(`{},`, MaxMessageRows) + `{}]`
	tests := []struct {
		name  string
		given string
		want  int    // elements; 0: an error
		err   string // in the error
	}{
		{name: "object", given: ` {"kind":"x"} `, want: 1},
		{name: "array", given: `[{"kind":"x"},{"kind":"y"}]`, want: 2},
		{name: "empty", given: "  ", err: "empty message"},
		{name: "empty array", given: "[]", err: "empty array"},
		{name: "bad array", given: "[{", err: "malformed message"},
		{name: "neither", given: "not json", err: "malformed message"},
		{name: "too many", given: many, err: "at most 10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			elems, err := SplitMessages([]byte(tt.given))
			if tt.want > 0 {
				if err != nil || len(elems) != tt.want {
					t.Fatalf("got %d elements, %v; want %d", len(elems), err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

// TestIngestMessages: elements are rows 1, 2, …; a repeated assignment is
// a duplicate of its first row, as in a file; an element that is not an
// object and one with a bad column are invalid rows, the first without a
// column, and refuse the list unless SkipInvalid.
func TestIngestMessages(t *testing.T) {
	t.Parallel()
	row := func(group string) json.RawMessage {
		return json.RawMessage(`{"tenant_id":"` + tenantA + `","kind":"deviceConfigurations","policy_id":"` + policyA + `","target":"group","group_id":"` + group + `","row":77}`)
	}
	ctx := context.Background()

	var c collector
	sum, err := IngestMessages(ctx, []json.RawMessage{row(groupA), row(groupB), row(strings.ToUpper(groupA))}, Options{ImportID: "imp"}, &c)
	if err != nil || sum.Rows != 3 || sum.Valid != 2 || sum.Duplicates != 1 || !reflect.DeepEqual(sum.Tenants, []string{tenantA}) {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if len(c.jobs) != 2 || c.jobs[0].Row != 1 || c.jobs[1].Row != 2 || c.jobs[0].ImportID != "imp" {
		t.Fatalf("jobs %+v", c.jobs)
	}
	if len(c.results) != 1 || c.results[0].Row != 3 || c.results[0].Status != jobs.StatusDuplicate || c.results[0].DuplicateOf != 1 {
		t.Fatalf("results %+v", c.results)
	}

	bad := []json.RawMessage{row(groupA), json.RawMessage(`"a string"`), row("not-a-guid")}
	var none collector
	sum, err = IngestMessages(ctx, bad, Options{}, &none)
	if !errors.Is(err, ErrInvalidRows) || sum.Invalid != 2 || len(sum.Errors) != 2 {
		t.Fatalf("summary %+v, %v; want 2 invalid rows", sum, err)
	}
	if e := sum.Errors[0]; e.Row != 2 || e.Column != "" || !strings.Contains(e.Reason, "malformed message") {
		t.Errorf("first error %+v", e)
	}
	if e := sum.Errors[1]; e.Row != 3 || e.Column != contract.ColGroup {
		t.Errorf("second error %+v", e)
	}
	var skipped collector
	if _, err := IngestMessages(ctx, bad, Options{SkipInvalid: true}, &skipped); err != nil || len(skipped.jobs) != 1 || len(skipped.results) != 2 {
		t.Fatalf("SkipInvalid: %v, %d jobs, %d results", err, len(skipped.jobs), len(skipped.results))
	}
}

// TestMessageErrorsInPlainWords: elements that do not decode are refused
// with the column at fault and a reason in plain words, never Go's type
// names (message.rawRow.tenant_id, ingest.message, "of type string").
func TestMessageErrorsInPlainWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		given  string
		column contract.Column
		reason string
	}{
		{"number for text", `{"tenant_id":1}`, contract.ColTenant, "want text (a JSON string), got a number"},
		{"bool for text", `{"kind":true}`, contract.ColKind, "want text (a JSON string), got true or false"},
		{"object for text", `{"group_id":{}}`, contract.ColGroup, "want text (a JSON string), got an object"},
		{"text for the row", `{"row":"2"}`, "row", "want a whole number, got text"},
		{"unknown field", `{"colour":"red"}`, "colour", "unknown field; the fields are the CSV column names: tenant_id, kind,"},
		{"not an object", `"x"`, "", "malformed message: want a JSON object of column fields, got text"},
		{"array", `[1]`, "", "malformed message: want a JSON object of column fields, got an array"},
		{"bad JSON", `{"kind":}`, "", "malformed message: not valid JSON at byte 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sum, err := IngestMessages(context.Background(), []json.RawMessage{json.RawMessage(tt.given)}, Options{}, &collector{})
			if !errors.Is(err, ErrInvalidRows) || len(sum.Errors) != 1 {
				t.Fatalf("%v, errors %+v", err, sum.Errors)
			}
			e := sum.Errors[0]
			if e.Row != 1 || e.Column != tt.column || !strings.HasPrefix(e.Reason, tt.reason) {
				t.Errorf("error %+v, want column %q and a reason starting %q", e, tt.column, tt.reason)
			}
			for _, goName := range []string{"Go struct", "Go value", "rawRow", "ingest.", "of type", "json:"} {
				if strings.Contains(e.Reason, goName) {
					t.Errorf("reason %q names Go internals (%q)", e.Reason, goName)
				}
			}
		})
	}
	if _, err := SplitMessages([]byte(`[{"kind":"x"},`)); err == nil || strings.Contains(err.Error(), "json:") {
		t.Errorf("a cut array: %v, want an error in plain words", err)
	}
}
