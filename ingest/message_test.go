package ingest

import (
	"errors"
	"strings"
	"testing"

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
