package ingest

import (
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/contract"
)

// File-level error sentinels, wrapped by [*FileError].
var (
	// ErrEmpty: the input has no records at all.
	ErrEmpty = errors.New("empty file")
	// ErrNoHeader: the first record names none of the known columns.
	ErrNoHeader = errors.New("no header row")
	// ErrHeader: the header has unknown, duplicate or missing columns.
	ErrHeader = errors.New("bad header")
	// ErrNoRows: a header but no data rows.
	ErrNoRows = errors.New("no data rows")
	// ErrNotCSV: the input is binary or otherwise not CSV text.
	ErrNotCSV = errors.New("not a CSV file")
	// ErrRecordTooLong: a record exceeds [MaxRecordLen] bytes.
	ErrRecordTooLong = errors.New("record too long")
	// ErrTooManyRows: more rows than a row number can hold.
	ErrTooManyRows = errors.New("too many rows")
)

// ErrInvalidRows is returned (wrapped) by [Validate] and [Ingest] when at
// least one row is invalid and [Options.SkipInvalid] is false. The
// [Summary] returned alongside is complete.
var ErrInvalidRows = errors.New("invalid rows")

// ErrMalformedMessage is wrapped by [ParseMessage] for a message that is not
// a JSON object of string columns.
var ErrMalformedMessage = errors.New("malformed message")

// FileError is a problem with the input as a whole: nothing in it can be
// trusted, so no row is processed past it.
type FileError struct {
	// Row is the record the problem was found at (1 is the header; 0 when
	// no record applies, e.g. an empty file).
	Row int
	// Err is one of the sentinels above (ErrEmpty, ErrHeader, …).
	Err error
	// Detail explains it, e.g. which columns are unknown.
	Detail string
}

// Error implements error: "row 1: bad header: unknown columns: \"foo\"".
func (e *FileError) Error() string {
	msg := e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Row > 0 {
		msg = fmt.Sprintf("row %d: %s", e.Row, msg)
	}
	return msg
}

// Unwrap returns the sentinel, for errors.Is.
func (e *FileError) Unwrap() error { return e.Err }

// RowError is why one row is invalid.
type RowError struct {
	// Row is the row number (the header is row 1).
	Row int `json:"row"`
	// Column is the column at fault ("" when the row as a whole is, e.g. a
	// wrong number of fields).
	Column contract.Column `json:"column,omitempty"`
	// Reason says what is wrong, e.g. `not a GUID: "x"`.
	Reason string `json:"reason"`
}

// Error implements error: `row 7, column group_id: not a GUID: "x"`.
func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("row %d, column %s: %s", e.Row, e.Column, e.Reason)
}

// Message is the error text without the row number, for results (which
// carry the row themselves): `column group_id: not a GUID: "x"`.
func (e *RowError) Message() string {
	if e.Column == "" {
		return e.Reason
	}
	return "column " + string(e.Column) + ": " + e.Reason
}
