package contract

import "time"

// Receipt is the answer to an import request, whether it came through the
// durable queue intake (bulkassign.requests.>), the core-NATS submit
// subject or the HTTP API (POST /v1/imports). It is JSON; its fields are a
// public contract.
type Receipt struct {
	// RequestID is the request's request_id, when it gave one.
	RequestID string `json:"request_id,omitempty"`
	// ImportID names the import the request became; empty when it became
	// none (refused, or a part still waiting for the others).
	ImportID string `json:"import_id,omitempty"`
	// Accepted counts the rows that became jobs.
	Accepted int `json:"accepted"`
	// Duplicates counts the rows that repeat an earlier row of the import.
	Duplicates int `json:"duplicates"`
	// Rejected lists every invalid element: refused whole unless the
	// request asked skip_invalid.
	Rejected []Rejection `json:"rejected"`
	// Parts and PartsReceived say, for a request sent in parts, how many
	// parts it has and how many have arrived.
	Parts         int `json:"parts,omitempty"`
	PartsReceived int `json:"parts_received,omitempty"`
	// Error says, in plain words, why the request became no import.
	Error string `json:"error,omitempty"`
}

// Rejection is why one element of a request is invalid: its index (from 0,
// its position in "assignments"; from 1 for a CSV's row number as Row),
// the column at fault when one is, and the reason in plain words.
type Rejection struct {
	Index  int    `json:"index"`
	Column Column `json:"column,omitempty"`
	Reason string `json:"reason"`
}

// Subjects of the durable queue intake: requests are published on
// RequestSubjectPrefix + anything (the stream captures
// "bulkassign.requests.>"); a request without a reply subject gets its
// receipt on ReceiptSubjectPrefix + its request_id (or, without one,
// "sha-" + the first 32 hex digits of the SHA-256 of its subject, a space
// and its body).
const (
	RequestSubjectPrefix = "bulkassign.requests."
	ReceiptSubjectPrefix = "bulkassign.receipts."
)

// Event subjects: an import's lifecycle is published on
// EventSubjectPrefix + <import id> + "." + EventStarted or EventFinished.
const (
	EventSubjectPrefix = "bulkassign.events.import."
	EventStarted       = "started"
	EventFinished      = "finished"
)

// ImportEvent is the body of an import's lifecycle event (and of a
// webhook's POST). Its fields are a public contract.
type ImportEvent struct {
	// Event is EventStarted or EventFinished.
	Event    string `json:"event"`
	ImportID string `json:"import_id"`
	// RequestID is the request's request_id, when it came with one.
	RequestID string `json:"request_id,omitempty"`
	Name      string `json:"name,omitempty"`
	// Rows counts every row of the import.
	Rows int `json:"rows"`
	// Counts holds the rows by status (finished events).
	Counts map[Status]int `json:"counts,omitempty"`
	// StartedAt is when the import was created; FinishedAt when its last
	// row got its result (finished events).
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// DurationSeconds is FinishedAt − StartedAt (finished events).
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
}
