package jobs

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead letter, besides the original message's own.
const (
	// DeadReasonHeader says why the message was dead-lettered.
	DeadReasonHeader = "Bulkassign-Dead-Reason"
	// DeadSubjectHeader is the original subject.
	DeadSubjectHeader = "Bulkassign-Dead-Subject"
	// DeadSequenceHeader is the original stream sequence, when known.
	DeadSequenceHeader = "Bulkassign-Dead-Sequence"
	// DeadMsgIDHeader is the original Nats-Msg-Id, when there was one.
	DeadMsgIDHeader = "Bulkassign-Dead-Msg-Id"
)

// DeadLetter stores a copy of msg (data, headers, original subject and
// sequence, and reason) on bulkassign.dead.<tenant token>, or
// bulkassign.dead.unknown when the subject is not a jobs subject. It does
// not acknowledge msg: the caller terminates it (msg.TermWithReason) once
// DeadLetter has returned nil. Dead-lettering the same delivery twice
// within the duplicate window stores it once.
func (s *Store) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	token := "unknown"
	if t, ok := TenantFromSubject(msg.Subject()); ok {
		token = tenantToken(t)
	}
	h := nats.Header{}
	for k, v := range msg.Headers() {
		if k == jetstream.MsgIDHeader {
			h[DeadMsgIDHeader] = append([]string(nil), v...)
			continue
		}
		if len(k) > 5 && k[:5] == "Nats-" {
			continue // publish controls (expected sequence, TTL…) must not apply to the copy
		}
		h[k] = append([]string(nil), v...)
	}
	h.Set(DeadReasonHeader, reason)
	h.Set(DeadSubjectHeader, msg.Subject())
	if md, err := msg.Metadata(); err == nil {
		seq := strconv.FormatUint(md.Sequence.Stream, 10)
		h.Set(DeadSequenceHeader, seq)
		h.Set(jetstream.MsgIDHeader, "dead:"+md.Stream+":"+seq)
	}
	out := &nats.Msg{Subject: DeadSubjectPrefix + token, Data: msg.Data(), Header: h}
	if _, err := s.js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("dead letter %s: %w", msg.Subject(), err)
	}
	return nil
}

// DeadLetterCount returns the number of dead letters stored.
func (s *Store) DeadLetterCount(ctx context.Context) (uint64, error) {
	info, err := s.dead.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dead letter count: %w", err)
	}
	return info.State.Msgs, nil
}
