package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/metrics"
)

// SubmitReply is the answer to a queue message (JSON; a public contract).
type SubmitReply struct {
	// ImportID names the import the message became (for status and
	// report); empty when it became none.
	ImportID   string `json:"import_id,omitempty"`
	Rows       int    `json:"rows,omitempty"`
	Jobs       int    `json:"jobs,omitempty"`
	Duplicates int    `json:"duplicates,omitempty"`
	// Error says why the message became no import.
	Error string `json:"error,omitempty"`
	// Errors lists every invalid element of a refused message.
	Errors []SubmitRowError `json:"errors,omitempty"`
}

// SubmitRowError is why one element of a queue message is invalid: its
// row (the element's position, from 1), column when one is at fault, and
// reason.
type SubmitRowError struct {
	Row    int             `json:"row"`
	Column contract.Column `json:"column,omitempty"`
	Reason string          `json:"reason"`
}

// queueGroup is the queue group of every replica's subscriptions.
const queueGroup = "bulkassign"

// handOffPrefix prefixes the subject on which replicas that take requests
// answer the requests a stopping replica hands over.
const handOffPrefix = "_bulkassign.handoff."

// Answers of a stopping intake.
const (
	noReplicaLeft = "shutting down: no bulkassign serve is taking requests now; send it again later"
	interrupted   = "shutting down: the request was interrupted; send it again to finish it (its import is resumed, not repeated)"
)

// submitIntake turns queue messages into imports: a message is one JSON
// object with the CSV column names as fields, or an array of them. Like a
// CSV, a message with any invalid element is refused whole, with every
// element's error in the reply; a valid one becomes an import whose id is
// in the reply. Malformed messages are answered with an error and
// counted; nothing in a message can stop the service.
type submitIntake struct {
	subject        string
	nc             *nats.Conn
	importer       *imports.Importer
	opts           ingest.Options
	m              *metrics.Metrics
	log            *slog.Logger
	handOffTimeout time.Duration
	// ctx ends on the hard stop: it cancels enqueues in flight.
	ctx context.Context

	sub, handOff *nats.Subscription
	// mu is held for reading while a request is enqueued here, and for
	// writing to set stopping: stopTaking waits for those in flight.
	mu       sync.RWMutex
	stopping bool
}

// start subscribes to the subject and to the hand-off subject.
func (in *submitIntake) start() error {
	var err error
	if in.sub, err = in.nc.QueueSubscribe(in.subject, queueGroup, in.serve); err != nil {
		return fmt.Errorf("subscribe %s: %w", in.subject, err)
	}
	if in.handOff, err = in.nc.QueueSubscribe(handOffPrefix+in.subject, queueGroup, in.serve); err != nil {
		_ = in.sub.Unsubscribe()
		return fmt.Errorf("subscribe %s: %w", handOffPrefix+in.subject, err)
	}
	// Once the server has the subscriptions, requests reach them: only
	// then may the service say it is ready.
	if err := in.nc.Flush(); err != nil {
		_ = in.sub.Unsubscribe()
		_ = in.handOff.Unsubscribe()
		return fmt.Errorf("subscribe %s: %w", in.subject, err)
	}
	return nil
}

// stopTaking is step 1 of the stop: no request handed over reaches this
// replica any more, the requests being enqueued here finish, and every
// later one is handed over.
func (in *submitIntake) stopTaking() {
	// Drain, not Unsubscribe: requests already delivered here are handed
	// over again rather than dropped.
	if err := in.handOff.Drain(); err != nil {
		in.log.Warn("leave the hand-off group", slog.Any("error", err))
	}
	in.mu.Lock()
	in.stopping = true
	in.mu.Unlock()
}

// close is step 4 of the stop: the subscription ends, once the requests
// already delivered to it are answered.
func (in *submitIntake) close() {
	if err := in.sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		in.log.Warn("unsubscribe the submit subject", slog.Any("error", err))
	}
}

// serve answers one message: here while the intake takes requests, else
// through another replica.
func (in *submitIntake) serve(msg *nats.Msg) {
	in.mu.RLock()
	if in.stopping {
		in.mu.RUnlock()
		in.handOver(msg)
		return
	}
	reply := in.handle(msg.Data)
	in.mu.RUnlock()
	in.respond(msg, reply)
}

// handle validates and enqueues one message.
func (in *submitIntake) handle(data []byte) (reply SubmitReply) {
	defer func() {
		if p := recover(); p != nil {
			in.m.MalformedMessage("queue")
			in.log.Error("queue message handler panicked", slog.Any("panic", p))
			reply = SubmitReply{Error: "internal error handling the message"}
		}
	}()
	src := imports.NewMessage(data, in.opts)
	imp, err := in.importer.Create(in.ctx, imports.Spec{Name: "queue message", Source: "nats"}, src)
	var se *imports.SourceError
	switch {
	case errors.As(err, &se):
		in.m.MalformedMessage("queue")
		return refused(src.Summary(), se)
	case err != nil && in.ctx.Err() != nil:
		return SubmitReply{Error: interrupted}
	case err != nil:
		in.log.Error("enqueue queue message", slog.Any("error", err))
		return SubmitReply{Error: "could not enqueue: " + err.Error()}
	}
	return SubmitReply{ImportID: imp.ID, Rows: imp.Rows, Jobs: imp.Jobs, Duplicates: imp.Duplicates}
}

// refused is the answer to a message the importer refused.
func refused(sum ingest.Summary, se *imports.SourceError) SubmitReply {
	if !errors.Is(se, ingest.ErrInvalidRows) {
		return SubmitReply{Error: se.Error()}
	}
	r := SubmitReply{Error: fmt.Sprintf("%d of %d rows invalid; nothing enqueued", sum.Invalid, sum.Rows)}
	for _, e := range sum.Errors {
		r.Errors = append(r.Errors, SubmitRowError{Row: e.Row, Column: e.Column, Reason: e.Reason})
	}
	return r
}

// handOver hands a message to a replica that takes requests and relays
// its answer; with none left it answers "shutting down".
func (in *submitIntake) handOver(msg *nats.Msg) {
	fwd := &nats.Msg{Subject: handOffPrefix + in.subject, Data: msg.Data, Header: msg.Header}
	if msg.Reply == "" {
		if err := in.nc.PublishMsg(fwd); err != nil {
			in.log.Warn("hand a queue message over", slog.Any("error", err))
		}
		return
	}
	ctx, cancel := context.WithTimeout(in.ctx, in.handOffTimeout)
	defer cancel()
	answer, err := in.nc.RequestMsgWithContext(ctx, fwd)
	switch {
	case err == nil:
		in.log.Info("handed a request over to another replica", slog.String("subject", in.subject))
		if err := msg.Respond(answer.Data); err != nil {
			in.log.Warn("answer queue message", slog.Any("error", err))
		}
	case errors.Is(err, nats.ErrNoResponders):
		in.respond(msg, SubmitReply{Error: noReplicaLeft})
	default:
		in.log.Warn("hand a queue message over", slog.Any("error", err))
		in.respond(msg, SubmitReply{Error: interrupted})
	}
}

// respond sends reply to the message's sender, if it asked for one.
func (in *submitIntake) respond(msg *nats.Msg, reply SubmitReply) {
	if msg.Reply == "" {
		return
	}
	data, _ := json.Marshal(reply) // plain strings and numbers: cannot fail
	if err := msg.Respond(data); err != nil {
		in.log.Warn("answer queue message", slog.Any("error", err))
	}
}
