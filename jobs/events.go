package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The imports bucket also records which lifecycle events of an import were
// published (stored in the stream EventsStream, after the publish was
// acknowledged), under "event.<import id>.<event>", and since when events
// are published at all, under "events.since" (imports recorded before are
// never announced). The record only spares the replicas a publish: the
// stream's duplicate window drops an event published again before its
// record was written.
const (
	eventKeyPrefix = "event."
	eventsSinceKey = "events.since"
)

// WatchImports calls fn with every import record, then with every record
// written later (one call at a time), until ctx ends; it returns ctx's
// error then, or the watch's failure.
func (s *Store) WatchImports(ctx context.Context, fn func(Import)) error {
	// Import ids are one subject token: "*" leaves the other keys out.
	w, err := s.imports.Watch(ctx, "*", jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("watch imports: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch imports: %w", errors.Join(ctx.Err(), errors.New("watch ended")))
			}
			if e == nil {
				continue // every current record delivered
			}
			var im Import
			if err := json.Unmarshal(e.Value(), &im); err != nil {
				s.log.WarnContext(ctx, "jobs: unreadable import record", slog.String("key", e.Key()), slog.Any("error", err))
				continue
			}
			fn(im)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// RecordEvent records that event of import id is published (stored in
// the events stream): every replica then skips it ([Store.EventRecorded]).
// Recording it again is a no-op.
func (s *Store) RecordEvent(ctx context.Context, id, event string) error {
	if err := ValidateImportID(id); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	_, err := s.imports.Create(ctx, eventKeyPrefix+id+"."+event, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("record event %s of import %s: %w", event, id, err)
	}
	return nil
}

// EventRecorded reports whether event of import id was recorded
// published ([Store.RecordEvent]).
func (s *Store) EventRecorded(ctx context.Context, id, event string) (bool, error) {
	if err := ValidateImportID(id); err != nil {
		return false, fmt.Errorf("event recorded: %w", err)
	}
	_, err := s.imports.Get(ctx, eventKeyPrefix+id+"."+event)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("event %s of import %s: %w", event, id, err)
}

// EventsSince returns since when the store's imports are announced:
// the time recorded by the first call on the store (now, then).
func (s *Store) EventsSince(ctx context.Context, now time.Time) (time.Time, error) {
	v := []byte(now.UTC().Format(time.RFC3339Nano))
	if _, err := s.imports.Create(ctx, eventsSinceKey, v); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return time.Time{}, fmt.Errorf("events since: %w", err)
	}
	e, err := s.imports.Get(ctx, eventsSinceKey)
	if err != nil {
		return time.Time{}, fmt.Errorf("events since: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, string(e.Value()))
	if err != nil {
		return time.Time{}, fmt.Errorf("events since: %w", err)
	}
	return t, nil
}
