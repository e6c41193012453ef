package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bulkassign/bulkassign/contract"
)

// DecodeError is what is wrong with a JSON value that could not be
// decoded, in plain words: the field at fault (a column name, or a field of
// a request envelope; "" when the value as a whole is) and the reason, e.g.
// `want text (a JSON string), got a number`. It never names Go types.
type DecodeError struct {
	// Field is the field at fault, "" for the value as a whole.
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error implements error: "field tenant_id: want text (a JSON string), got a number".
func (e *DecodeError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return "field " + e.Field + ": " + e.Reason
}

// PlainJSONError turns an error of encoding/json (a syntax error, a value
// of the wrong type, an unknown field, an early end) into a *[DecodeError]
// in plain words; whole says what the value as a whole should be (e.g. "a
// JSON object of column fields"; "": what its Go type holds). Other errors
// are returned as they are.
func PlainJSONError(err error, whole string) error {
	var (
		syn *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syn):
		return &DecodeError{Reason: fmt.Sprintf("not valid JSON at byte %d: %s", syn.Offset, syn.Error())}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &DecodeError{Reason: "not valid JSON: it ends too early"}
	case errors.As(err, &ute):
		field := ute.Field
		if i := strings.LastIndexByte(field, '.'); i >= 0 {
			field = field[i+1:] // the path through embedded structs names Go types
		}
		if field == "" && whole != "" {
			return &DecodeError{Reason: fmt.Sprintf("want %s, got %s", whole, jsonKind(ute.Value))}
		}
		return &DecodeError{Field: field, Reason: fmt.Sprintf("want %s, got %s", wantOf(ute.Type.Kind().String()), jsonKind(ute.Value))}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &DecodeError{Field: strings.Trim(name, `"`), Reason: "unknown field"}
	}
	return err
}

// wantOf names what a field of a Go kind holds.
func wantOf(kind string) string {
	switch kind {
	case "string":
		return "text (a JSON string)"
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "uint", "uint64":
		return "a whole number"
	case "slice":
		return "a JSON array"
	case "struct", "map":
		return "a JSON object"
	}
	return "another kind of value"
}

// jsonKind names a JSON value as encoding/json describes it ("number",
// "string", "bool", "array", "object", "number -1"…).
func jsonKind(v string) string {
	switch {
	case strings.HasPrefix(v, "number"):
		return "a number"
	case v == "string":
		return "text"
	case v == "bool":
		return "true or false"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	}
	return v
}

// messageError is the error of a queue message element that did not
// decode: it wraps [ErrMalformedMessage] and, when a column is at fault,
// a *[RowError] naming it.
func messageError(err error) error {
	var de *DecodeError
	if !errors.As(PlainJSONError(err, "a JSON object of column fields"), &de) {
		return fmt.Errorf("%w: %w", ErrMalformedMessage, err)
	}
	if de.Field == "" {
		return fmt.Errorf("%w: %s", ErrMalformedMessage, de.Reason)
	}
	reason := de.Reason
	if reason == "unknown field" {
		reason = "unknown field; the fields are the CSV column names: " + columnList(contract.CSVColumns())
	}
	return fmt.Errorf("%w: %w", ErrMalformedMessage, &RowError{Column: contract.Column(de.Field), Reason: reason})
}
