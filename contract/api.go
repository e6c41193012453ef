package contract

import "time"

// ImportView is where one import stands, as the HTTP API answers GET
// /v1/imports/{id} (and each element of GET /v1/imports). It is JSON; its
// fields are a public contract.
type ImportView struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Source string `json:"source"`
	// CreatedAt is when the import was created (UTC).
	CreatedAt time.Time `json:"created_at"`
	// Rows counts every row; Done those with a result.
	Rows int `json:"rows"`
	Done int `json:"done"`
	// Counts holds the rows with a result by status, every status of
	// [Statuses] present (0 when none).
	Counts map[Status]int `json:"counts"`
	// State says where the import stands: "enqueueing", "running", "done",
	// or "N rows missing" when rows have no result and will get none.
	State string `json:"state"`
	// Missing counts the rows that have no result and will get none.
	Missing int `json:"missing"`
	// RateRowsPerSecond is how fast rows get their result: over the last
	// RateWindow while the import runs, over its whole life once finished.
	RateRowsPerSecond float64 `json:"rate_rows_per_second"`
	// ETASeconds is how long the rows without a result should take at that
	// rate; 0 once finished, null when unknown (no rate yet, rows missing).
	ETASeconds *float64 `json:"eta_seconds"`
	// Finished is true once every row has its result; FinishedAt is then
	// when the last one was recorded (null before).
	Finished   bool       `json:"finished"`
	FinishedAt *time.Time `json:"finished_at"`
	// Tenants lists the import's tenants that have jobs queued (of any
	// import), sorted, with what their workers do.
	Tenants []TenantView `json:"tenants"`
}

// RateWindow is the trailing window [ImportView.RateRowsPerSecond] is
// measured over while an import runs.
const RateWindow = 30 * time.Second

// Tenant states of a [TenantView].
const (
	// TenantRunning: the tenant's jobs are being written.
	TenantRunning = "running"
	// TenantThrottled: Graph answered 429; nothing is sent for the tenant
	// before Until.
	TenantThrottled = "throttled"
	// TenantPaused: the tenant's writes are held back (blocked after a 401
	// or 403, Graph unreachable, failing transiently); Reason says why.
	TenantPaused = "paused"
)

// TenantView is one tenant of an [ImportView].
type TenantView struct {
	Tenant string `json:"tenant"`
	// Pending counts the tenant's jobs queued, of every import.
	Pending int `json:"pending"`
	// RateRowsPerSecond is the rate at which the import's rows of this
	// tenant got their results over the last RateWindow.
	RateRowsPerSecond float64 `json:"rate_rows_per_second"`
	// State is TenantRunning, TenantThrottled or TenantPaused.
	State string `json:"state"`
	// Reason says in plain words why a tenant is throttled or paused and
	// until when ("throttled, retry in 12s").
	Reason string `json:"reason,omitempty"`
	// Until is when a throttle or block ends, when known.
	Until *time.Time `json:"until,omitempty"`
}

// ImportList is the answer to GET /v1/imports: the most recent imports
// first.
type ImportList struct {
	Imports []ImportView `json:"imports"`
}

// APIError is the body of every error answer of the HTTP API:
// {"error":{"code":…,"message":…}}.
type APIError struct {
	Error APIErrorDetail `json:"error"`
}

// APIErrorDetail says what went wrong: Code is stable, for programs (see
// the API's OpenAPI description); Message is plain words, for people.
type APIErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
