package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrPublish is wrapped by the errors of a failed asynchronous publish.
var ErrPublish = errors.New("publish job")

// PublishStats counts what JetStream acknowledged for a [Publisher].
type PublishStats struct {
	// Acked is the number of jobs JetStream acknowledged, duplicates included.
	Acked int
	// Duplicates is the number of acks that reported a duplicate: a job
	// with the same import id and key was already stored within the
	// duplicate window, and this copy was dropped.
	Duplicates int
	// Failed is the number of publishes that got no ack (error, timeout,
	// disconnect).
	Failed int
}

// Publisher publishes jobs asynchronously with a bounded number of
// unacknowledged messages in flight. Its methods are safe for concurrent
// use. A Publisher fails fast: after the first failed publish, Publish
// returns that error; create a new Publisher to try again.
//
// Every job carries the message id ImportID+":"+Key, so re-publishing an
// import (a retried ingest, a reconnect) within the duplicate window stores
// each job once. The id deliberately includes the import: running the same
// file again is a new import whose jobs must reach the workers (they report
// "existing"); keeping an assignment from being written twice across
// imports is the outcomes bucket's job, not the stream's.
type Publisher struct {
	s   *Store
	sem chan struct{}

	mu      sync.Mutex
	pending int           // published, not yet acked or failed
	idle    chan struct{} // closed when pending drops to zero; nil when nobody waits
	stats   PublishStats
	err     error // first failure
}

// NewPublisher returns a Publisher with at most maxInFlight unacknowledged
// publishes (values below 1 mean 256). A Publisher holds no resources
// between publishes and needs no Close.
func (s *Store) NewPublisher(maxInFlight int) *Publisher {
	if maxInFlight < 1 {
		maxInFlight = 256
	}
	return &Publisher{s: s, sem: make(chan struct{}, maxInFlight)}
}

// maxPublishPending bounds the Store-wide unacknowledged async publishes;
// each Publisher bounds its own well below it.
const maxPublishPending = 1 << 16

// newPublishHandle returns the Store's async publishing handle. Publishers
// share it rather than each making (and cleaning up) its own: nats.go's
// CleanupPublisher can strand the handle's reconnect goroutine on a nil
// channel when it runs right after the first publish (nats.go v1.55
// jetstream/publish.go resetPendingAcksOnReconnect), a goroutine leak per
// Publisher. The shared handle's goroutine ends when the connection closes.
func (s *Store) newPublishHandle(nc *nats.Conn) (jetstream.JetStream, error) {
	return jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxPublishPending),
		jetstream.WithPublishAsyncTimeout(s.cfg.PublishAckTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
			if p, ok := s.pubs.LoadAndDelete(m); ok {
				p.(*Publisher).done(nil, ack.Duplicate)
			}
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			if p, ok := s.pubs.LoadAndDelete(m); ok {
				p.(*Publisher).done(fmt.Errorf("%w %s: %w", ErrPublish, m.Header.Get(jetstream.MsgIDHeader), err), false)
			}
		}),
	)
}

// Publish validates j and publishes it to its tenant's subject without
// waiting for the ack. It blocks while maxInFlight publishes are
// unacknowledged, until a slot frees or ctx is done. It returns the first
// asynchronous failure of an earlier publish, if any.
func (p *Publisher) Publish(ctx context.Context, j Job) error {
	if err := j.Validate(); err != nil {
		return fmt.Errorf("%w: row %d: %w", ErrPublish, j.Row, err)
	}
	if err := ValidateImportID(j.ImportID); err != nil {
		return fmt.Errorf("%w: row %d: %w", ErrPublish, j.Row, err)
	}
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("%w: row %d: %w", ErrPublish, j.Row, err)
	}
	msg := &nats.Msg{
		Subject: TenantSubject(j.Tenant),
		Data:    data,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{j.ImportID + ":" + j.Key}},
	}

	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: row %d: %w", ErrPublish, j.Row, ctx.Err())
	}
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		<-p.sem
		return err
	}
	p.pending++
	p.mu.Unlock()

	// The ack may arrive (and call done) before PublishMsgAsync returns:
	// the message is registered and pending counted first.
	p.s.pubs.Store(msg, p)
	if _, err := p.s.pubJS.PublishMsgAsync(msg); err != nil {
		if _, ok := p.s.pubs.LoadAndDelete(msg); ok {
			p.done(fmt.Errorf("%w: row %d: %w", ErrPublish, j.Row, err), false)
		}
		return p.firstErr()
	}
	return nil
}

// done records the end of one publish. It runs on the connection's
// dispatch goroutine and never blocks.
func (p *Publisher) done(err error, dup bool) {
	p.mu.Lock()
	p.pending--
	if err != nil {
		p.stats.Failed++
		if p.err == nil {
			p.err = err
		}
	} else {
		p.stats.Acked++
		if dup {
			p.stats.Duplicates++
		}
	}
	if p.pending == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	p.mu.Unlock()
	<-p.sem
}

func (p *Publisher) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Flush waits until every publish so far is acknowledged or failed, or ctx
// is done. It returns the totals since the Publisher was created and the
// first failure.
func (p *Publisher) Flush(ctx context.Context) (PublishStats, error) {
	for {
		p.mu.Lock()
		if p.pending == 0 {
			st, err := p.stats, p.err
			p.mu.Unlock()
			return st, err
		}
		if p.idle == nil {
			p.idle = make(chan struct{})
		}
		idle := p.idle
		p.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			p.mu.Lock()
			st := p.stats
			p.mu.Unlock()
			return st, fmt.Errorf("%w: flush: %w", ErrPublish, ctx.Err())
		}
	}
}
