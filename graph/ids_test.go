package graph

import (
	"errors"
	"strings"
	"testing"
)

const (
	validGUID  = "8f4f3d6c-2b1a-4c5e-9d7f-0a1b2c3d4e5f"
	validGUIDU = "8F4F3D6C-2B1A-4C5E-9D7F-0A1B2C3D4E5F"
)

// attacks are values that must never reach a URL path: traversal,
// percent-encoding, query and fragment delimiters, whitespace, Unicode
// lookalikes, control characters and overlong input, alone and glued to a
// valid identifier.
func attacks() []string {
	long := strings.Repeat("a", 10<<10)
	bases := []string{
		"../", "..", "/", "%2F", "%2e%2e%2f", "?", "#", " ", "\t", "\n", "\x00",
		"．", // fullwidth full stop
		"／", // fullwidth solidus
		"\u200b",
		"\u202e",
	}
	out := []string{"", long, validGUID + long, strings.Repeat(validGUID, 300)}
	for _, b := range bases {
		out = append(out, b, validGUID+b, b+validGUID, validGUID[:18]+b+validGUID[19:])
	}
	return append(out,
		"{"+validGUID+"}", "urn:uuid:"+validGUID, validGUID+"/../"+validGUID,
		validGUID+"?$select=id", validGUID+"#x", " "+validGUID, validGUID+" ",
		// Cyrillic 'а' (U+0430) in place of a hex 'a'.
		strings.Replace(validGUID, "a", "а", 1),
		"8f4f3d6c2b1a4c5e9d7f0a1b2c3d4e5f", "8f4f3d6c-2b1a-4c5e-9d7f-0a1b2c3d4e5g",
	)
}

func TestValidatorsRejectInjection(t *testing.T) {
	t.Parallel()
	validators := map[string]func(string) error{
		"guid":   ValidateGUID,
		"policy": ValidatePolicyID,
		"tenant": ValidateTenant,
	}
	tenantAttacks := []string{
		"contoso．onmicrosoft．com", // fullwidth dots
		"соntoso.onmicrosoft.com", // Cyrillic с and о
		"contoso.onmicrosoft.com/../x", "contoso.onmicrosoft.com%2F", "contoso.onmicrosoft.com?",
		"contoso.onmicrosoft.com#", "contoso .onmicrosoft.com", "contoso.onmicrosoft.com\x00",
		"-contoso.onmicrosoft.com", "contoso..onmicrosoft.com", ".contoso.com", "localhost",
		strings.Repeat("a.", 200) + "com",
	}
	policyAttacks := []string{
		validGUID + "_", validGUID + "_Default-Limit", validGUID + "_Default/Limit",
		validGUID + "_" + strings.Repeat("a", 65), validGUID + "-DefaultLimit", validGUID + "_DéfaultLimit",
	}
	for name, validate := range validators {
		cases := attacks()
		switch name {
		case "tenant":
			cases = append(cases, tenantAttacks...)
		case "policy":
			cases = append(cases, policyAttacks...)
		}
		for _, s := range cases {
			err := validate(s)
			if err == nil {
				t.Errorf("%s: %q accepted", name, s)
				continue
			}
			if !errors.Is(err, ErrInvalidID) {
				t.Errorf("%s: %q: error %v does not wrap ErrInvalidID", name, s, err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("%s: error message of %d bytes for a %d-byte input", name, len(err.Error()), len(s))
			}
		}
	}
}

func TestValidatorsAcceptValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		validate func(string) error
		given    string
	}{
		{"guid lower", ValidateGUID, validGUID},
		{"guid upper", ValidateGUID, validGUIDU},
		{"policy guid", ValidatePolicyID, validGUID},
		{"policy guid upper", ValidatePolicyID, validGUIDU},
		{"policy enrollment suffix", ValidatePolicyID, validGUID + "_DefaultLimit"},
		{"policy windows10 suffix", ValidatePolicyID, validGUIDU + "_Windows10EnrollmentCompletionPageConfiguration"},
		{"tenant guid", ValidateTenant, validGUID},
		{"tenant domain", ValidateTenant, "contoso.onmicrosoft.com"},
		{"tenant custom domain", ValidateTenant, "it-dept.Contoso.co.uk"},
	}
	for _, tt := range tests {
		if err := tt.validate(tt.given); err != nil {
			t.Errorf("%s: %q rejected: %v", tt.name, tt.given, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	if g, err := NormalizeGUID(validGUIDU); err != nil || g != validGUID {
		t.Errorf("NormalizeGUID = %q, %v", g, err)
	}
	if p, err := NormalizePolicyID(validGUIDU + "_DefaultLimit"); err != nil || p != validGUID+"_DefaultLimit" {
		t.Errorf("NormalizePolicyID = %q, %v", p, err)
	}
	if d, err := NormalizeTenant("Contoso.OnMicrosoft.com"); err != nil || d != "contoso.onmicrosoft.com" {
		t.Errorf("NormalizeTenant = %q, %v", d, err)
	}
	if _, err := NormalizeTenant("../x"); err == nil {
		t.Error("NormalizeTenant accepted ../x")
	}
}

// TestPathsRejectInjection: the path builders validate the policy id
// themselves, so no caller can forget.
func TestPathsRejectInjection(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		for _, s := range attacks() {
			if p, err := k.AssignmentsPath(s); err == nil {
				t.Errorf("%s: AssignmentsPath(%q) = %q", k.Name, s, p)
			}
			if p, err := k.AssignPath(s); err == nil {
				t.Errorf("%s: AssignPath(%q) = %q", k.Name, s, p)
			}
		}
	}
}

// TestBodyRejectsInjectedIDs: group and filter ids go into bodies, not
// paths, but a bad one is still refused before anything is sent.
func TestBodyRejectsInjectedIDs(t *testing.T) {
	t.Parallel()
	k := mustKind(t, "deviceConfigurations")
	for _, s := range attacks() {
		if s == "" {
			continue // an empty group id is "missing", tested in the body tests
		}
		a := Assignment{Target: Target{Type: TargetGroup, GroupID: s}}
		if _, err := k.Body(a, Beta); err == nil {
			t.Errorf("group id %q accepted", s)
		}
		a = Assignment{Target: Target{Type: TargetGroup, GroupID: validGUID, FilterID: s, FilterType: FilterInclude}}
		if _, err := k.Body(a, Beta); err == nil {
			t.Errorf("filter id %q accepted", s)
		}
	}
}

func FuzzValidatePolicyID(f *testing.F) {
	for _, s := range append(attacks()[:40], validGUID, validGUIDU+"_DefaultLimit", validGUID+"_") {
		f.Add(s)
	}
	k := &Kind{Root: "deviceManagement", Collection: "deviceConfigurations"}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidatePolicyID(s) != nil {
			return
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(isAlnumByte(c) || c == '-' || c == '_') {
				t.Fatalf("accepted %q with byte %q", s, c)
			}
		}
		p, err := k.AssignmentsPath(s)
		if err != nil || p != "/deviceManagement/deviceConfigurations/"+s+"/assignments" {
			t.Fatalf("AssignmentsPath(%q) = %q, %v", s, p, err)
		}
	})
}

func FuzzValidateTenant(f *testing.F) {
	for _, s := range []string{validGUID, "contoso.onmicrosoft.com", "a.b", "../x", "contoso．com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateTenant(s) != nil {
			return
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(isAlnumByte(c) || c == '-' || c == '.') {
				t.Fatalf("accepted %q with byte %q", s, c)
			}
		}
		if strings.Contains(s, "..") {
			t.Fatalf("accepted %q", s)
		}
	})
}

func mustKind(t testing.TB, name string) *Kind {
	t.Helper()
	k, err := LookupKind(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
