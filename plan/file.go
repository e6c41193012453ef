package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// FormatV1 is the plan file format this package writes and reads.
const FormatV1 = "bulkassign-plan/1"

// MaxFileSize bounds a plan file [Load] reads (a million rows fit).
const MaxFileSize = 1 << 30

// Errors of [Load].
var (
	// ErrFormat: not a plan file of a format this version reads.
	ErrFormat = errors.New("not a bulkassign plan file")
	// ErrTampered: the plan's content does not match its plan_sha256: it was
	// edited after it was written.
	ErrTampered = errors.New("plan file was changed after it was written (plan_sha256 does not match its content)")
)

// Plan is what applying an input would do, row by row, as decided against
// Graph when it was built. Its JSON form is the plan file.
type Plan struct {
	// Format is [FormatV1].
	Format string `json:"format"`
	// Source names the input as the user gave it.
	Source string `json:"source"`
	// InputSHA256 is the hex SHA-256 of every byte of the input.
	InputSHA256 string `json:"input_sha256"`
	// Created is when the plan was built (UTC).
	Created time.Time `json:"created"`
	// Entries has one entry per data row, in row order.
	Entries []Entry `json:"entries"`
	// SHA256 is the hex SHA-256 of the plan's content: the compact JSON
	// encoding of the plan with this field empty ([Plan.ContentHash]).
	SHA256 string `json:"plan_sha256"`
}

// Entry is one row: its resolved ids and its decision.
type Entry struct {
	// Row is the input row (the header is row 1).
	Row int `json:"row"`
	// Decision is what applying the row would do.
	Decision Decision `json:"decision"`
	// Reason explains an invalid, unresolved, conflicting, duplicate or
	// failed row.
	Reason string `json:"reason,omitempty"`
	// Action is "add" or "remove".
	Action string `json:"action"`

	Tenant       string `json:"tenant_id"`
	Kind         string `json:"kind"`
	PolicyID     string `json:"policy_id,omitempty"`
	PolicyName   string `json:"policy_name,omitempty"`
	Target       string `json:"target,omitempty"`
	GroupID      string `json:"group_id,omitempty"`
	GroupName    string `json:"group_name,omitempty"`
	CollectionID string `json:"collection_id,omitempty"`
	FilterID     string `json:"filter_id,omitempty"`
	FilterName   string `json:"filter_name,omitempty"`
	FilterType   string `json:"filter_type,omitempty"`
	Intent       string `json:"intent,omitempty"`
	APIVersion   string `json:"api_version,omitempty"`
	// Key is the assignment's key ([jobs.Job.ComputeKey]) once resolved.
	Key string `json:"key,omitempty"`

	// AssignmentID is Graph's id of the assignment the row concerns
	// (exists, remove, conflict).
	AssignmentID string `json:"assignment_id,omitempty"`
	// DuplicateOf is the earlier row a duplicate repeats.
	DuplicateOf int `json:"duplicate_of,omitempty"`
	// Candidates are the objects an ambiguous name matches.
	Candidates []graph.Named `json:"candidates,omitempty"`
}

// entryFor starts the entry of a (possibly unresolved) job.
func entryFor(j jobs.Job) Entry {
	e := Entry{
		Row: j.Row, Action: jobs.ActionAdd,
		Tenant: j.Tenant, Kind: j.Kind, PolicyID: j.PolicyID, PolicyName: j.PolicyName,
		Target: string(j.Target), GroupID: j.GroupID, GroupName: j.GroupName, CollectionID: j.CollectionID,
		FilterID: j.FilterID, FilterName: j.FilterName, FilterType: j.FilterType, Intent: j.Intent,
		APIVersion: j.APIVersion,
	}
	if j.Action == jobs.ActionRemove {
		e.Action = jobs.ActionRemove
	}
	if !j.Unresolved() {
		e.Key = j.Key
	}
	return e
}

// Job rebuilds the job of the entry, for importID, with its key computed:
// what apply enqueues for a create or remove entry. Callers validate it
// ([jobs.Job.Validate]) before writing anything.
func (e Entry) Job(importID string) jobs.Job {
	j := jobs.Job{
		ImportID: importID, Row: e.Row,
		Tenant: e.Tenant, Kind: e.Kind, PolicyID: e.PolicyID, Target: graph.TargetType(e.Target),
		GroupID: e.GroupID, CollectionID: e.CollectionID, FilterID: e.FilterID, FilterType: e.FilterType,
		Intent: e.Intent, APIVersion: e.APIVersion,
		GroupName: e.GroupName, FilterName: e.FilterName, PolicyName: e.PolicyName,
	}
	if e.Action == jobs.ActionRemove {
		j.Action = jobs.ActionRemove
	}
	j.Key = j.ComputeKey()
	return j
}

// ContentHash is the hex SHA-256 of the plan's content: its compact JSON
// encoding with SHA256 empty. Formatting of the file does not count; any
// changed value does.
func (p *Plan) ContentHash() (string, error) {
	c := *p
	c.SHA256 = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("plan: encode: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Write sets p.SHA256 to the content hash and writes the plan as indented
// JSON. p is first replaced by its own JSON round trip (invalid UTF-8 from
// an invalid row becomes U+FFFD), so that the hash is that of what [Load]
// will read back.
func (p *Plan) Write(w io.Writer) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("plan: encode: %w", err)
	}
	var norm Plan
	if err := json.Unmarshal(b, &norm); err != nil {
		return fmt.Errorf("plan: encode: %w", err)
	}
	*p = norm
	h, err := p.ContentHash()
	if err != nil {
		return err
	}
	p.SHA256 = h
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	return nil
}

// Load reads a plan file and checks it: [ErrFormat] when it is not a plan
// of [FormatV1] (unknown fields included), [ErrTampered] when its content
// does not match its plan_sha256.
func Load(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("plan: read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the plan", ErrFormat)
	}
	if p.Format != FormatV1 {
		return nil, fmt.Errorf("%w: format %q (this version reads %s)", ErrFormat, p.Format, FormatV1)
	}
	h, err := p.ContentHash()
	if err != nil {
		return nil, err
	}
	if p.SHA256 != h {
		return nil, ErrTampered
	}
	return &p, nil
}
