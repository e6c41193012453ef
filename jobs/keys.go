package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// The imports bucket also binds idempotency keys to imports, under
// "key.<hex SHA-256 of the key>" (any key, of any length, is a valid KV
// key then).
const importKeyPrefix = "key."

// ClaimImportKey binds key to import id unless it is bound already, and
// returns the import id key is bound to: id when this call bound it, the
// earlier one otherwise. Of concurrent claims of one key exactly one wins.
func (s *Store) ClaimImportKey(ctx context.Context, key, id string) (string, error) {
	if err := ValidateImportID(id); err != nil {
		return "", fmt.Errorf("claim import key: %w", err)
	}
	k := importKey(key)
	for {
		_, err := s.imports.Create(ctx, k, []byte(id))
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("claim import key: %w", err)
		}
		e, err := s.imports.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted in between: claim it again
		}
		if err != nil {
			return "", fmt.Errorf("claim import key: %w", err)
		}
		return string(e.Value()), nil
	}
}
