package contract

import (
	"slices"
	"testing"
)

// TestStatusOK: which statuses count as success for the exit code.
func TestStatusOK(t *testing.T) {
	for s, want := range map[Status]bool{
		StatusCreated: true, StatusExisting: true, StatusDuplicate: true,
		StatusFailed: false, StatusInvalid: false, StatusConflict: false,
		StatusRemoved: true, StatusAbsent: true,
	} {
		if s.OK() != want {
			t.Errorf("%s.OK() = %v, want %v", s, s.OK(), want)
		}
	}
}

// TestContractValues pins the spelling of every status, code and column:
// they are a public contract, never renamed.
func TestContractValues(t *testing.T) {
	var statuses []string
	for _, s := range Statuses() {
		statuses = append(statuses, string(s))
	}
	if want := []string{"created", "existing", "duplicate", "failed", "invalid", "conflict", "removed", "absent"}; !slices.Equal(statuses, want) {
		t.Errorf("Statuses() = %v, want %v", statuses, want)
	}
	codes := []string{CodeTenantUnauthorized, CodeForbidden, CodeGraphUnreachable, CodeIdentityUnreachable, CodeDeadlineExceeded, CodePanic}
	if want := []string{"tenant_unauthorized", "forbidden", "graph_unreachable", "identity_unreachable", "deadline_exceeded", "panic"}; !slices.Equal(codes, want) {
		t.Errorf("codes = %v, want %v", codes, want)
	}
	var cols []string
	for _, c := range CSVColumns() {
		cols = append(cols, string(c))
	}
	if want := []string{"tenant_id", "kind", "policy_id", "target", "group_id", "collection_id", "filter_id", "filter_type",
		"intent", "api_version", "group_name", "filter_name", "policy_name", "action"}; !slices.Equal(cols, want) {
		t.Errorf("CSVColumns() = %v, want %v", cols, want)
	}
	if got := ReportColumns(); len(got) != 22 || got[0] != "row" || got[6] != "status" || got[17] != "duplicate_of" ||
		!slices.Equal(got[18:], []string{"action", "group_name", "filter_name", "policy_name"}) {
		t.Errorf("ReportColumns() = %v", got)
	}
}
