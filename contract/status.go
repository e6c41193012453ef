package contract

// Status is a row's final status (report column "status").
type Status string

// Row statuses.
const (
	// StatusCreated: the row's assignment was written to Graph by this
	// row.
	StatusCreated Status = "created"
	// StatusExisting: Graph already had the row's assignment; nothing was
	// written.
	StatusExisting Status = "existing"
	// StatusDuplicate: the row repeats an earlier row of its import
	// (report column duplicate_of names it); nothing was written.
	StatusDuplicate Status = "duplicate"
	// StatusFailed: the row could not be written (error_code and
	// error_message say why).
	StatusFailed Status = "failed"
	// StatusInvalid: the row failed validation and was never enqueued.
	StatusInvalid Status = "invalid"
	// StatusConflict: the policy already assigns the row's target, but with
	// another filter (id or type) or intent. Nothing was changed; what
	// Graph has is in the error message.
	StatusConflict Status = "conflict"
	// StatusRemoved: a remove row; bulkassign removed the assignment, and
	// Graph then no longer held it.
	StatusRemoved Status = "removed"
	// StatusAbsent: a remove row whose assignment Graph does not hold:
	// nothing to remove (success).
	StatusAbsent Status = "absent"
)

// Statuses returns every status in the order summaries list them.
func Statuses() []Status {
	return []Status{StatusCreated, StatusExisting, StatusDuplicate, StatusFailed, StatusInvalid, StatusConflict, StatusRemoved, StatusAbsent}
}

// OK reports whether the status counts as success for the exit code
// (failed, invalid and conflict do not).
func (s Status) OK() bool {
	return s == StatusCreated || s == StatusExisting || s == StatusDuplicate || s == StatusRemoved || s == StatusAbsent
}
