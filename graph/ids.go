package graph

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidID is wrapped by every identifier validation failure.
var ErrInvalidID = errors.New("invalid identifier")

const maxDomainLen = 253

// ValidateGUID reports whether s is a GUID in its canonical 8-4-4-4-12
// hexadecimal form (either case). Braces, URNs and other spellings are
// rejected so that nothing but hex digits and dashes reaches a URL path.
func ValidateGUID(s string) error {
	if !isGUID(s) {
		return fmt.Errorf("%w: %q is not a GUID", ErrInvalidID, truncate(s))
	}
	return nil
}

// NormalizeGUID returns s in lower case after validating it.
func NormalizeGUID(s string) (string, error) {
	if err := ValidateGUID(s); err != nil {
		return "", err
	}
	return strings.ToLower(s), nil
}

// ValidatePolicyID accepts a GUID or the {guid}_Suffix form Graph uses for
// enrollment configurations (e.g. "…_DefaultLimit"); the suffix is ASCII
// letters and digits only, at most 64 of them.
func ValidatePolicyID(s string) error {
	if isGUID(s) {
		return nil
	}
	if len(s) > 37 && isGUID(s[:36]) && s[36] == '_' {
		suffix := s[37:]
		if len(suffix) <= 64 && isAlnum(suffix) {
			return nil
		}
	}
	return fmt.Errorf("%w: %q is not a policy id (a GUID or {guid}_Suffix)", ErrInvalidID, truncate(s))
}

// NormalizePolicyID lower-cases the GUID part of a valid policy id and keeps
// the suffix as given.
func NormalizePolicyID(s string) (string, error) {
	if err := ValidatePolicyID(s); err != nil {
		return "", err
	}
	return strings.ToLower(s[:36]) + s[36:], nil
}

// ValidateTenant accepts a tenant GUID or a DNS domain name such as
// contoso.onmicrosoft.com (letters, digits, hyphens; labels of 1–63
// characters; at least two labels; at most 253 characters).
func ValidateTenant(s string) error {
	if isGUID(s) || isDomain(s) {
		return nil
	}
	return fmt.Errorf("%w: %q is not a tenant id (a GUID or a domain name)", ErrInvalidID, truncate(s))
}

// NormalizeTenant lower-cases a valid tenant id or domain.
func NormalizeTenant(s string) (string, error) {
	if err := ValidateTenant(s); err != nil {
		return "", err
	}
	return strings.ToLower(s), nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isDomain(s string) bool {
	if len(s) == 0 || len(s) > maxDomainLen {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(isAlnumByte(c) || c == '-') {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func isAlnumByte(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnumByte(s[i]) {
			return false
		}
	}
	return true
}

// truncate keeps error messages short when a caller passes an overlong value.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
