package imports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"testing"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/jobs"
)

// TestWriteReport pins the report's columns (a public contract) in both
// formats and checks that internal fields stay out of them.
func TestWriteReport(t *testing.T) {
	j := jobs.Job{Key: "k1", ImportID: "imp", Row: 2, Tenant: "contoso.onmicrosoft.com", Kind: "deviceConfigurations",
		PolicyID: "6b0d549b-6f03-675a-1600-a35a099950d8", Target: "group", GroupID: "ae97ba94-d0ed-a82f-8f6d-05584ef8aa38", APIVersion: "v1.0"}
	created := jobs.ResultFor(j, jobs.StatusCreated)
	created.AssignmentID, created.HTTPStatus, created.Attempts = "6b0d549b_ae97ba94", 201, 1
	failed := jobs.ResultFor(j, jobs.StatusFailed)
	failed.Row, failed.HTTPStatus, failed.ErrorCode, failed.ErrorMessage, failed.Attempts = 3, 403, "forbidden", `a "quoted", message`, 2
	fj := j
	fj.Row, fj.Kind, fj.FilterID, fj.FilterType, fj.Intent, fj.APIVersion = 4, "mobileApps", "99999999-8888-7777-6666-555555555555", "include", "required", "beta"
	fj.GroupName, fj.FilterName, fj.PolicyName = "Pilot", "Corporate, Windows", "Baseline"
	dup := jobs.ResultFor(fj, jobs.StatusDuplicate)
	dup.DuplicateOf = 2
	rj := j
	rj.Row, rj.Action = 5, jobs.ActionRemove
	removed := jobs.ResultFor(rj, jobs.StatusRemoved)
	invalid := jobs.Result{Row: 6, Tenant: j.Tenant, Status: jobs.StatusInvalid, ErrorMessage: "bad"}
	results := []jobs.Result{created, failed, dup, removed, invalid}

	var b bytes.Buffer
	if err := WriteReport(&b, "csv", results); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// The first 13 columns are the original contract, in their order; the
	// others were appended.
	want := [][]string{
		{"row", "tenant_id", "kind", "policy_id", "target", "group_id", "status", "assignment_id", "http_status", "error_code", "error_message", "attempts", "key",
			"filter_id", "filter_type", "intent", "api_version", "duplicate_of",
			"action", "group_name", "filter_name", "policy_name"},
		{"2", j.Tenant, j.Kind, j.PolicyID, "group", j.GroupID, "created", "6b0d549b_ae97ba94", "201", "", "", "1", "k1",
			"", "", "", "v1.0", "", "add", "", "", ""},
		{"3", j.Tenant, j.Kind, j.PolicyID, "group", j.GroupID, "failed", "", "403", "forbidden", `a "quoted", message`, "2", "k1",
			"", "", "", "v1.0", "", "add", "", "", ""},
		{"4", j.Tenant, "mobileApps", j.PolicyID, "group", j.GroupID, "duplicate", "", "", "", "", "0", "k1",
			fj.FilterID, "include", "required", "beta", "2", "add", "Pilot", "Corporate, Windows", "Baseline"},
		{"5", j.Tenant, j.Kind, j.PolicyID, "group", j.GroupID, "removed", "", "", "", "", "0", "k1",
			"", "", "", "v1.0", "", "remove", "", "", ""},
		{"6", j.Tenant, "", "", "", "", "invalid", "", "", "", "bad", "0", "",
			"", "", "", "", "", "", "", "", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("csv has %d lines, want %d", len(recs), len(want))
	}
	for i := range want {
		if !slices.Equal(recs[i], want[i]) {
			t.Errorf("csv line %d\n got %q\nwant %q", i, recs[i], want[i])
		}
	}

	b.Reset()
	if err := WriteReport(&b, "json", results); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(results) {
		t.Fatalf("json rows %d", len(rows))
	}
	for _, r := range rows {
		if len(r) != len(contract.ReportColumns()) {
			t.Errorf("json row has %d fields, want the %d report columns: %v", len(r), len(contract.ReportColumns()), r)
		}
		for _, c := range contract.ReportColumns() {
			if _, ok := r[c]; !ok {
				t.Errorf("json row lacks %q", c)
			}
		}
	}
	if rows[1]["error_code"] != "forbidden" || rows[1]["http_status"] != float64(403) {
		t.Errorf("json row 2: %v", rows[1])
	}
	if r := rows[2]; r["filter_id"] != fj.FilterID || r["filter_type"] != "include" || r["intent"] != "required" ||
		r["api_version"] != "beta" || r["duplicate_of"] != float64(2) || r["action"] != "add" || r["group_name"] != "Pilot" ||
		r["filter_name"] != "Corporate, Windows" || r["policy_name"] != "Baseline" {
		t.Errorf("json row 3: %v", r)
	}
	if r := rows[3]; r["action"] != "remove" || r["status"] != "removed" {
		t.Errorf("json row 5: %v", r)
	}
	b.Reset()
	if err := WriteReport(&b, "json", nil); err != nil || b.String() != "[]\n" {
		t.Errorf("empty json report %q, %v", b.String(), err)
	}
	if err := WriteReport(&b, "xml", results); err == nil {
		t.Error("unknown format accepted")
	}
}
