package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
)

// relayGroup is the queue group of the replicas' reply relays.
const relayGroup = "bulkassign-relay"

// maxRelays bounds the requests a replica relays receipts for at once;
// past it a request's sender gets no reply (its receipt is still
// published on bulkassign.receipts.<key>).
const maxRelays = 256

// receiptClockSlack is how much older than a request's arrival at the
// relay a receipt may be and still be its receipt (the relay's and the
// NATS server's clocks differ a little). The receipt of an identical
// message (same subject and body) sent less than this before may answer
// it: with a request_id both are the same import anyway.
const receiptClockSlack = 100 * time.Millisecond

// retryDelay is how long a request whose enqueue failed for a reason of
// the store's waits before it is delivered again.
const retryDelay = 5 * time.Second

// requestIntake is the durable queue intake: it takes requests from the
// requests stream through the consumer every replica shares, turns each
// into exactly one import (keyed by request_id, or by its stream sequence),
// and answers each with a [contract.Receipt]: kept in the receipts bucket,
// published on bulkassign.receipts.<key>, and sent by the relay to the
// request's reply subject. A refused request is answered, counted, copied
// to the dead-letter stream and acknowledged.
//
// JetStream stores no reply subject with a message, so the consumer never
// sees the sender's: every replica also subscribes (core NATS, queue group
// bulkassign-relay) to the request subjects, and the replica that gets a
// request with a reply subject watches its receipt key and forwards the
// receipt when the consumer puts it.
type requestIntake struct {
	cfg      jobs.IntakeConfig
	js       jetstream.JetStream
	nc       *nats.Conn
	importer *imports.Importer
	opts     imports.RequestOptions
	timeout  time.Duration // of a relay
	m        *metrics.Metrics
	log      *slog.Logger
	// ctx ends on the hard stop: it cancels the request in flight, which
	// is delivered again (to another replica) after the ack wait.
	ctx context.Context

	intake *jobs.Intake
	msgs   jetstream.MessagesContext
	done   chan struct{} // closed when the consuming loop ended
	relay  *nats.Subscription
	relays sync.WaitGroup
	sem    chan struct{}
	// stopRelays ends the relays' waits (step 4 of the stop).
	relayCtx   context.Context
	stopRelays context.CancelFunc
}

// start provisions the intake's streams and starts the relay and the
// consuming loop.
func (in *requestIntake) start(ctx context.Context) error {
	var err error
	if in.intake, err = jobs.ProvisionIntake(ctx, in.js, in.cfg); err != nil {
		return err
	}
	in.sem = make(chan struct{}, maxRelays)
	in.relayCtx, in.stopRelays = context.WithCancel(context.WithoutCancel(ctx))
	if in.relay, err = in.nc.QueueSubscribe(in.cfg.Subject, relayGroup, in.relayReceipt); err != nil {
		return fmt.Errorf("subscribe %s: %w", in.cfg.Subject, err)
	}
	if err := in.nc.Flush(); err != nil {
		_ = in.relay.Unsubscribe()
		return fmt.Errorf("subscribe %s: %w", in.cfg.Subject, err)
	}
	// One request at a time per replica: MaxAckPending spreads them over
	// the replicas.
	if in.msgs, err = in.intake.Consumer().Messages(jetstream.PullMaxMessages(1)); err != nil {
		_ = in.relay.Unsubscribe()
		return fmt.Errorf("consume %s: %w", jobs.RequestsStream, err)
	}
	in.done = make(chan struct{})
	go in.consume()
	return nil
}

// consume handles requests until the iterator is stopped or drained.
func (in *requestIntake) consume() {
	defer close(in.done)
	for {
		msg, err := in.msgs.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, nats.ErrConnectionClosed) {
			return
		}
		if err != nil {
			in.log.Warn("take an import request", slog.Any("error", err))
			continue
		}
		in.handle(msg)
	}
}

// stopTaking is step 1 of the stop: no request is taken any more, and the
// one in flight finishes (or, on the hard stop, is left to be delivered
// again).
func (in *requestIntake) stopTaking() {
	in.msgs.Drain()
	<-in.done
}

// close is step 4 of the stop: the relay unsubscribes and its waits end.
func (in *requestIntake) close() {
	if err := in.relay.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		in.log.Warn("unsubscribe the request relay", slog.Any("error", err))
	}
	in.stopRelays()
	in.relays.Wait()
}

// handle turns one request into its import and answers it.
func (in *requestIntake) handle(msg jetstream.Msg) {
	stop := in.keepAlive(msg)
	defer stop()
	defer func() {
		if p := recover(); p != nil {
			in.log.Error("import request handler panicked", slog.Any("panic", p))
			key, token := receiptKey(nil, msg.Subject(), msg.Data())
			in.refuse(msg, key, token, contract.Receipt{Rejected: []contract.Rejection{}, Error: "internal error handling the request"})
		}
	}()
	req, err := imports.ParseRequest(msg.Data(), in.opts)
	key, token := receiptKey(req, msg.Subject(), msg.Data())
	if err != nil {
		in.refuse(msg, key, token, imports.NewReceipt(nil, jobs.Import{}, err))
		return
	}
	var rc contract.Receipt
	fallback, err := in.intake.FallbackKey(msg)
	if err == nil {
		rc, err = in.importer.Submit(in.ctx, req, "nats:"+msg.Subject(), fallback)
	}
	switch {
	case imports.Refused(err):
		in.refuse(msg, key, token, rc)
	case err != nil && in.ctx.Err() != nil:
		// The hard stop: not acknowledged, so delivered again after the
		// ack wait, and its import resumed.
		in.log.Warn("import request interrupted; it is delivered again", slog.String("subject", msg.Subject()))
	case err != nil:
		in.log.Error("enqueue an import request; it is delivered again", slog.String("subject", msg.Subject()), slog.Any("error", err))
		if err := msg.NakWithDelay(retryDelay); err != nil {
			in.log.Warn("hand an import request back", slog.Any("error", err))
		}
	default:
		in.answer(key, token, rc)
		in.ack(msg)
	}
}

// refuse answers a refused request, counts it, copies it to the
// dead-letter stream and acknowledges it.
func (in *requestIntake) refuse(msg jetstream.Msg, key, token string, rc contract.Receipt) {
	in.m.MalformedMessage("queue")
	in.log.Info("refused an import request", slog.String("subject", msg.Subject()), slog.String("reason", rc.Error))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(in.ctx), 10*time.Second)
	defer cancel()
	if err := in.intake.DeadLetter(ctx, msg, deadReason(rc)); err != nil {
		in.log.Error("copy a refused request to the dead-letter stream; it is delivered again", slog.Any("error", err))
		_ = msg.NakWithDelay(retryDelay)
		return
	}
	in.answer(key, token, rc)
	in.ack(msg)
}

// deadReason is the dead-letter reason of a refused request: the
// receipt's error and its first rejections.
func deadReason(rc contract.Receipt) string {
	reason := rc.Error
	for i, r := range rc.Rejected {
		if i == 3 {
			reason += fmt.Sprintf("; and %d more", len(rc.Rejected)-i)
			break
		}
		where := fmt.Sprintf("assignments[%d]", r.Index)
		if r.Column != "" {
			where += ", field " + string(r.Column)
		}
		if !strings.HasPrefix(rc.Error, where) {
			reason += "; " + where + ": " + r.Reason
		}
	}
	return reason
}

// answer keeps the receipt (for the relay) and publishes it.
func (in *requestIntake) answer(key, token string, rc contract.Receipt) {
	data, _ := json.Marshal(rc) // strings and numbers: cannot fail
	ctx, cancel := context.WithTimeout(context.WithoutCancel(in.ctx), 10*time.Second)
	defer cancel()
	if err := in.intake.PutReceipt(ctx, key, data); err != nil {
		in.log.Warn("keep a receipt", slog.Any("error", err))
	}
	if err := in.nc.Publish(contract.ReceiptSubjectPrefix+token, data); err != nil {
		in.log.Warn("publish a receipt", slog.Any("error", err))
	}
}

// ack acknowledges a handled request.
func (in *requestIntake) ack(msg jetstream.Msg) {
	if err := msg.Ack(); err != nil {
		in.log.Warn("acknowledge an import request", slog.Any("error", err))
	}
}

// keepAlive tells JetStream, every third of the ack wait, that the
// request is being worked on, until the returned function is called.
func (in *requestIntake) keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(in.intake.Config().AckWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-in.ctx.Done():
				return // the hard stop: let it be delivered again
			case <-tick.C:
				if err := msg.InProgress(); err != nil {
					in.log.Warn("extend an import request's ack wait", slog.Any("error", err))
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// receiptKey is the key a request's receipt is kept under, and the token
// of the subject it is published on (bulkassign.receipts.<token>): its
// request_id, or "sha-" and the first 32 hex digits of the SHA-256 of its
// subject, a space and its body when it has none. The key adds the part
// number of a part and the digest of the message, so that a request sent
// again corrected is not answered with the receipt of its first version.
func receiptKey(req *imports.Request, subject string, body []byte) (key, token string) {
	digest := sha256.Sum256(append([]byte(subject+" "), body...))
	sum := hex.EncodeToString(digest[:16])
	switch {
	case req != nil && req.InParts():
		return fmt.Sprintf("%s.%d.%s", req.ID, req.Part, sum), req.ID
	case req != nil && req.ID != "":
		return req.ID + "." + sum, req.ID
	}
	return "sha-" + sum, "sha-" + sum
}

// relayReceipt forwards the receipt of a request sent with a reply
// subject, once the replica that handles it keeps it.
func (in *requestIntake) relayReceipt(msg *nats.Msg) {
	if msg.Reply == "" {
		return
	}
	arrived := time.Now()
	select {
	case in.sem <- struct{}{}:
	default:
		in.log.Warn("too many requests waiting for their receipt; this one's is only published", slog.String("subject", msg.Subject))
		return
	}
	in.relays.Go(func() {
		defer func() { <-in.sem }()
		// Parsed here, not in the subscription's callback, so that a
		// large request does not hold up the next ones' arrival times.
		req, _ := imports.ParseRequest(msg.Data, in.opts)
		key, token := receiptKey(req, msg.Subject, msg.Data)
		in.forward(msg, key, token, arrived)
	})
}

// forward waits for the receipt kept under key after arrived and sends it
// to msg's reply subject; after the relay timeout it says where the
// receipt will be published instead.
func (in *requestIntake) forward(msg *nats.Msg, key, token string, arrived time.Time) {
	ctx, cancel := context.WithTimeout(in.relayCtx, in.timeout)
	defer cancel()
	w, err := in.intake.WatchReceipt(ctx, key)
	if err != nil {
		in.log.Warn("watch a receipt", slog.Any("error", err))
		return
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e := <-w.Updates():
			if e == nil || e.Created().Before(arrived.Add(-receiptClockSlack)) {
				continue // none yet, or an earlier request's
			}
			if err := msg.Respond(e.Value()); err != nil {
				in.log.Warn("send a receipt", slog.Any("error", err))
			}
			return
		case <-ctx.Done():
			if in.relayCtx.Err() != nil {
				return
			}
			rc := contract.Receipt{Rejected: []contract.Rejection{}, Error: fmt.Sprintf(
				"no receipt within %s: the request is queued and will be processed; its receipt will be published on %s%s",
				in.timeout, contract.ReceiptSubjectPrefix, token)}
			data, _ := json.Marshal(rc)
			if err := msg.Respond(data); err != nil {
				in.log.Warn("send a receipt", slog.Any("error", err))
			}
			return
		}
	}
}
