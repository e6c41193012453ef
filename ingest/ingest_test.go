package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

const (
	tenantA = "11111111-1111-1111-1111-111111111111"
	policyA = "22222222-2222-2222-2222-222222222222"
	groupA  = "33333333-3333-3333-3333-333333333333"
	filterA = "44444444-4444-4444-4444-444444444444"
	groupB  = "55555555-5555-5555-5555-555555555555"

	hdr = "tenant_id,kind,policy_id,target,group_id\n"
	// okRow is a valid row for hdr.
	okRow = tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + "\n"
	// okRowB is another valid row, not a duplicate of okRow.
	okRowB = tenantA + ",deviceConfigurations," + policyA + ",group," + groupB + "\n"
)

func TestValidateTable(t *testing.T) {
	t.Parallel()
	tenantOpt := Options{Tenant: "Contoso.onMicrosoft.com"}
	tests := []struct {
		name       string
		opts       Options
		given      string
		wantFile   error      // sentinel of a file error
		wantInFile string     // substring of the file error's text
		want       []RowError // exact, in row order
		wantValid  int
	}{
		{name: "unknown kind", given: hdr + tenantA + ",deviceFoo," + policyA + ",group," + groupA + "\n",
			want: []RowError{{2, "kind", `unknown kind "deviceFoo"`}}},
		{name: "target not allowed for kind", given: hdr + tenantA + ",targetedManagedAppConfigurations," + policyA + ",allDevices,\n",
			want: []RowError{{2, "target", "target allDevices is not allowed for kind targetedManagedAppConfigurations (allowed: group, exclusionGroup)"}}},
		{name: "unknown target", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",everyone,\n",
			want: []RowError{{2, "target", `unknown target type "everyone"`}}},
		{name: "missing group id", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",exclusionGroup,\n",
			want: []RowError{{2, "group_id", "missing (target exclusionGroup needs a group)"}}},
		{name: "bad group GUID", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",group,not-a-guid\n",
			want: []RowError{{2, "group_id", `not a GUID: "not-a-guid"`}}},
		{name: "GUID with braces", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",group,{" + groupA + "}\n",
			want: []RowError{{2, "group_id", `not a GUID: "{` + groupA + `}"`}}},
		{name: "group id on allDevices", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",allDevices," + groupA + "\n",
			want: []RowError{{2, "group_id", "not allowed for target allDevices"}}},
		{name: "filter on v1.0",
			given: "tenant_id,kind,policy_id,target,group_id,filter_id,filter_type,api_version\n" +
				tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + "," + filterA + ",include,v1.0\n",
			want: []RowError{{2, "api_version", "assignment filters exist only in beta, not v1.0"}}},
		{name: "filter defaults to beta",
			given: "tenant_id,kind,policy_id,target,group_id,filter_id,filter_type\n" +
				tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + "," + filterA + ",Exclude\n",
			wantValid: 1},
		{name: "filter_type without filter_id",
			given: "tenant_id,kind,policy_id,target,group_id,filter_id,filter_type\n" +
				tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + ",,include\n",
			want: []RowError{{2, "filter_type", "include needs a filter_id"}}},
		{name: "filter_id without filter_type",
			given: "tenant_id,kind,policy_id,target,group_id,filter_id\n" +
				tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + "," + filterA + "\n",
			want: []RowError{{2, "filter_type", "missing (a filter_id needs include or exclude)"}}},
		{name: "bad filter type",
			given: "tenant_id,kind,policy_id,target,group_id,filter_id,filter_type\n" +
				tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + "," + filterA + ",both\n",
			want: []RowError{{2, "filter_type", `must be include or exclude, not "both"`}}},
		{name: "intent missing for mobileApps", given: hdr + tenantA + ",mobileApps," + policyA + ",group," + groupA + "\n",
			want: []RowError{{2, "intent", "missing (kind mobileApps needs one of available, required, uninstall, availableWithoutEnrollment)"}}},
		{name: "intent present for deviceConfigurations",
			given: "tenant_id,kind,policy_id,target,group_id,intent\n" + tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + ",required\n",
			want:  []RowError{{2, "intent", "not allowed for kind deviceConfigurations"}}},
		{name: "bad intent",
			given: "tenant_id,kind,policy_id,target,group_id,intent\n" + tenantA + ",mobileApps," + policyA + ",group," + groupA + ",sometimes\n",
			want:  []RowError{{2, "intent", `not one of available, required, uninstall, availableWithoutEnrollment: "sometimes"`}}},
		{name: "intent case-insensitive",
			given:     "tenant_id,kind,policy_id,target,group_id,intent\n" + tenantA + ",mobileApps," + policyA + ",group," + groupA + ",REQUIRED\n",
			wantValid: 1},
		{name: "short row", given: hdr + okRow + tenantA + ",deviceConfigurations," + policyA + "\n" + okRowB,
			want: []RowError{{3, "", "wrong number of fields: got 3, want 5"}}, wantValid: 2},
		{name: "long row", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + ",extra\n",
			want: []RowError{{2, "", "wrong number of fields: got 6, want 5"}}},
		{name: "unknown column", given: "tenant_id,kind,policy_id,target,group_id,Colour\n" + strings.TrimSuffix(okRow, "\n") + ",red\n",
			wantFile: ErrHeader, wantInFile: `unknown columns: "Colour"`},
		{name: "unknown column allowed", opts: Options{AllowExtraColumns: true},
			given: "tenant_id,kind,policy_id,target,group_id,Colour\n" + strings.TrimSuffix(okRow, "\n") + ",red\n", wantValid: 1},
		{name: "duplicate column", given: "tenant_id,kind,policy_id,target,Target,group_id\n",
			wantFile: ErrHeader, wantInFile: "duplicate columns: target"},
		{name: "missing tenant column without default", given: "kind,policy_id,target,group_id\ndeviceConfigurations," + policyA + ",group," + groupA + "\n",
			wantFile: ErrHeader, wantInFile: "missing required columns: tenant_id (or give a default tenant)"},
		{name: "missing required columns", given: "tenant_id,kind\n" + tenantA + ",deviceConfigurations\n",
			wantFile: ErrHeader, wantInFile: "missing required columns: policy_id, target"},
		{name: "empty tenant without default", given: hdr + ",deviceConfigurations," + policyA + ",group," + groupA + "\n",
			want: []RowError{{2, "tenant_id", "missing (and no default tenant given)"}}},
		{name: "tenant from options", opts: tenantOpt,
			given: "kind,policy_id,target,group_id\ndeviceConfigurations," + policyA + ",group," + groupA + "\n", wantValid: 1},
		{name: "empty tenant uses options", opts: tenantOpt, given: hdr + ",deviceConfigurations," + policyA + ",group," + groupA + "\n", wantValid: 1},
		{name: "bad tenant", given: hdr + "contoso,deviceConfigurations," + policyA + ",group," + groupA + "\n",
			want: []RowError{{2, "tenant_id", `not a tenant id (a GUID or a domain name): "contoso"`}}},
		{name: "policy id path traversal", given: hdr + tenantA + ",deviceConfigurations,../x,group," + groupA + "\n",
			want: []RowError{{2, "policy_id", `not a policy id (a GUID or {guid}_Suffix): "../x"`}}},
		{name: "policy id encoded slash", given: hdr + tenantA + ",deviceConfigurations," + policyA + "%2F..,group," + groupA + "\n",
			want: []RowError{{2, "policy_id", `not a policy id (a GUID or {guid}_Suffix): "` + policyA + `%2F.."`}}},
		{name: "policy id query", given: hdr + tenantA + ",deviceConfigurations,a?b,group," + groupA + "\n",
			want: []RowError{{2, "policy_id", `not a policy id (a GUID or {guid}_Suffix): "a?b"`}}},
		{name: "policy id suffix with slash", given: hdr + tenantA + ",deviceEnrollmentConfigurations," + policyA + "_Default/x,group," + groupA + "\n",
			want: []RowError{{2, "policy_id", `not a policy id (a GUID or {guid}_Suffix): "` + policyA + `_Default/x"`}}},
		{name: "policy id with suffix ok", given: hdr + tenantA + ",deviceEnrollmentConfigurations," + policyA + "_DefaultLimit,group," + groupA + "\n", wantValid: 1},
		{name: "api version v2", given: "tenant_id,kind,policy_id,target,group_id,api_version\n" + strings.TrimSuffix(okRow, "\n") + ",v2\n",
			want: []RowError{{2, "api_version", `unsupported API version "v2" (v1.0 or beta)`}}},
		{name: "configurationPolicies on v1.0",
			given: "tenant_id,kind,policy_id,target,group_id,api_version\n" + tenantA + ",configurationPolicies," + policyA + ",group," + groupA + ",v1.0\n",
			want:  []RowError{{2, "api_version", "kind configurationPolicies does not exist in v1.0 (has beta)"}}},
		{name: "collection id missing", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",configurationManagerCollection,\n",
			wantFile: nil, want: []RowError{{2, "collection_id", "missing (target configurationManagerCollection needs a collection)"}}},
		{name: "collection id ok",
			given: "tenant_id,kind,policy_id,target,collection_id\n" + tenantA + ",deviceConfigurations," + policyA + ",configurationManagerCollection,sms00001\n", wantValid: 1},
		{name: "bad collection id",
			given: "tenant_id,kind,policy_id,target,collection_id\n" + tenantA + ",deviceConfigurations," + policyA + ",configurationManagerCollection,SMS0000Z\n",
			want:  []RowError{{2, "collection_id", `not a Configuration Manager collection id (e.g. SMS00001): "SMS0000Z"`}}},
		{name: "bare quote", given: hdr + okRow + tenantA + `,device"Configurations,` + policyA + ",group," + groupA + "\n" + okRowB,
			want: []RowError{{3, "", `malformed CSV: bare " in non-quoted-field (line 3, column 44)`}}, wantValid: 2},
		{name: "empty file", given: "", wantFile: ErrEmpty},
		{name: "only a BOM and blank lines", given: "\xEF\xBB\xBF\r\n\r\n", wantFile: ErrEmpty},
		{name: "header only", given: hdr, wantFile: ErrNoRows},
		{name: "header and blank records", given: hdr + ",,,,\r\n , ,,,\r\n", wantFile: ErrNoRows},
		{name: "no header row", given: okRow + okRowB, wantFile: ErrNoHeader},
		{name: "binary garbage", given: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", wantFile: ErrNotCSV},
		{name: "NUL in header", given: "tenant_id,kind\x00,policy_id\n", wantFile: ErrNotCSV},
		{name: "broken quoting in header", given: "tenant_id,\"kind\n", wantFile: ErrNotCSV},
		{name: "BOM CRLF quoted fields", opts: Options{AllowExtraColumns: true},
			given: "\xEF\xBB\xBF Tenant_ID ,\"KIND\",policy_id,target,group_id,note\r\n" +
				tenantA + ",\"deviceConfigurations\"," + policyA + ",\"group\"," + groupA + ",\"a, \"\"quoted\"\"\r\nmulti-line note\"\r\n" +
				tenantA + ",deviceConfigurations," + policyA + ",allDevices,,\r\n",
			wantValid: 2},
		{name: "field too long", given: hdr + tenantA + ",deviceConfigurations," + policyA + ",group," + strings.Repeat("a", 5000) + "\n" + okRow,
			want: []RowError{{2, "group_id", "field too long: 5000 bytes (max 4096)"}}, wantValid: 1},
		{name: "extra field too long", opts: Options{AllowExtraColumns: true},
			given: "tenant_id,kind,policy_id,target,group_id, Note \n" + strings.TrimSuffix(okRow, "\n") + "," + strings.Repeat("n", 4097) + "\n",
			want:  []RowError{{2, "Note", "field too long: 4097 bytes (max 4096)"}}},
		{name: "10 MB field", given: hdr + okRow + tenantA + ",deviceConfigurations," + policyA + ",group," + strings.Repeat("a", 10<<20) + "\n",
			wantFile: ErrRecordTooLong, wantInFile: "row 3"},
		{name: "10 MB quoted multi-line field", given: hdr + okRow + tenantA + ",deviceConfigurations," + policyA + ",group,\"" + strings.Repeat("a\n", 5<<20) + "\"\n",
			wantFile: ErrRecordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			tt.opts.ImportID = "imp1"
			s, err := Validate(ctx, strings.NewReader(tt.given), tt.opts)
			var c collector
			s2, err2 := Ingest(ctx, strings.NewReader(tt.given), tt.opts, &c)
			if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
				t.Fatalf("Validate error %v, Ingest error %v", err, err2)
			}
			if !reflect.DeepEqual(s, s2) {
				t.Fatalf("Validate summary %+v, Ingest summary %+v", s, s2)
			}
			if tt.wantFile != nil {
				var fe *FileError
				if !errors.As(err, &fe) || !errors.Is(err, tt.wantFile) {
					t.Fatalf("error = %v, want a *FileError wrapping %v", err, tt.wantFile)
				}
				if !strings.Contains(err.Error(), tt.wantInFile) {
					t.Fatalf("error = %q, want it to contain %q", err, tt.wantInFile)
				}
				if s.OK() {
					t.Fatal("OK() = true after a file error")
				}
				return
			}
			if len(tt.want) > 0 {
				if !errors.Is(err, ErrInvalidRows) {
					t.Fatalf("error = %v, want ErrInvalidRows", err)
				}
			} else if err != nil {
				t.Fatalf("error = %v, want nil", err)
			}
			if !reflect.DeepEqual(s.Errors, tt.want) {
				t.Fatalf("errors = %#v\nwant     %#v", s.Errors, tt.want)
			}
			if s.Valid != tt.wantValid || s.Invalid != len(tt.want) || s.ErrorCount != len(tt.want) {
				t.Fatalf("valid %d invalid %d errorCount %d, want %d %d", s.Valid, s.Invalid, s.ErrorCount, tt.wantValid, len(tt.want))
			}
			if s.Rows != s.Valid+s.Invalid+s.Duplicates {
				t.Fatalf("rows %d != %d+%d+%d", s.Rows, s.Valid, s.Invalid, s.Duplicates)
			}
			if sum := sha256.Sum256([]byte(tt.given)); s.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("SHA256 = %s, want the input's", s.SHA256)
			}
			if s.OK() != (tt.wantValid > 0 && len(tt.want) == 0) {
				t.Fatalf("OK() = %v", s.OK())
			}
			// Ingest emitted one job per valid row and one invalid result per bad row.
			if len(c.jobs) != s.Valid {
				t.Fatalf("%d jobs emitted, want %d", len(c.jobs), s.Valid)
			}
			for _, j := range c.jobs {
				if err := j.Validate(); err != nil {
					t.Fatalf("emitted job %+v invalid: %v", j, err)
				}
				if j.ImportID != "imp1" {
					t.Fatalf("job import id %q", j.ImportID)
				}
			}
			if len(c.results) != len(tt.want) {
				t.Fatalf("%d results, want %d", len(c.results), len(tt.want))
			}
			for i, r := range c.results {
				w := tt.want[i]
				if r.Status != jobs.StatusInvalid || r.Row != w.Row || r.ImportID != "imp1" || r.ErrorMessage != w.Message() {
					t.Fatalf("result %+v, want invalid row %d %q", r, w.Row, w.Message())
				}
			}
		})
	}
}

func TestTenantFromOptions(t *testing.T) {
	t.Parallel()
	in := hdr + "," + "deviceConfigurations," + policyA + ",group," + groupA + "\n" +
		"Fabrikam.com,deviceConfigurations," + policyA + ",group," + groupA + "\n"
	var c collector
	s, err := Ingest(context.Background(), strings.NewReader(in), Options{Tenant: "Contoso.onMicrosoft.com"}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{c.jobs[0].Tenant, c.jobs[1].Tenant}; !reflect.DeepEqual(got, []string{"contoso.onmicrosoft.com", "fabrikam.com"}) {
		t.Fatalf("tenants %v: an empty tenant_id takes the default, a row's own wins", got)
	}
	if !reflect.DeepEqual(s.Tenants, []string{"contoso.onmicrosoft.com", "fabrikam.com"}) {
		t.Fatalf("Summary.Tenants = %v", s.Tenants)
	}
	if _, err := Validate(context.Background(), strings.NewReader(in), Options{Tenant: "not a tenant"}); !errors.Is(err, graph.ErrInvalidID) {
		t.Fatalf("bad default tenant: error %v, want ErrInvalidID", err)
	}
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	up := strings.ToUpper
	in := "tenant_id,kind,policy_id,target,group_id,api_version\n" +
		tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + ",\n" + // 2: first
		up(tenantA) + ",DeviceConfigurations," + up(policyA) + ",#microsoft.graph.groupAssignmentTarget," + up(groupA) + ",\n" + // 3: dup of 2
		tenantA + ",deviceConfigurations," + policyA + ",group," + groupB + ",\n" + // 4: other group
		" " + tenantA + " ,deviceManagement/deviceconfigurations," + policyA + ",GROUP, " + groupA + " ,V1.0\n" + // 5: dup of 2 (explicit default version)
		tenantA + ",deviceConfigurations," + policyA + ",group," + groupA + ",beta\n" + // 6: beta is another assignment key
		tenantA + ",deviceConfigurations," + policyA + ",exclusionGroup," + groupB + ",\n" + // 7
		tenantA + ",deviceConfigurations," + policyA + ",microsoft.graph.groupAssignmentTarget," + groupB + ",v1\n" // 8: dup of 4
	var c collector
	s, err := Ingest(context.Background(), strings.NewReader(in), Options{ImportID: "i"}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows != 7 || s.Valid != 4 || s.Duplicates != 3 || s.Invalid != 0 {
		t.Fatalf("summary %+v", s)
	}
	var jobRows []int
	for _, j := range c.jobs {
		jobRows = append(jobRows, j.Row)
	}
	if !reflect.DeepEqual(jobRows, []int{2, 4, 6, 7}) {
		t.Fatalf("job rows %v", jobRows)
	}
	type dup struct{ row, of int }
	var dups []dup
	for _, r := range c.results {
		if r.Status != jobs.StatusDuplicate {
			t.Fatalf("result %+v, want duplicate", r)
		}
		dups = append(dups, dup{r.Row, r.DuplicateOf})
	}
	if !reflect.DeepEqual(dups, []dup{{3, 2}, {5, 2}, {8, 4}}) {
		t.Fatalf("duplicates %v", dups)
	}
	j := c.jobs[0]
	want := jobs.Job{ImportID: "i", Row: 2, Tenant: tenantA, Kind: "deviceConfigurations", PolicyID: policyA,
		Target: graph.TargetGroup, GroupID: groupA, APIVersion: graph.V1}
	want.Key = want.ComputeKey()
	if j != want {
		t.Fatalf("job %+v\nwant %+v", j, want)
	}
}

func TestNormalisation(t *testing.T) {
	t.Parallel()
	in := "tenant_id,kind,policy_id,target,group_id,filter_id,filter_type,intent\n" +
		"Contoso.COM,MOBILEAPPS," + strings.ToUpper(policyA) + ",#Microsoft.Graph.ExclusionGroupAssignmentTarget," + strings.ToUpper(groupA) + "," + strings.ToUpper(filterA) + ",INCLUDE,AvailableWithoutEnrollment\n"
	var c collector
	if _, err := Ingest(context.Background(), strings.NewReader(in), Options{}, &c); err != nil {
		t.Fatal(err)
	}
	want := jobs.Job{Row: 2, Tenant: "contoso.com", Kind: "mobileApps", PolicyID: policyA, Target: graph.TargetExclusionGroup,
		GroupID: groupA, FilterID: filterA, FilterType: "include", Intent: "availableWithoutEnrollment", APIVersion: graph.Beta}
	want.Key = want.ComputeKey()
	if c.jobs[0] != want {
		t.Fatalf("job %+v\nwant %+v", c.jobs[0], want)
	}
}

// TestRowNumbers pins the numbering: records, header = 1, a quoted
// multi-line field keeps its record one row, empty lines are not records,
// all-blank records keep their number but are skipped.
func TestRowNumbers(t *testing.T) {
	t.Parallel()
	bad := tenantA + ",deviceConfigurations," + policyA + ",group,x"
	in := "tenant_id,kind,policy_id,target,group_id,note\n" +
		strings.TrimSuffix(okRow, "\n") + ",\"line one\nline two\nline three\"\n" + // row 2, lines 2-4
		bad + ",\n" + // row 3, line 5
		"\n\n" + // empty lines: no records
		",,,,,\n" + // row 4: blank record, skipped
		bad + ",\"a\r\nb\"\n" // row 5
	s, err := Validate(context.Background(), strings.NewReader(in), Options{AllowExtraColumns: true})
	if !errors.Is(err, ErrInvalidRows) {
		t.Fatalf("error %v", err)
	}
	if s.Rows != 3 {
		t.Fatalf("rows %d, want 3 (the blank record is not counted)", s.Rows)
	}
	var rows []int
	for _, e := range s.Errors {
		rows = append(rows, e.Row)
	}
	if !reflect.DeepEqual(rows, []int{3, 5}) {
		t.Fatalf("error rows %v, want [3 5]", rows)
	}
}

func TestMaxErrors(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(hdr)
	for range 250 {
		b.WriteString(tenantA + ",nope," + policyA + ",group," + groupA + "\n")
	}
	b.WriteString(okRow)
	for _, tt := range []struct {
		max, want int
	}{{0, 100}, {10, 10}, {-1, 0}, {1000, 250}} {
		s, err := Validate(context.Background(), strings.NewReader(b.String()), Options{MaxErrors: tt.max, SkipInvalid: true})
		if err != nil {
			t.Fatalf("SkipInvalid: error %v", err)
		}
		if len(s.Errors) != tt.want || s.ErrorCount != 250 || s.Invalid != 250 || s.Valid != 1 {
			t.Fatalf("MaxErrors %d: kept %d count %d invalid %d valid %d", tt.max, len(s.Errors), s.ErrorCount, s.Invalid, s.Valid)
		}
		if !s.OK() {
			t.Fatal("OK() = false with SkipInvalid")
		}
	}
}

// failingSink fails on the n-th call.
type failingSink struct {
	collector
	n int
}

var errSink = errors.New("sink down")

func (f *failingSink) Job(ctx context.Context, j jobs.Job) error {
	if f.n--; f.n == 0 {
		return errSink
	}
	return f.collector.Job(ctx, j)
}

func TestSinkErrorStops(t *testing.T) {
	t.Parallel()
	in := hdr + okRow + okRowB + okRow
	f := &failingSink{n: 2}
	_, err := Ingest(context.Background(), strings.NewReader(in), Options{}, f)
	if !errors.Is(err, errSink) || !strings.Contains(err.Error(), "row 3") {
		t.Fatalf("error %v, want the sink's error at row 3", err)
	}
	if len(f.jobs) != 1 || len(f.results) != 0 {
		t.Fatalf("after the failure: %d jobs %d results, want processing stopped", len(f.jobs), len(f.results))
	}
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := Validate(ctx, strings.NewReader(hdr+okRow), Options{})
	if !errors.Is(err, context.Canceled) || s.OK() || s.SHA256 != "" {
		t.Fatalf("error %v summary %+v", err, s)
	}
}

func TestIntentList(t *testing.T) {
	t.Parallel()
	for _, in := range strings.Split(intentList, ", ") {
		if got, err := graph.ParseIntent(in); err != nil || got != in {
			t.Fatalf("intentList names %q, graph.ParseIntent says %q, %v", in, got, err)
		}
	}
}

func TestRowErrorText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		given RowError
		want  string
	}{
		{RowError{7, "group_id", `not a GUID: "x"`}, `row 7, column group_id: not a GUID: "x"`},
		{RowError{3, "", "wrong number of fields: got 3, want 5"}, "row 3: wrong number of fields: got 3, want 5"},
	} {
		if got := tt.given.Error(); got != tt.want {
			t.Fatalf("Error() = %q, want %q", got, tt.want)
		}
	}
	fe := &FileError{Row: 1, Err: ErrHeader, Detail: "duplicate columns: kind"}
	if got := fe.Error(); got != "row 1: bad header: duplicate columns: kind" {
		t.Fatalf("FileError = %q", got)
	}
}

// TestResultsCarryTheRow: the results ingest emits (invalid and duplicate
// rows) carry the row's filter, intent and API version, so that a report
// re-states every row: as written for an invalid row, normalised for a
// duplicate, which also names the row it repeats.
func TestResultsCarryTheRow(t *testing.T) {
	t.Parallel()
	in := "tenant_id,kind,policy_id,target,group_id,filter_id,filter_type,intent,api_version\n" +
		tenantA + ",mobileApps," + policyA + ",group," + groupA + "," + filterA + ",Include,Required,beta\n" +
		tenantA + ",mobileApps," + policyA + ",group," + strings.ToUpper(groupA) + "," + strings.ToUpper(filterA) + ",include,required,BETA\n" +
		tenantA + ",mobileApps," + policyA + ",group," + groupB + "," + filterA + ",sideways,maybe,v9\n"
	var c collector
	if _, err := Ingest(context.Background(), strings.NewReader(in), Options{ImportID: "i", SkipInvalid: true}, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.results) != 2 {
		t.Fatalf("%d results, want a duplicate and an invalid row", len(c.results))
	}
	dup, bad := c.results[0], c.results[1]
	if dup.Status != jobs.StatusDuplicate || dup.Row != 3 || dup.DuplicateOf != 2 || dup.FilterID != filterA ||
		dup.FilterType != "include" || dup.Intent != "required" || dup.APIVersion != graph.Beta {
		t.Errorf("duplicate %+v", dup)
	}
	if bad.Status != jobs.StatusInvalid || bad.Row != 4 || bad.FilterID != filterA || bad.FilterType != "sideways" ||
		bad.Intent != "maybe" || bad.APIVersion != "v9" || bad.DuplicateOf != 0 {
		t.Errorf("invalid %+v", bad)
	}
}
