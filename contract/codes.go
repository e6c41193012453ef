package contract

// Error codes bulkassign itself gives failed rows (report column
// error_code); the other codes in that column are Graph's own. They are
// plain strings because the column holds both.
const (
	// CodeTenantUnauthorized: Graph (or the identity provider) refused the
	// tenant's token even after a refresh, or would not issue one: wrong
	// credential, app not consented in the tenant, tenant unknown.
	CodeTenantUnauthorized = "tenant_unauthorized"
	// CodeForbidden: Graph answered 403: the app lacks the permission the
	// kind needs in that tenant.
	CodeForbidden = "forbidden"
	// CodeGraphUnreachable: Graph's host could not be reached (name not
	// resolved, connection refused or impossible, certificate not trusted)
	// within the connect deadline.
	CodeGraphUnreachable = "graph_unreachable"
	// CodeIdentityUnreachable: the identity provider (the cloud's login
	// host, or AZURE_AUTHORITY_HOST) could not be reached within the
	// connect deadline, so no token could be had. It is a different host
	// from Graph's, often behind different firewall or proxy rules.
	CodeIdentityUnreachable = "identity_unreachable"
	// CodeDeadlineExceeded: the job kept failing transiently (or being
	// throttled) until its deadline, and no Graph error was recorded.
	CodeDeadlineExceeded = "deadline_exceeded"
	// CodePanic: handling the job panicked until its deadline.
	CodePanic = "panic"
)
