package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the durable queue intake's streams, consumer and bucket, which
// [ProvisionIntake] creates (only processes that take requests need
// them: serve). They are part of the operational contract.
const (
	// RequestsStream captures import requests (bulkassign.requests.>) so
	// that they wait for a serve. Work-queue retention: a request leaves
	// it when its receipt was sent.
	RequestsStream = "BULKASSIGN_REQUESTS"
	// DeadLetterStream keeps a copy of every refused request, its reason
	// in the [DeadReasonHeader] header.
	DeadLetterStream = "BULKASSIGN_DEADLETTER"
	// RequestsConsumer is the durable pull consumer every serve replica
	// shares: each request is delivered to one replica at a time.
	RequestsConsumer = "bulkassign-requests"
	// ReceiptsBucket keeps each request's receipt for a while (see
	// IntakeConfig.ReceiptTTL), under its receipt key: what answers a
	// request sent with a reply subject.
	ReceiptsBucket = "bulkassign_receipts"
)

// DeadLetterSubjectPrefix prefixes the subject of a refused request's copy:
// bulkassign.deadletter.<its subject without "bulkassign.">.
const DeadLetterSubjectPrefix = "bulkassign.deadletter."

// IntakeConfig configures the durable queue intake's topology. The zero
// value is usable except for Subject.
type IntakeConfig struct {
	// Subject is the subject (wildcards allowed) whose messages the
	// requests stream captures, e.g. "bulkassign.requests.>". Required.
	Subject string
	// Replicas is the replication factor of the streams and bucket.
	// Default 1.
	Replicas int
	// AckWait is how long a request may be held without a sign of
	// progress before it is delivered again (to another replica); the
	// replica working on it signals progress every third of it. Default
	// 30 s.
	AckWait time.Duration
	// MaxAckPending bounds the requests being worked on at once, over
	// every replica. Default 16.
	MaxAckPending int
	// MaxAge is how long a request waits for a serve before it is dropped.
	// Default 7 days.
	MaxAge time.Duration
	// DeadLetterMaxAge is how long refused requests' copies are kept.
	// Default 30 days.
	DeadLetterMaxAge time.Duration
	// ReceiptTTL is how long a receipt is kept for the request's reply.
	// Default 1 hour.
	ReceiptTTL time.Duration
}

func (c IntakeConfig) withDefaults() IntakeConfig {
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, 16)
	c.MaxAge = cmp.Or(c.MaxAge, 7*24*time.Hour)
	c.DeadLetterMaxAge = cmp.Or(c.DeadLetterMaxAge, 30*24*time.Hour)
	c.ReceiptTTL = cmp.Or(c.ReceiptTTL, time.Hour)
	return c
}

// Intake is the durable queue intake's JetStream side: the requests
// stream and its shared consumer, the dead-letter stream and the receipts
// bucket.
type Intake struct {
	cfg      IntakeConfig
	js       jetstream.JetStream
	consumer jetstream.Consumer
	receipts jetstream.KeyValue
	created  time.Time // of the requests stream
}

// ProvisionIntake creates (or updates) the requests and dead-letter
// streams, the shared consumer and the receipts bucket on js.
//
// The requests stream does not acknowledge publishes (NoAck): JetStream
// stores no reply subject with a message, so a request sent with one
// (nats req) is answered by a serve replica's relay (see package service)
// rather than by a publish acknowledgement it would mistake for the
// receipt.
func ProvisionIntake(ctx context.Context, js jetstream.JetStream, cfg IntakeConfig) (*Intake, error) {
	cfg = cfg.withDefaults()
	if cfg.Subject == "" {
		return nil, errors.New("jobs: intake: no subject")
	}
	if cfg.AckWait < 3*time.Millisecond {
		return nil, fmt.Errorf("jobs: intake: ack wait %s: want at least 3ms", cfg.AckWait)
	}
	in := &Intake{cfg: cfg, js: js}
	reqs, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        RequestsStream,
		Description: "bulkassign import requests waiting for a serve",
		Subjects:    []string{cfg.Subject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		NoAck:       true,
		MaxAge:      cfg.MaxAge,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: provision stream %s: %w", RequestsStream, err)
	}
	in.created = reqs.CachedInfo().Created
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "bulkassign refused import requests, the reason in " + DeadReasonHeader,
		Subjects:    []string{DeadLetterSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.DeadLetterMaxAge,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("jobs: provision stream %s: %w", DeadLetterStream, err)
	}
	if in.consumer, err = reqs.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       RequestsConsumer,
		Description:   "bulkassign serve replicas taking import requests",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: cfg.MaxAckPending,
		MaxDeliver:    -1,
	}); err != nil {
		return nil, fmt.Errorf("jobs: provision consumer %s: %w", RequestsConsumer, err)
	}
	if in.receipts, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: ReceiptsBucket, Description: "bulkassign receipts of import requests, by receipt key",
		History: 1, TTL: cfg.ReceiptTTL, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("jobs: provision bucket %s: %w", ReceiptsBucket, err)
	}
	return in, nil
}

// Config returns the configuration, defaults filled in.
func (in *Intake) Config() IntakeConfig { return in.cfg }

// Consumer returns the shared consumer of the requests stream.
func (in *Intake) Consumer() jetstream.Consumer { return in.consumer }

// FallbackKey is the idempotency key of a request that gives no
// request_id: its stream and sequence (and the stream's creation time, so
// that a recreated stream's sequences are new keys).
func (in *Intake) FallbackKey(msg jetstream.Msg) (string, error) {
	md, err := msg.Metadata()
	if err != nil {
		return "", fmt.Errorf("request metadata: %w", err)
	}
	return RequestsStream + "-" + strconv.FormatInt(in.created.Unix(), 10) + "-" + strconv.FormatUint(md.Sequence.Stream, 10), nil
}

// PutReceipt keeps a receipt under key (a valid KV key).
func (in *Intake) PutReceipt(ctx context.Context, key string, receipt []byte) error {
	if _, err := in.receipts.Put(ctx, key, receipt); err != nil {
		return fmt.Errorf("put receipt %s: %w", key, err)
	}
	return nil
}

// WatchReceipt watches the receipt kept under key: its current value
// first, if any, then every update, until ctx ends.
func (in *Intake) WatchReceipt(ctx context.Context, key string) (jetstream.KeyWatcher, error) {
	w, err := in.receipts.Watch(ctx, key, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch receipt %s: %w", key, err)
	}
	return w, nil
}

// DeadLetter stores a copy of a refused request (data and headers) on
// bulkassign.deadletter.<its subject without "bulkassign.">, with the
// reason, the original subject and sequence in headers. Dead-lettering
// one delivery twice within the duplicate window stores it once.
func (in *Intake) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	h := nats.Header{}
	for k, v := range msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = append([]string(nil), v...)
		}
	}
	h.Set(DeadReasonHeader, oneLine(reason))
	h.Set(DeadSubjectHeader, msg.Subject())
	if md, err := msg.Metadata(); err == nil {
		seq := strconv.FormatUint(md.Sequence.Stream, 10)
		h.Set(DeadSequenceHeader, seq)
		h.Set(jetstream.MsgIDHeader, "deadletter:"+strconv.FormatInt(in.created.Unix(), 10)+":"+seq)
	}
	out := &nats.Msg{Subject: DeadLetterSubjectPrefix + strings.TrimPrefix(msg.Subject(), "bulkassign."), Data: msg.Data(), Header: h}
	if _, err := in.js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("dead letter %s: %w", msg.Subject(), err)
	}
	return nil
}

// oneLine makes a reason a header value: one line, at most 1 KiB.
func oneLine(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return s
}
