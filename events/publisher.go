package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/jobs"
)

// Config configures a [Publisher]. Store and Conn are required.
type Config struct {
	// Store holds the imports and their results.
	Store *jobs.Store
	// Conn publishes the events.
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

	mu   sync.Mutex
	open map[string]jobs.Import // imports whose finished event is due
	// since is when the store's imports started being announced.
	since time.Time
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
	return &Publisher{cfg: cfg, log: cfg.Logger, open: map[string]jobs.Import{}}, nil
}

// Subject is the subject of an import's event.
func Subject(importID, event string) string {
	return contract.EventSubjectPrefix + importID + "." + event
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
			err := p.cfg.Store.WatchImports(watchCtx, func(imp jobs.Import) { p.seen(watchCtx, imp) })
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
			p.check(ctx)
		}
	}
}

// seen handles an import record: announces it started, and follows it
// until it finished.
func (p *Publisher) seen(ctx context.Context, imp jobs.Import) {
	if imp.Created.Before(p.since) {
		return
	}
	p.mu.Lock()
	_, known := p.open[imp.ID]
	p.open[imp.ID] = imp
	p.mu.Unlock()
	if !known {
		p.publish(ctx, imp, contract.ImportEvent{Event: contract.EventStarted})
	}
}

// check announces the imports that finished.
func (p *Publisher) check(ctx context.Context) {
	p.mu.Lock()
	open := make([]jobs.Import, 0, len(p.open))
	for _, imp := range p.open {
		open = append(open, imp)
	}
	p.mu.Unlock()
	for _, imp := range open {
		if ctx.Err() != nil {
			return
		}
		done, err := p.finish(ctx, imp)
		if err != nil {
			p.log.WarnContext(ctx, "check whether an import finished", slog.String("import", imp.ID), slog.Any("error", err))
			continue
		}
		if done {
			p.mu.Lock()
			if cur, ok := p.open[imp.ID]; ok && cur.Enqueued {
				delete(p.open, imp.ID)
			}
			p.mu.Unlock()
		}
	}
}

// finish announces imp finished if it is; true when its finished event is
// published (here or by another replica).
func (p *Publisher) finish(ctx context.Context, imp jobs.Import) (bool, error) {
	if !imp.Enqueued {
		return false, nil
	}
	store := p.cfg.Store
	if claimed, err := store.EventClaimed(ctx, imp.ID, contract.EventFinished); err != nil || claimed {
		return claimed, err
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
	p.publish(ctx, imp, ev)
	return true, nil
}

// publish claims ev of imp and, when this replica won the claim,
// publishes it and hands it to the webhook.
func (p *Publisher) publish(ctx context.Context, imp jobs.Import, ev contract.ImportEvent) {
	won, err := p.cfg.Store.ClaimEvent(ctx, imp.ID, ev.Event)
	if err != nil {
		p.log.WarnContext(ctx, "claim an import event", slog.String("import", imp.ID), slog.String("event", ev.Event), slog.Any("error", err))
		return
	}
	if !won {
		return
	}
	ev.ImportID, ev.RequestID, ev.Name, ev.Rows, ev.StartedAt = imp.ID, imp.RequestID, imp.Name, imp.Rows, imp.Created
	data, _ := json.Marshal(ev) // strings, numbers and times: cannot fail
	if err := p.cfg.Conn.Publish(Subject(imp.ID, ev.Event), data); err != nil {
		p.log.WarnContext(ctx, "publish an import event", slog.String("import", imp.ID), slog.String("event", ev.Event), slog.Any("error", err))
	}
	p.log.InfoContext(ctx, "import "+ev.Event, slog.String("import", imp.ID), slog.Int("rows", imp.Rows))
	if p.cfg.Webhook != nil {
		p.cfg.Webhook.Send(ev.Event, data)
	}
}
