package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
)

// maxSubmitRows bounds one queue message's batch.
const maxSubmitRows = 10_000

// submitReply is the answer to a queue message.
type submitReply struct {
	ImportID   string              `json:"import_id,omitempty"`
	Rows       int                 `json:"rows,omitempty"`
	Jobs       int                 `json:"jobs,omitempty"`
	Duplicates int                 `json:"duplicates,omitempty"`
	Error      string              `json:"error,omitempty"`
	Errors     []submitReplyRowErr `json:"errors,omitempty"`
}

type submitReplyRowErr struct {
	Row    int    `json:"row"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

// submitter turns queue messages into imports: a message is one JSON
// object with the CSV column names as fields, or an array of them (row n
// is the n-th element, from 1). Like a CSV, a message with any invalid
// element is refused whole, with every element's error in the reply; a
// valid one becomes an import whose id is in the reply (for status and
// report). Malformed messages are answered with an error and counted;
// nothing in a message can stop the worker.
type submitter struct {
	store *jobs.Store
	m     *metrics.Metrics
	log   *slog.Logger
	opts  ingest.Options
}

// subscribe starts answering on subject with queue group "bulkassign", so
// that several serve processes share the messages.
func (s *submitter) subscribe(ctx context.Context, nc *nats.Conn, subject string) (*nats.Subscription, error) {
	return nc.QueueSubscribe(subject, "bulkassign", func(msg *nats.Msg) {
		reply := s.handle(ctx, msg.Data)
		if msg.Reply == "" {
			return
		}
		data, _ := json.Marshal(reply)
		if err := msg.Respond(data); err != nil {
			s.log.Warn("answer queue message", slog.Any("error", err))
		}
	})
}

// handle validates and enqueues one message.
func (s *submitter) handle(ctx context.Context, data []byte) (reply submitReply) {
	defer func() {
		if p := recover(); p != nil {
			s.m.MalformedMessage("queue")
			s.log.Error("queue message handler panicked", slog.Any("panic", p))
			reply = submitReply{Error: "internal error handling the message"}
		}
	}()
	elems, err := splitSubmit(data)
	if err != nil {
		s.m.MalformedMessage("queue")
		return submitReply{Error: err.Error()}
	}
	imp := jobs.Import{ID: jobs.NewImportID(), Name: "queue message", Source: "nats", Created: time.Now().UTC(), Rows: len(elems),
		RowSet: jobs.RowSet{{1, len(elems)}}} // splitSubmit refuses an empty message
	opts := s.opts
	opts.ImportID = imp.ID
	var (
		valid   []jobs.Job
		results []jobs.Result
		rowErrs []submitReplyRowErr
		first   = map[string]int{}
		tenants = map[string]bool{}
	)
	for i, e := range elems {
		row := i + 1
		j, err := ingest.ParseMessage(e, opts)
		var re *ingest.RowError
		switch {
		case errors.As(err, &re):
			rowErrs = append(rowErrs, submitReplyRowErr{Row: row, Column: string(re.Column), Reason: re.Reason})
			continue
		case err != nil:
			rowErrs = append(rowErrs, submitReplyRowErr{Row: row, Reason: err.Error()})
			continue
		}
		j.Row = row
		if prev, dup := first[j.Key]; dup {
			r := jobs.ResultFor(j, jobs.StatusDuplicate)
			r.DuplicateOf = prev
			results = append(results, r)
			continue
		}
		first[j.Key] = row
		valid = append(valid, j)
		if !tenants[j.Tenant] {
			tenants[j.Tenant] = true
			imp.Tenants = append(imp.Tenants, j.Tenant)
		}
	}
	if len(rowErrs) > 0 {
		s.m.MalformedMessage("queue")
		return submitReply{Error: fmt.Sprintf("%d of %d rows invalid; nothing enqueued", len(rowErrs), len(elems)), Errors: rowErrs}
	}
	imp.Jobs, imp.Duplicates = len(valid), len(results)
	if err := s.enqueue(ctx, imp, valid, results); err != nil {
		s.log.Error("enqueue queue message", slog.Any("error", err))
		return submitReply{Error: "could not enqueue: " + err.Error()}
	}
	return submitReply{ImportID: imp.ID, Rows: imp.Rows, Jobs: imp.Jobs, Duplicates: imp.Duplicates}
}

func (s *submitter) enqueue(ctx context.Context, imp jobs.Import, valid []jobs.Job, results []jobs.Result) error {
	if err := s.store.PutImport(ctx, imp); err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, r := range results {
		r.At = now
		if err := s.store.PutResult(ctx, r); err != nil {
			return err
		}
	}
	pub := s.store.NewPublisher(256)
	for _, j := range valid {
		if err := pub.Publish(ctx, j); err != nil {
			return err
		}
	}
	if _, err := pub.Flush(ctx); err != nil {
		return err
	}
	imp.Enqueued = true
	return s.store.PutImport(ctx, imp)
}

// splitSubmit returns the elements of a message: the object itself, or the
// objects of an array.
func splitSubmit(data []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, errors.New("empty message: want a JSON object or an array of objects")
	case trimmed[0] == '{':
		return []json.RawMessage{trimmed}, nil
	case trimmed[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return nil, fmt.Errorf("malformed message: %v", err)
		}
		if len(elems) == 0 {
			return nil, errors.New("empty array: nothing to enqueue")
		}
		if len(elems) > maxSubmitRows {
			return nil, fmt.Errorf("%d rows in one message; at most %d", len(elems), maxSubmitRows)
		}
		return elems, nil
	}
	return nil, errors.New("malformed message: want a JSON object or an array of objects")
}
