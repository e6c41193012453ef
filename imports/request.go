package imports

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
)

// Limits of one request (contract/request.schema.json states them too).
const (
	// MaxRequestAssignments bounds the assignments of one request (one
	// message, one part). Larger imports are sent in parts.
	MaxRequestAssignments = ingest.MaxMessageRows
	// MaxRequestBytes is the default bound of a request's body, in bytes
	// ([RequestOptions.MaxBytes]): 10,000 assignments of about 250 bytes
	// fit. The embedded NATS server takes messages this large; an external
	// one takes its max_payload (1 MB by default).
	MaxRequestBytes = 4 << 20
	// MaxRequestParts bounds the parts of one request.
	MaxRequestParts = 100
	// maxNameLen bounds a request's name.
	maxNameLen = 200
)

// FormatRequest is the [jobs.Request] format of a request envelope.
const FormatRequest = "request"

// Request errors, wrapped by *[RequestError].
var (
	// ErrMalformedRequest: the body is not a request (not JSON, a field of
	// the wrong type, an unknown field, an invalid request_id, …).
	ErrMalformedRequest = errors.New("malformed request")
	// ErrRequestTooLarge: the body is over [RequestOptions.MaxBytes].
	ErrRequestTooLarge = errors.New("request too large")
	// ErrTooManyAssignments: more than [MaxRequestAssignments] assignments.
	ErrTooManyAssignments = errors.New("too many assignments")
)

// RequestError is why a body is not a request, in plain words: the element
// of "assignments" at fault (Index, from 0; -1 when the request as a whole
// is), the field at fault (a column of that element, or a field of the
// envelope; "" for none) and the reason. Err is one of the sentinels
// above.
type RequestError struct {
	Index  int
	Field  string
	Reason string
	Err    error
}

// Error implements error: `assignments[3], field tenant_id: want text (a
// JSON string), got a number`.
func (e *RequestError) Error() string {
	var where []string
	if e.Index >= 0 {
		where = append(where, fmt.Sprintf("assignments[%d]", e.Index))
	}
	if e.Field != "" {
		where = append(where, "field "+e.Field)
	}
	if len(where) == 0 {
		return e.Reason
	}
	return strings.Join(where, ", ") + ": " + e.Reason
}

// Unwrap returns Err.
func (e *RequestError) Unwrap() error { return e.Err }

func malformed(index int, field, format string, args ...any) *RequestError {
	return &RequestError{Index: index, Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrMalformedRequest}
}

// RequestHeader is a request's envelope without its assignments.
type RequestHeader struct {
	// ID is request_id: the request's idempotency key. Every message with
	// the same ID is one import. 1 to 64 letters, digits, '-' and '_'.
	ID string `json:"request_id,omitempty"`
	// Name labels the import (status shows it).
	Name string `json:"name,omitempty"`
	// Tenant is tenant_id: the default tenant of assignments without one.
	Tenant string `json:"tenant_id,omitempty"`
	// SkipInvalid enqueues the valid assignments when some are invalid,
	// instead of refusing the request.
	SkipInvalid bool `json:"skip_invalid,omitempty"`
	// Part and Parts number a request sent in several messages: part
	// Part (from 1) of Parts, every part with the same ID. Both 0 for a
	// request in one message.
	Part  int `json:"part,omitempty"`
	Parts int `json:"parts,omitempty"`
}

// envelopeFields are the fields of the envelope, in documented order;
// TestRequestSchema keeps them in step with RequestHeader and the schema.
var envelopeFields = []string{"request_id", "name", "tenant_id", "skip_invalid", "part", "parts", "assignments"}

// RequestOptions are how a request's body is read.
type RequestOptions struct {
	// MaxBytes bounds the body. Default [MaxRequestBytes].
	MaxBytes int
	// Tenant is the default tenant of a request without tenant_id (serve
	// --tenant). Default: none.
	Tenant string
}

// Request is an import request: a JSON envelope
//
//	{"request_id", "name", "tenant_id", "skip_invalid", "part", "parts",
//	 "assignments": [{"tenant_id": …, "kind": …, …}, …]}
//
// or one bare assignment object, whose fields are the CSV column names
// (contract/request.schema.json). It is a [RowSource] and a [Keeper]:
// assignment n of "assignments" (from 0) is row n+1 of the import. Any
// invalid assignment refuses the request unless skip_invalid.
type Request struct {
	RequestHeader
	// format is how Keep says to read body again: FormatRequest, or
	// FormatParts for an assembled request (body is its request_id).
	format string
	// allowNames lets rows give names ([Importer.Submit] resolves them).
	allowNames bool
	// last is the last scan's outcome, for a scan again with the same
	// options (Submit scans to see whether names are given, then Create
	// scans): the assignments are not read twice.
	last  *lastScan
	body  []byte
	elems []json.RawMessage
	sha   string
	sum   ingest.Summary
}

// ParseRequest reads a request's body strictly: malformed JSON, a field of
// the wrong type, an unknown envelope field, an invalid request_id, name,
// tenant_id or part, more than [MaxRequestAssignments] assignments (found
// without reading the rest) and a body over opts.MaxBytes each fail with a
// *[RequestError] in plain words. The assignments themselves are checked
// by [Request.Scan] (their errors are rows of [Request.Summary]).
func ParseRequest(body []byte, opts RequestOptions) (*Request, error) {
	limit := cmp.Or(opts.MaxBytes, MaxRequestBytes)
	if len(body) > limit {
		return nil, &RequestError{Index: -1, Err: ErrRequestTooLarge,
			Reason: fmt.Sprintf("the request is %d bytes; at most %d bytes per message: send larger imports in parts (part/parts)", len(body), limit)}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, malformed(-1, "", "want a JSON object: a request with \"assignments\", or one assignment")
	}
	fields, elems, err := splitRequest(trimmed)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(trimmed)
	r := &Request{format: FormatRequest, body: trimmed, sha: hex.EncodeToString(digest[:])}
	if elems == nil { // one bare assignment
		r.elems = []json.RawMessage{trimmed}
		r.Tenant = opts.Tenant
		return r.checked()
	}
	r.elems = elems
	if err := r.decodeHeader(fields); err != nil {
		return nil, err
	}
	r.Tenant = cmp.Or(r.Tenant, opts.Tenant)
	return r.checked()
}

// checked returns r when its header is valid, else the error (and no
// request: nothing of it may be used).
func (r *Request) checked() (*Request, error) {
	if err := r.checkHeader(); err != nil {
		return nil, err
	}
	return r, nil
}

// splitRequest reads the top-level object: every field but "assignments"
// as it is, and the elements of "assignments" one by one, stopping at the
// first past the limit. elems is nil when there is no "assignments" (a
// bare assignment).
func splitRequest(data []byte) (map[string]json.RawMessage, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, nil, jsonError(-1, err)
	}
	fields := map[string]json.RawMessage{}
	var elems []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, jsonError(-1, err)
		}
		key, _ := tok.(string) // object keys are strings
		if key == "assignments" {
			if elems, err = readAssignments(dec); err != nil {
				return nil, nil, err
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, jsonError(-1, err)
		}
		fields[key] = v
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, jsonError(-1, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, malformed(-1, "", "data after the request's object")
	}
	return fields, elems, nil
}

// readAssignments reads the array of "assignments", element by element.
func readAssignments(dec *json.Decoder) ([]json.RawMessage, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(-1, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, malformed(-1, "assignments", "want an array of assignment objects")
	}
	elems := []json.RawMessage{}
	for dec.More() {
		if len(elems) == MaxRequestAssignments {
			return nil, &RequestError{Index: -1, Field: "assignments", Err: ErrTooManyAssignments,
				Reason: fmt.Sprintf("more than %d assignments; at most %d per message: send larger imports in parts (part/parts)", MaxRequestAssignments, MaxRequestAssignments)}
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, jsonError(len(elems), err)
		}
		elems = append(elems, v)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, jsonError(len(elems), err)
	}
	if len(elems) == 0 {
		return nil, malformed(-1, "assignments", "empty: nothing to import")
	}
	return elems, nil
}

// jsonError is a decoding error of element index (-1: the envelope) in
// plain words.
func jsonError(index int, err error) *RequestError {
	var de *ingest.DecodeError
	if errors.As(ingest.PlainJSONError(err, "a JSON object"), &de) {
		return malformed(index, de.Field, "%s", de.Reason)
	}
	return malformed(index, "", "not valid JSON")
}

// decodeHeader decodes the envelope's fields, each strictly.
func (r *Request) decodeHeader(fields map[string]json.RawMessage) error {
	dst := map[string]any{
		"request_id": &r.ID, "name": &r.Name, "tenant_id": &r.Tenant,
		"skip_invalid": &r.SkipInvalid, "part": &r.Part, "parts": &r.Parts,
	}
	// In documented order, so that the first error is the same every time.
	for _, name := range envelopeFields {
		v, ok := fields[name]
		if !ok || name == "assignments" {
			continue
		}
		if err := json.Unmarshal(v, dst[name]); err != nil {
			var de *ingest.DecodeError
			if errors.As(ingest.PlainJSONError(err, ""), &de) {
				return malformed(-1, name, "%s", de.Reason)
			}
			return malformed(-1, name, "not valid")
		}
	}
	for name := range fields {
		if _, ok := dst[name]; !ok {
			return malformed(-1, name, "unknown field; a request's fields are %s", strings.Join(envelopeFields, ", "))
		}
	}
	return nil
}

// checkHeader checks the envelope's values.
func (r *Request) checkHeader() error {
	if r.ID != "" {
		if err := ValidateRequestID(r.ID); err != nil {
			return malformed(-1, "request_id", "%s", err.Error())
		}
	}
	if len(r.Name) > maxNameLen {
		return malformed(-1, "name", "too long: %d bytes (max %d)", len(r.Name), maxNameLen)
	}
	if strings.ContainsFunc(r.Name, unicode.IsControl) {
		return malformed(-1, "name", "control characters are not allowed")
	}
	if r.Tenant != "" {
		t, err := graph.NormalizeTenant(r.Tenant)
		if err != nil {
			return malformed(-1, "tenant_id", "not a tenant id (a GUID or a domain name): %q", clip(r.Tenant))
		}
		r.Tenant = t
	}
	switch {
	case r.Part == 0 && r.Parts == 0:
	case r.Parts < 1 || r.Parts > MaxRequestParts:
		return malformed(-1, "parts", "want 1 to %d, got %d", MaxRequestParts, r.Parts)
	case r.Part < 1 || r.Part > r.Parts:
		return malformed(-1, "part", "want 1 to parts (%d), got %d", r.Parts, r.Part)
	case r.ID == "":
		return malformed(-1, "request_id", "required for a request in parts: every part carries the same request_id")
	}
	return nil
}

// ValidateRequestID accepts 1 to 64 ASCII letters, digits, '-' and '_': a
// request_id is a NATS subject token (bulkassign.receipts.<request_id>).
func ValidateRequestID(id string) error {
	if jobs.ValidateImportID(id) != nil {
		return fmt.Errorf("%q: use 1 to 64 letters, digits, '-' and '_'", clip(id))
	}
	return nil
}

// clip bounds a value quoted in an error.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// InParts reports whether the request is one part of several.
func (r *Request) InParts() bool { return r.Parts > 1 }

// Len returns the number of assignments.
func (r *Request) Len() int { return len(r.elems) }

// Spec is the Spec of the request's import: its name (default "request
// <request_id>", or "queue request"), source and key (its request_id, or
// fallbackKey when it has none: e.g. the stream sequence of its message).
func (r *Request) Spec(source, fallbackKey string) Spec {
	name := r.Name
	if name == "" && r.ID != "" {
		name = "request " + r.ID
	}
	return Spec{Name: cmp.Or(name, "queue request"), Source: source, Key: cmp.Or(r.ID, fallbackKey), RequestID: r.ID}
}

// Summary returns the summary of the last pass: the assignments, and what
// is wrong with the invalid ones (row n is assignment n-1).
func (r *Request) Summary() ingest.Summary { return r.sum }

// options are the ingest options of the assignments.
func (r *Request) options() ingest.Options {
	return ingest.Options{Tenant: r.Tenant, SkipInvalid: r.SkipInvalid, MaxErrors: len(r.elems), AllowUnresolved: r.allowNames}
}

// lastScan is what a scan with opts found: its content or the request's
// fault (never ctx's end), and its summary.
type lastScan struct {
	opts    ingest.Options
	content Content
	sum     ingest.Summary
	err     error
}

// Scan implements [RowSource]. A scan with the options of the last one
// returns its outcome without reading the assignments again.
func (r *Request) Scan(ctx context.Context) (Content, error) {
	opts := r.options()
	if l := r.last; l != nil && l.opts == opts {
		r.sum = l.sum
		return l.content, l.err
	}
	var s scan
	sum, err := ingest.IngestMessages(ctx, r.elems, opts, &s)
	r.sum = sum
	if err != nil && ctx.Err() != nil {
		return Content{}, err
	}
	l := &lastScan{opts: opts, sum: sum, err: err}
	if err == nil {
		l.content = s.content(sum, r.sha)
	}
	r.last = l
	return l.content, l.err
}

// givesNames reports whether a row of the request gives a name to
// resolve (a request that cannot be scanned gives none: Create says why).
func (r *Request) givesNames(ctx context.Context) bool {
	if _, err := r.Scan(ctx); err != nil && !errors.Is(err, ingest.ErrInvalidRows) {
		return false
	}
	return r.sum.Unresolved > 0
}

// Emit implements [RowSource].
func (r *Request) Emit(ctx context.Context, importID string, sink ingest.Sink) error {
	opts := r.options()
	opts.ImportID = importID
	var err error
	r.sum, err = ingest.IngestMessages(ctx, r.elems, opts, sink)
	return err
}

// Keep implements [Keeper].
func (r *Request) Keep() (jobs.Request, []byte) {
	return jobs.Request{Format: r.format, Tenant: r.Tenant}, r.body
}
