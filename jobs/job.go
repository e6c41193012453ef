package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
)

// Job is one assignment to create, or to remove ([ActionRemove]). Ingest
// builds it from a validated row; every identifier in it has been
// validated and normalised (lower-case GUIDs, short target names,
// canonical intent and version).
type Job struct {
	// Key identifies the assignment whatever the row's spelling: see [Job.ComputeKey].
	Key string `json:"key"`
	// ImportID and Row tie the job to its source row (row numbers count the
	// header as row 1, so the first data row is 2, as a spreadsheet shows it).
	ImportID string `json:"import_id"`
	Row      int    `json:"row"`

	Tenant       string           `json:"tenant"`
	Kind         string           `json:"kind"`
	PolicyID     string           `json:"policy_id"`
	Target       graph.TargetType `json:"target"`
	GroupID      string           `json:"group_id,omitempty"`
	CollectionID string           `json:"collection_id,omitempty"`
	FilterID     string           `json:"filter_id,omitempty"`
	FilterType   string           `json:"filter_type,omitempty"`
	Intent       string           `json:"intent,omitempty"`
	APIVersion   string           `json:"api_version"`

	// Action is [ActionRemove] for a row that removes the assignment, ""
	// for one that adds it (the default, spelled "add" in a CSV).
	Action string `json:"action,omitempty"`
	// GroupName, FilterName and PolicyName are the display names a row
	// gave instead of GroupID, FilterID and PolicyID. A job with a name and
	// no id is unresolved: the resolve package fills the id in (keeping the
	// name for the report) before the job can be written.
	GroupName  string `json:"group_name,omitempty"`
	FilterName string `json:"filter_name,omitempty"`
	PolicyName string `json:"policy_name,omitempty"`
}

// Actions of a row (CSV column "action"; a public contract).
const (
	ActionAdd    = "add"
	ActionRemove = "remove"
)

// ErrMalformedJob is wrapped by [DecodeJob] for a message that is not a job.
var ErrMalformedJob = errors.New("malformed job")

// ComputeKey returns the stable key of the assignment the job describes: the
// SHA-256 (hex) of its normalised tenant, kind, policy, target, filter,
// intent and API version. Two rows that mean the same assignment get the
// same key; import id and row do not count. An unresolved name stands in
// for its missing id (case-insensitively, as Graph compares names); once the
// id is filled in the name no longer counts, so a named row and an id row
// of the same assignment share a key. A removal's key differs from the
// addition's; an addition's key is what it was before actions existed.
func (j Job) ComputeKey() string {
	h := sha256.New()
	for _, f := range []string{
		strings.ToLower(j.Tenant), strings.ToLower(j.Kind), idOrName(j.PolicyID, j.PolicyName),
		strings.ToLower(string(j.Target)), idOrName(j.GroupID, j.GroupName), strings.ToLower(j.CollectionID),
		idOrName(j.FilterID, j.FilterName), strings.ToLower(j.FilterType), strings.ToLower(j.Intent), strings.ToLower(j.APIVersion),
	} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	if j.Action == ActionRemove {
		h.Write([]byte(ActionRemove))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// idOrName is the key field of an id that may still be a name: the id when
// there is one, else the name marked so that it can never equal an id.
func idOrName(id, name string) string {
	if id != "" || name == "" {
		return strings.ToLower(id)
	}
	return "\x01name:" + strings.ToLower(name)
}

// Unresolved reports whether the job still has a name where an id is
// needed (a policy, group or filter named but not yet looked up).
func (j Job) Unresolved() bool {
	return (j.PolicyID == "" && j.PolicyName != "") ||
		(j.GroupID == "" && j.GroupName != "") ||
		(j.FilterID == "" && j.FilterName != "")
}

// Assignment returns the Graph assignment the job creates.
func (j Job) Assignment() graph.Assignment {
	return graph.Assignment{
		Target: graph.Target{
			Type: j.Target, GroupID: j.GroupID, CollectionID: j.CollectionID,
			FilterID: j.FilterID, FilterType: j.FilterType,
		},
		Intent: j.Intent,
	}
}

// Validate re-checks a job against the registry: used on every decoded
// message, because a queue may carry anything. A job must be resolved (ids,
// not only names) to be valid; its action is "" (add) or [ActionRemove].
func (j Job) Validate() error {
	k, err := graph.LookupKind(j.Kind)
	if err != nil {
		return err
	}
	switch j.Action {
	case "", ActionRemove:
	default:
		return fmt.Errorf("unknown action %q", j.Action)
	}
	if err := graph.ValidateTenant(j.Tenant); err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	if err := graph.ValidatePolicyID(j.PolicyID); err != nil {
		return fmt.Errorf("policy id: %w", err)
	}
	if err := k.Validate(j.Assignment(), j.APIVersion); err != nil {
		return err
	}
	if j.Key != j.ComputeKey() {
		return errors.New("key does not match the job's fields")
	}
	return nil
}

// DecodeJob decodes and validates a job message body.
func DecodeJob(data []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return Job{}, fmt.Errorf("%w: %w", ErrMalformedJob, err)
	}
	if err := j.Validate(); err != nil {
		return Job{}, fmt.Errorf("%w: %w", ErrMalformedJob, err)
	}
	return j, nil
}

// Status is a row's final status in a report: [contract.Status].
type Status = contract.Status

// Row statuses: those of package contract, where they are documented.
const (
	StatusCreated   = contract.StatusCreated
	StatusExisting  = contract.StatusExisting
	StatusDuplicate = contract.StatusDuplicate
	StatusFailed    = contract.StatusFailed
	StatusInvalid   = contract.StatusInvalid
	StatusConflict  = contract.StatusConflict
	StatusRemoved   = contract.StatusRemoved
	StatusAbsent    = contract.StatusAbsent
)

// Result is what happened to one row: exactly one per row of an import.
type Result struct {
	ImportID string `json:"import_id"`
	Row      int    `json:"row"`
	Key      string `json:"key,omitempty"`

	Tenant   string `json:"tenant_id"`
	Kind     string `json:"kind"`
	PolicyID string `json:"policy_id"`
	Target   string `json:"target"`
	GroupID  string `json:"group_id"`
	// FilterID, FilterType, Intent and APIVersion complete the row (as
	// normalised by ingest; as written for an invalid row), so that a
	// report is a re-submittable record of it.
	FilterID   string `json:"filter_id,omitempty"`
	FilterType string `json:"filter_type,omitempty"`
	Intent     string `json:"intent,omitempty"`
	APIVersion string `json:"api_version,omitempty"`

	Status       Status `json:"status"`
	AssignmentID string `json:"assignment_id,omitempty"`
	HTTPStatus   int    `json:"http_status,omitempty"`
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	RequestID    string `json:"request_id,omitempty"`
	Attempts     int    `json:"attempts"`
	// DuplicateOf is the row a duplicate repeats.
	DuplicateOf int       `json:"duplicate_of,omitempty"`
	At          time.Time `json:"at"`
	// Job is the job the row became (nil for invalid rows): what
	// "bulkassign retry" re-enqueues for failed rows.
	Job *Job `json:"job,omitempty"`
}

// ResultFor starts a result for job j with the job's identifying columns.
func ResultFor(j Job, s Status) Result {
	return Result{
		ImportID: j.ImportID, Row: j.Row, Key: j.Key,
		Tenant: j.Tenant, Kind: j.Kind, PolicyID: j.PolicyID,
		Target: string(j.Target), GroupID: j.GroupID,
		FilterID: j.FilterID, FilterType: j.FilterType, Intent: j.Intent, APIVersion: j.APIVersion,
		Status: s, Job: &j,
	}
}
