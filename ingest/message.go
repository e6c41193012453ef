package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/bulkassign/bulkassign/jobs"
)

// message is a queue message: the CSV columns as JSON string fields, plus
// an optional row number.
type message struct {
	rawRow
	Row int `json:"row"`
}

// ParseMessage turns a queue message into a validated job. The message is
// one JSON object whose fields are the CSV column names with string values
// (tenant_id, kind, policy_id, target, group_id, collection_id, filter_id,
// filter_type, intent, api_version, group_name, filter_name, policy_name,
// action), plus an optional integer "row" copied to the job. Options apply as for a CSV: Tenant is the default tenant,
// AllowExtraColumns allows unknown fields, AllowUnresolved allows names and
// removals, ImportID is stamped on the job.
//
// A message that is not such an object (or is longer than [MaxMessageLen])
// returns an error wrapping [ErrMalformedMessage]; a row that fails
// validation returns a [*RowError] naming the field.
func ParseMessage(data []byte, opts Options) (jobs.Job, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return jobs.Job{}, err
	}
	m, err := decodeMessage(data, opts.AllowExtraColumns)
	if err != nil {
		if re := (*RowError)(nil); errors.As(err, &re) {
			re.Row = m.Row
		}
		return jobs.Job{}, err
	}
	m.trim()
	j, rerr := build(m.rawRow, opts.Tenant, opts.AllowUnresolved)
	if rerr != nil {
		rerr.Row = m.Row
		return jobs.Job{}, rerr
	}
	j.ImportID, j.Row = opts.ImportID, m.Row
	return j, nil
}

// decodeMessage reads one message, untrimmed. A message that is not a JSON
// object of string columns returns an error wrapping
// [ErrMalformedMessage]; a field over [MaxFieldLen] a *[RowError] without
// its row.
func decodeMessage(data []byte, allowExtra bool) (message, error) {
	var m message
	if len(data) > MaxMessageLen {
		return m, fmt.Errorf("%w: %d bytes (max %d)", ErrMalformedMessage, len(data), MaxMessageLen)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if !allowExtra {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&m); err != nil {
		return message{}, messageError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return message{}, fmt.Errorf("%w: data after the object", ErrMalformedMessage)
	}
	if m.Row < 0 {
		return message{}, fmt.Errorf("%w: negative row %d", ErrMalformedMessage, m.Row)
	}
	if rerr := m.fieldTooLong(); rerr != nil {
		return m, rerr
	}
	return m, nil
}

// MaxMessageRows bounds the elements of one queue message
// ([SplitMessages]).
const MaxMessageRows = 10_000

// SplitMessages returns the elements of a queue message that carries one
// row or several: the message itself when it is one JSON object, the
// elements of an array of objects (at least one, at most
// [MaxMessageRows]). The error says what is wrong in plain words.
func SplitMessages(data []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, errors.New("empty message: want a JSON object or an array of objects")
	case trimmed[0] == '{':
		return []json.RawMessage{trimmed}, nil
	case trimmed[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedMessage, PlainJSONError(err, "an array of JSON objects"))
		}
		if len(elems) == 0 {
			return nil, errors.New("empty array: nothing to enqueue")
		}
		if len(elems) > MaxMessageRows {
			return nil, fmt.Errorf("%d rows in one message; at most %d", len(elems), MaxMessageRows)
		}
		return elems, nil
	}
	return nil, fmt.Errorf("%w: want a JSON object or an array of objects", ErrMalformedMessage)
}

// IngestMessages checks the elements of a queue message (see
// [SplitMessages]) as [Ingest] checks the rows of a file, row n being the
// n-th element (from 1; an element's own "row" field is ignored), and
// hands them to sink: a valid, first-seen row as a job, an invalid or
// duplicate one as its final result. An element that is not a JSON object
// of string columns is an invalid row without a column. It returns an
// error wrapping [ErrInvalidRows] when some row is invalid and
// opts.SkipInvalid is false; the Summary is complete then (its SHA256 is
// empty: the caller has the message's bytes).
func IngestMessages(ctx context.Context, elems []json.RawMessage, opts Options, sink Sink) (Summary, error) {
	if sink == nil {
		return Summary{}, errors.New("ingest: nil sink")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	p := newRows(ctx, opts, sink)
	for i, data := range elems {
		if err := ctx.Err(); err != nil {
			return p.summary(), fmt.Errorf("ingest: %w", err)
		}
		m, err := decodeMessage(data, opts.AllowExtraColumns)
		var rerr *RowError
		if err != nil && !errors.As(err, &rerr) {
			rerr = &RowError{Reason: err.Error()}
		}
		if err := p.row(i+1, m.rawRow, rerr); err != nil {
			return p.summary(), err
		}
	}
	return p.finish("")
}
