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
// published, under "event.<import id>.<event>", and since when events are
// published at all, under "events.since" (imports recorded before are
// never announced).
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

// ClaimEvent records that event of import id is being published, and
// reports whether this call did: of concurrent claims exactly one wins,
// so that one process publishes each event.
func (s *Store) ClaimEvent(ctx context.Context, id, event string) (bool, error) {
	if err := ValidateImportID(id); err != nil {
		return false, fmt.Errorf("claim event: %w", err)
	}
	_, err := s.imports.Create(ctx, eventKeyPrefix+id+"."+event, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	}
	return false, fmt.Errorf("claim event %s of import %s: %w", event, id, err)
}

// EventClaimed reports whether event of import id was claimed.
func (s *Store) EventClaimed(ctx context.Context, id, event string) (bool, error) {
	if err := ValidateImportID(id); err != nil {
		return false, fmt.Errorf("event claimed: %w", err)
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
