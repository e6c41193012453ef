package events

import (
	"cmp"
	"context"
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
	"github.com/bulkassign/bulkassign/jobs"
)

// Config configures a [Publisher]. Store and Conn are required.
type Config struct {
	// Store holds the imports and their results.
	Store *jobs.Store
	// Conn publishes the events (through JetStream, to the store's
	// events stream).
	Conn *nats.Conn
	// Interval is how often the unfinished imports are checked. Default
	// 1 s.
	Interval time.Duration
	// Webhook, when set, also receives every event published here.
	// Default nil.
	Webhook *Webhook
	// Logger receives failures. Default: discard.
	Logger *slog.Logger
}

// Publisher publishes the started and finished events of a store's imports.
type Publisher struct {
	cfg Config
	log *slog.Logger
	js  jetstream.JetStream
	// kick asks Run to check at once (an import record appeared).
	kick chan struct{}

	mu   sync.Mutex
	open map[string]*tracked // imports whose finished event is due
	// since is when the store's imports started being announced.
	since time.Time
}

// tracked is an import followed until its finished event is published.
type tracked struct {
	imp     jobs.Import
	started bool // its started event is published
}

// New returns a Publisher; Run starts it.
func New(cfg Config) (*Publisher, error) {
	if cfg.Store == nil || cfg.Conn == nil {
		return nil, errors.New("events: no store or connection")
	}
	cfg.Interval = cmp.Or(cfg.Interval, time.Second)
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("events: interval %s: want > 0", cfg.Interval)
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, js: js, kick: make(chan struct{}, 1), open: map[string]*tracked{}}, nil
}

// Subject is the subject of an import's event.
func Subject(importID, event string) string {
	return contract.EventSubjectPrefix + importID + "." + event
}

// msgID is the JetStream message id of an import's event: the events
// stream stores one message per id within its duplicate window.
func msgID(importID, event string) string {
	return importID + "." + event
}

// intakeSubject is where an import's event is published: the events
// stream stores it under [Subject] (and republishes it there).
func intakeSubject(importID, event string) string {
	return jobs.EventsIntakePrefix + strings.TrimPrefix(Subject(importID, event), jobs.EventsSubjectPrefix)
}

// Run publishes events until ctx ends, and returns nil then.
func (p *Publisher) Run(ctx context.Context) error {
	since, err := p.cfg.Store.EventsSince(ctx, time.Now())
	if err != nil {
		return err
	}
	p.since = since
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for watchCtx.Err() == nil {
			err := p.cfg.Store.WatchImports(watchCtx, p.seen)
			if watchCtx.Err() != nil {
				return
			}
			p.log.WarnContext(ctx, "watch imports for events; watching again", slog.Any("error", err))
			select {
			case <-watchCtx.Done():
			case <-time.After(p.cfg.Interval):
			}
		}
	})
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-p.kick:
		}
		p.check(ctx)
	}
}

// seen follows an import record until its finished event is published,
// and has Run check at once (its started event is due).
func (p *Publisher) seen(imp jobs.Import) {
	if imp.Created.Before(p.since) {
		return
	}
	p.mu.Lock()
	if t, ok := p.open[imp.ID]; ok {
		t.imp = imp
	} else {
		p.open[imp.ID] = &tracked{imp: imp}
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default: // a check is due already
	}
}

// check publishes the due events: the started event of every import
// followed whose started event is not published yet (a failed publish is
// retried here), then the finished event of those that finished.
func (p *Publisher) check(ctx context.Context) {
	p.mu.Lock()
	open := make([]tracked, 0, len(p.open))
	for _, t := range p.open {
		open = append(open, *t)
	}
	p.mu.Unlock()
	for _, t := range open {
		if ctx.Err() != nil {
			return
		}
		imp := t.imp
		if !t.started {
			if err := p.start(ctx, imp); err != nil {
				p.log.WarnContext(ctx, "announce an import started; retrying at the next check", slog.String("import", imp.ID), slog.Any("error", err))
				continue // finished comes after started
			}
			p.mu.Lock()
			p.open[imp.ID].started = true
			p.mu.Unlock()
		}
		done, err := p.finish(ctx, imp)
		if err != nil {
			p.log.WarnContext(ctx, "announce an import finished; retrying at the next check", slog.String("import", imp.ID), slog.Any("error", err))
			continue
		}
		if done {
			p.mu.Lock()
			if cur := p.open[imp.ID]; cur.imp.Enqueued {
				delete(p.open, imp.ID)
			}
			p.mu.Unlock()
		}
	}
}

// start publishes imp's started event unless it is published already.
func (p *Publisher) start(ctx context.Context, imp jobs.Import) error {
	if done, err := p.cfg.Store.EventRecorded(ctx, imp.ID, contract.EventStarted); err != nil || done {
		return err
	}
	return p.publish(ctx, imp, contract.ImportEvent{Event: contract.EventStarted})
}

// finish publishes imp's finished event if it finished; true when its
// finished event is published (here or by another replica).
func (p *Publisher) finish(ctx context.Context, imp jobs.Import) (bool, error) {
	if !imp.Enqueued {
		return false, nil
	}
	store := p.cfg.Store
	if done, err := store.EventRecorded(ctx, imp.ID, contract.EventFinished); err != nil || done {
		return done, err
	}
	n, err := store.ResultCount(ctx, imp.ID)
	if err != nil || n < uint64(imp.Rows) {
		return false, err
	}
	results, err := store.Results(ctx, imp.ID)
	if err != nil || len(results) < imp.Rows {
		return false, err // a row recorded twice counted twice above
	}
	ev := contract.ImportEvent{Event: contract.EventFinished, Counts: map[contract.Status]int{}}
	var last time.Time
	for _, r := range results {
		ev.Counts[r.Status]++
		if r.At.After(last) {
			last = r.At
		}
	}
	if last.Before(imp.Created) {
		last = imp.Created
	}
	ev.FinishedAt = &last
	ev.DurationSeconds = last.Sub(imp.Created).Seconds()
	if err := p.publish(ctx, imp, ev); err != nil {
		return false, err
	}
	return true, nil
}

// publish publishes ev of imp to the events stream and waits for it to be
// stored; when this publish stored it (not a duplicate of another
// replica's), hands it to the webhook. Then it records ev published, so
// that every replica skips it.
func (p *Publisher) publish(ctx context.Context, imp jobs.Import, ev contract.ImportEvent) error {
	ev.ImportID, ev.RequestID, ev.Name, ev.Rows, ev.StartedAt = imp.ID, imp.RequestID, imp.Name, imp.Rows, imp.Created
	data, _ := json.Marshal(ev) // strings, numbers and times: cannot fail
	msg := &nats.Msg{Subject: intakeSubject(imp.ID, ev.Event), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID(imp.ID, ev.Event))
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("publish the %s event: %w", ev.Event, err)
	}
	if !ack.Duplicate {
		p.log.InfoContext(ctx, "import "+ev.Event, slog.String("import", imp.ID), slog.Int("rows", imp.Rows))
		if p.cfg.Webhook != nil {
			p.cfg.Webhook.Send(ev.Event, data)
		}
	}
	return p.cfg.Store.RecordEvent(ctx, imp.ID, ev.Event)
}
