package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Outcome records that the assignment with a key was found or created in
// Graph by a row: written after a successful create (or after finding it
// already there), read before any write so that an import never writes
// the same assignment twice across crashes and redeliveries. It does not
// answer for Graph: another import looks in Graph again.
type Outcome struct {
	Status       Status    `json:"status"`
	AssignmentID string    `json:"assignment_id,omitempty"`
	ImportID     string    `json:"import_id"`
	Row          int       `json:"row"`
	At           time.Time `json:"at"`
}

// Intent records that a worker is about to write, or is writing, the
// assignment with a key. An intent without an outcome after a crash means
// the write may or may not have been applied: the next owner must look in
// Graph before writing.
type Intent struct {
	Owner   string    `json:"owner"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// ImportID and Row name the row whose worker wrote the intent: when a
	// reconcile finds the assignment, that row's write landed (created);
	// for any other row it is existing.
	ImportID string `json:"import_id,omitempty"`
	Row      int    `json:"row,omitempty"`
	// Settled is true when the last write is known not to have been
	// applied (throttled, refused, never sent): no reconcile is needed.
	// The zero value, false, is the safe one: look in Graph first.
	Settled bool `json:"settled,omitempty"`
	// The last failed attempt's error, kept across redeliveries so that
	// the row's final failed record carries it.
	LastHTTPStatus int    `json:"last_http_status,omitempty"`
	LastCode       string `json:"last_code,omitempty"`
	LastMessage    string `json:"last_message,omitempty"`
	LastRequestID  string `json:"last_request_id,omitempty"`
	// Tries is the number of Graph attempts made so far for row TriesRow
	// of import TriesImportID (handlings that asked Graph, not deliveries
	// handed back unhandled): the row's attempts and its backoff continue
	// from it. Another row's count does not carry over.
	Tries         int    `json:"tries,omitempty"`
	TriesImportID string `json:"tries_import_id,omitempty"`
	TriesRow      int    `json:"tries_row,omitempty"`
	// AssignmentID is the id of the assignment a removal's write takes
	// away ("" for an addition): when a reconcile finds it gone, the row
	// whose write it was reports that id.
	AssignmentID string `json:"assignment_id,omitempty"`
}

// Outcome returns the outcome stored for key, and false when there is none.
func (s *Store) Outcome(ctx context.Context, key string) (Outcome, bool, error) {
	var o Outcome
	ok, err := getJSON(ctx, s.outcomes, key, &o)
	if err != nil {
		return Outcome{}, false, fmt.Errorf("outcome %s: %w", key, err)
	}
	return o, ok, nil
}

// PutOutcome stores the outcome for key, replacing any earlier one.
func (s *Store) PutOutcome(ctx context.Context, key string, o Outcome) error {
	if err := putJSON(ctx, s.outcomes, key, o); err != nil {
		return fmt.Errorf("put outcome %s: %w", key, err)
	}
	return nil
}

// Intent returns the write intent stored for key, and false when there is
// none.
func (s *Store) Intent(ctx context.Context, key string) (Intent, bool, error) {
	var in Intent
	ok, err := getJSON(ctx, s.intents, key, &in)
	if err != nil {
		return Intent{}, false, fmt.Errorf("intent %s: %w", key, err)
	}
	return in, ok, nil
}

// PutIntent stores the write intent for key, replacing any earlier one.
func (s *Store) PutIntent(ctx context.Context, key string, in Intent) error {
	if err := putJSON(ctx, s.intents, key, in); err != nil {
		return fmt.Errorf("put intent %s: %w", key, err)
	}
	return nil
}

// DeleteIntent removes the write intent for key (after its outcome is
// stored). A missing intent is not an error.
func (s *Store) DeleteIntent(ctx context.Context, key string) error {
	if err := s.intents.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete intent %s: %w", key, err)
	}
	return nil
}

// getJSON decodes the value of key into v; false when the key is absent or
// deleted.
func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (bool, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("decode: %w", err)
	}
	return true, nil
}

func putJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, key, data)
	return err
}
