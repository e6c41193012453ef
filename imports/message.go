package imports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
)

// FormatQueue is the [jobs.Request] format of a queue message.
const FormatQueue = "queue"

// Message is the rows of a queue message: one JSON object with the CSV
// column names as fields, or an array of them, row n being the n-th
// element (see [ingest.SplitMessages] and [ingest.IngestMessages]). Any
// invalid element refuses the whole message unless opts.SkipInvalid, and
// [Message.Summary] then lists every element's error. It is a [Keeper].
type Message struct {
	body  []byte
	opts  ingest.Options
	elems []json.RawMessage
	sum   ingest.Summary
}

// NewMessage returns the rows of the queue message body, read with opts
// (opts.ImportID is set by Create; MaxErrors is raised to keep every
// element's error).
func NewMessage(body []byte, opts ingest.Options) *Message {
	return &Message{body: body, opts: opts}
}

// Summary returns the summary of the last pass: the rows, and what is wrong
// with the invalid ones.
func (m *Message) Summary() ingest.Summary { return m.sum }

// Scan implements [RowSource]. A message that is neither an object nor an
// array of them fails with an error that says so.
func (m *Message) Scan(ctx context.Context) (Content, error) {
	elems, err := ingest.SplitMessages(m.body)
	if err != nil {
		return Content{}, err
	}
	m.elems = elems
	var s scan
	if err := m.pass(ctx, m.opts, &s); err != nil {
		return Content{}, err
	}
	digest := sha256.Sum256(m.body)
	return s.content(m.sum, hex.EncodeToString(digest[:])), nil
}

// Emit implements [RowSource]; Scan must have succeeded first.
func (m *Message) Emit(ctx context.Context, importID string, sink ingest.Sink) error {
	if m.elems == nil {
		return errors.New("queue message: emit before scan")
	}
	opts := m.opts
	opts.ImportID = importID
	return m.pass(ctx, opts, sink)
}

func (m *Message) pass(ctx context.Context, opts ingest.Options, sink ingest.Sink) error {
	opts.MaxErrors = max(opts.MaxErrors, len(m.elems))
	var err error
	m.sum, err = ingest.IngestMessages(ctx, m.elems, opts, sink)
	return err
}

// Keep implements [Keeper].
func (m *Message) Keep() (jobs.Request, []byte) {
	return jobs.Request{Format: FormatQueue, Tenant: m.opts.Tenant, AllowExtraColumns: m.opts.AllowExtraColumns}, m.body
}

// kept returns the source a kept request is read again as.
func (im *Importer) kept(ctx context.Context, req jobs.Request, body []byte) (RowSource, error) {
	switch req.Format {
	case FormatQueue:
		return NewMessage(body, ingest.Options{Tenant: req.Tenant, AllowExtraColumns: req.AllowExtraColumns}), nil
	case FormatRequest:
		return ParseRequest(body, RequestOptions{MaxBytes: len(body), Tenant: req.Tenant})
	case FormatParts:
		parts, err := im.store.Parts(ctx, string(body))
		if err != nil {
			return nil, err
		}
		return AssembleParts(parts, RequestOptions{Tenant: req.Tenant})
	}
	return nil, fmt.Errorf("kept request of unknown format %q", req.Format)
}
