package jobs

import "github.com/bulkassign/bulkassign/contract"

// Error codes bulkassign itself gives failed rows (column error_code of the
// report): those of package contract, where they are documented.
const (
	CodeTenantUnauthorized  = contract.CodeTenantUnauthorized
	CodeForbidden           = contract.CodeForbidden
	CodeGraphUnreachable    = contract.CodeGraphUnreachable
	CodeIdentityUnreachable = contract.CodeIdentityUnreachable
	CodeDeadlineExceeded    = contract.CodeDeadlineExceeded
	CodePanic               = contract.CodePanic
)
