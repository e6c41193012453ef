package jobs

import (
	"strings"
	"testing"
	"time"
)

func TestTenantSubject(t *testing.T) {
	tests := []struct {
		name, tenant, subject, consumer string
	}{
		{"domain", "Contoso.OnMicrosoft.com", "bulkassign.jobs.contoso_onmicrosoft_com", "jobs_contoso_onmicrosoft_com"},
		{"guid", "0A1B2C3D-0000-4000-8000-00000000ABCD", "bulkassign.jobs.0a1b2c3d-0000-4000-8000-00000000abcd", "jobs_0a1b2c3d-0000-4000-8000-00000000abcd"},
		{"hyphenated domain", "my-org.example.co.uk", "bulkassign.jobs.my-org_example_co_uk", "jobs_my-org_example_co_uk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TenantSubject(tt.tenant); got != tt.subject {
				t.Fatalf("TenantSubject = %q, want %q", got, tt.subject)
			}
			back, ok := TenantFromSubject(tt.subject)
			if !ok || back != strings.ToLower(tt.tenant) {
				t.Fatalf("TenantFromSubject = %q, %v, want %q", back, ok, strings.ToLower(tt.tenant))
			}
			if got := consumerName(tt.tenant); got != tt.consumer {
				t.Fatalf("consumerName = %q, want %q", got, tt.consumer)
			}
		})
	}
}

func TestTenantFromSubjectRejects(t *testing.T) {
	for _, s := range []string{"", "bulkassign.jobs.", "bulkassign.jobs.a.b", "bulkassign.results.x", "bulkassign.jobs.*", "bulkassign.jobs.>"} {
		if got, ok := TenantFromSubject(s); ok {
			t.Errorf("TenantFromSubject(%q) = %q, true; want false", s, got)
		}
	}
}

func TestConsumerNameLongTenant(t *testing.T) {
	label := strings.Repeat("a", 60)
	long := strings.Join([]string{label, label, label, label + "b"}, ".")
	other := strings.Join([]string{label, label, label, label + "c"}, ".")
	n1, n2 := consumerName(long), consumerName(other)
	if len(n1) > maxNameLen || n1 == n2 || strings.ContainsAny(n1, ".*> ") {
		t.Fatalf("consumerName = %q (%d), %q", n1, len(n1), n2)
	}
}

func TestImportIDs(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 35, 1, 0, time.UTC)
	id := newImportID(at)
	if !strings.HasPrefix(id, "20261122T143501-") || len(id) != len("20261122T143501-")+6 {
		t.Fatalf("newImportID = %q", id)
	}
	if err := ValidateImportID(id); err != nil {
		t.Fatal(err)
	}
	if a, b := NewImportID(), NewImportID(); a == b {
		t.Fatalf("two NewImportID calls gave %q", a)
	}
	tests := []struct {
		id string
		ok bool
	}{
		{"imp1", true}, {"20261122T143501-3fa9c2", true}, {"a_b-C", true},
		{"", false}, {"a.b", false}, {"a b", false}, {"a*", false}, {"a>", false}, {"a:b", false},
		{strings.Repeat("x", 64), true}, {strings.Repeat("x", 65), false},
	}
	for _, tt := range tests {
		if err := ValidateImportID(tt.id); (err == nil) != tt.ok {
			t.Errorf("ValidateImportID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}
