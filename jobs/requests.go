package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// The imports bucket also keeps, under "request.<import id>", the bytes of
// the request an import came from while the import is enqueued (see
// [Import.Request]). A request arrived as one NATS message, so it fits in
// one value.
const requestKeyPrefix = "request."

// PutRequest keeps the bytes of the request import importID came from.
func (s *Store) PutRequest(ctx context.Context, importID string, body []byte) error {
	if err := ValidateImportID(importID); err != nil {
		return fmt.Errorf("put request: %w", err)
	}
	if _, err := s.imports.Put(ctx, requestKeyPrefix+importID, body); err != nil {
		return fmt.Errorf("put request of import %s: %w", importID, err)
	}
	return nil
}

// Request returns the kept request of import importID; the error wraps
// [ErrNotFound] when none is kept.
func (s *Store) Request(ctx context.Context, importID string) ([]byte, error) {
	if err := ValidateImportID(importID); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	e, err := s.imports.Get(ctx, requestKeyPrefix+importID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("request of import %s: %w", importID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("request of import %s: %w", importID, err)
	}
	return e.Value(), nil
}

// DeleteRequest drops the kept request of import importID. A missing one
// is not an error.
func (s *Store) DeleteRequest(ctx context.Context, importID string) error {
	if err := ValidateImportID(importID); err != nil {
		return fmt.Errorf("delete request: %w", err)
	}
	if err := s.imports.Delete(ctx, requestKeyPrefix+importID); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete request of import %s: %w", importID, err)
	}
	return nil
}

// KeptRequests returns the ids of the imports whose request is kept.
func (s *Store) KeptRequests(ctx context.Context) ([]string, error) {
	l, err := s.imports.ListKeysFiltered(ctx, requestKeyPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("kept requests: %w", err)
	}
	defer func() { _ = l.Stop() }()
	var ids []string
	for {
		select {
		case k, ok := <-l.Keys():
			if !ok {
				return ids, nil
			}
			ids = append(ids, strings.TrimPrefix(k, requestKeyPrefix))
		case <-ctx.Done():
			return nil, fmt.Errorf("kept requests: %w", ctx.Err())
		}
	}
}
