package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// TenantSubject returns the jobs subject of a tenant:
// "bulkassign.jobs.<token>", where the token is the lower-case tenant with
// '.' replaced by '_'. Tenants are GUIDs or DNS names (validated upstream),
// which never contain '_', so [TenantFromSubject] inverts it.
func TenantSubject(tenant string) string {
	return JobsSubjectPrefix + tenantToken(tenant)
}

// TenantFromSubject returns the tenant of a jobs subject made by
// [TenantSubject], and false for any other subject.
func TenantFromSubject(subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, JobsSubjectPrefix)
	if !ok || tok == "" || strings.ContainsAny(tok, ".*> ") {
		return "", false
	}
	return strings.ReplaceAll(tok, "_", "."), true
}

// tenantToken is the subject token of a tenant.
func tenantToken(tenant string) string {
	return strings.ReplaceAll(strings.ToLower(tenant), ".", "_")
}

// maxNameLen is JetStream's limit on consumer names.
const maxNameLen = 255

// consumerName is the durable consumer name of a tenant: "jobs_<token>".
// Consumer names may not contain '.', '*', '>' or whitespace, which the
// token does not (for a validated tenant). An overlong name is shortened to
// a prefix and a hash so it stays unique.
func consumerName(tenant string) string {
	name := "jobs_" + tenantToken(tenant)
	if len(name) <= maxNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:200] + "_" + hex.EncodeToString(sum[:16])
}
