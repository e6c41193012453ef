package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// The imports bucket also keeps the parts of a request sent in several
// messages, under "part.<request id>.<part number>", until the request's
// import is enqueued. A part arrived as one NATS message, so it fits in
// one value.
const partKeyPrefix = "part."

// PutPart keeps part n of request requestID (a valid import id).
func (s *Store) PutPart(ctx context.Context, requestID string, n int, body []byte) error {
	if err := ValidateImportID(requestID); err != nil {
		return fmt.Errorf("put part: %w", err)
	}
	if _, err := s.imports.Put(ctx, partKeyPrefix+requestID+"."+strconv.Itoa(n), body); err != nil {
		return fmt.Errorf("put part %d of request %s: %w", n, requestID, err)
	}
	return nil
}

// Parts returns the kept parts of request requestID, by part number.
func (s *Store) Parts(ctx context.Context, requestID string) (map[int][]byte, error) {
	if err := ValidateImportID(requestID); err != nil {
		return nil, fmt.Errorf("parts: %w", err)
	}
	prefix := partKeyPrefix + requestID + "."
	w, err := s.imports.Watch(ctx, prefix+"*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("parts of request %s: %w", requestID, err)
	}
	defer func() { _ = w.Stop() }()
	parts := map[int][]byte{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return parts, nil // every current value delivered
			}
			n, err := strconv.Atoi(strings.TrimPrefix(e.Key(), prefix))
			if err != nil {
				continue
			}
			parts[n] = e.Value()
		case <-ctx.Done():
			return nil, fmt.Errorf("parts of request %s: %w", requestID, ctx.Err())
		}
	}
}

// DeleteParts drops the kept parts of request requestID.
func (s *Store) DeleteParts(ctx context.Context, requestID string, parts int) error {
	if err := ValidateImportID(requestID); err != nil {
		return fmt.Errorf("delete parts: %w", err)
	}
	var errs []error
	for n := 1; n <= parts; n++ {
		if err := s.imports.Purge(ctx, partKeyPrefix+requestID+"."+strconv.Itoa(n)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete parts of request %s: %w", requestID, err)
	}
	return nil
}

// ImportForKey returns the import id an idempotency key is bound to
// ([Store.ClaimImportKey]); false when it is bound to none.
func (s *Store) ImportForKey(ctx context.Context, key string) (string, bool, error) {
	e, err := s.imports.Get(ctx, importKey(key))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("import of key: %w", err)
	}
	return string(e.Value()), true, nil
}

// importKey is the bucket key binding an idempotency key.
func importKey(key string) string {
	digest := sha256.Sum256([]byte(key))
	return importKeyPrefix + hex.EncodeToString(digest[:])
}
