package ingest

import (
	"bytes"
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
	if len(data) > MaxMessageLen {
		return jobs.Job{}, fmt.Errorf("%w: %d bytes (max %d)", ErrMalformedMessage, len(data), MaxMessageLen)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if !opts.AllowExtraColumns {
		dec.DisallowUnknownFields()
	}
	var m message
	if err := dec.Decode(&m); err != nil {
		return jobs.Job{}, fmt.Errorf("%w: %w", ErrMalformedMessage, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return jobs.Job{}, fmt.Errorf("%w: data after the object", ErrMalformedMessage)
	}
	if m.Row < 0 {
		return jobs.Job{}, fmt.Errorf("%w: negative row %d", ErrMalformedMessage, m.Row)
	}
	if rerr := m.fieldTooLong(); rerr != nil {
		rerr.Row = m.Row
		return jobs.Job{}, rerr
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
