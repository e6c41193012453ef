package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Import describes one ingested CSV file.
type Import struct {
	// ID identifies the import: see [NewImportID] and [ValidateImportID].
	ID string `json:"id"`
	// Name is a human label (by default the file's base name).
	Name string `json:"name,omitempty"`
	// Source is where the rows came from (a path, "-" for stdin).
	Source string `json:"source,omitempty"`
	// RequestID is the request_id of the request the import came from,
	// when it gave one.
	RequestID string `json:"request_id,omitempty"`
	// SHA256 is the hex digest of the file's bytes.
	SHA256  string    `json:"sha256,omitempty"`
	Created time.Time `json:"created"`
	// Rows counts data rows; Jobs those enqueued; Invalid those rejected by
	// validation; Duplicates those repeating an earlier row of the file.
	Rows       int      `json:"rows"`
	Jobs       int      `json:"jobs"`
	Invalid    int      `json:"invalid"`
	Duplicates int      `json:"duplicates"`
	Tenants    []string `json:"tenants,omitempty"`
	// RowSet holds the number of every row of the import (valid or not),
	// so that rows without a result can be named. Empty in imports
	// recorded before it existed: their missing rows are only counted.
	RowSet RowSet `json:"row_set,omitempty"`
	// Enqueued is true once every job was acknowledged by JetStream.
	Enqueued bool `json:"enqueued"`
	// Emitted counts the rows, in the order their source gives them,
	// whose job or result JetStream acknowledged while the import was
	// being enqueued: an interrupted enqueue resumes after them.
	Emitted int `json:"emitted,omitempty"`
	// Request, when set, says how to read the request the import came
	// from, which the store keeps ([Store.PutRequest]) until the import is
	// enqueued, so that an enqueue interrupted by a crash can be completed
	// without its sender. Nil for imports whose source stays with the
	// caller (a file).
	Request *Request `json:"request,omitempty"`
}

// Request describes a request kept for its import: its format and the
// options its rows were read with.
type Request struct {
	// Format is the request's format, e.g. "queue" for a queue message.
	Format string `json:"format"`
	// Tenant is the default tenant of rows without one ("" for none).
	Tenant string `json:"tenant,omitempty"`
	// AllowExtraColumns is true when unknown fields were ignored.
	AllowExtraColumns bool `json:"allow_extra_columns,omitempty"`
}

// ErrInvalidImportID is wrapped by [ValidateImportID].
var ErrInvalidImportID = errors.New("invalid import id")

// NewImportID returns a new import id: the UTC time to the second and six
// random hex digits, e.g. "20261122T143501-3fa9c2". Ids sort by creation
// time and are valid subject tokens and KV keys.
func NewImportID() string {
	return newImportID(time.Now())
}

func newImportID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// ValidateImportID accepts 1 to 64 ASCII letters, digits, '-' and '_': the
// characters an id may use to be a NATS subject token, a KV key and part of
// a message id.
func ValidateImportID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: %q: want 1 to 64 characters", ErrInvalidImportID, truncateID(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: %q: only letters, digits, '-' and '_'", ErrInvalidImportID, truncateID(id))
		}
	}
	return nil
}

func truncateID(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// PutImport creates or replaces the record of an import.
func (s *Store) PutImport(ctx context.Context, im Import) error {
	if err := ValidateImportID(im.ID); err != nil {
		return fmt.Errorf("put import: %w", err)
	}
	data, err := json.Marshal(im)
	if err != nil {
		return fmt.Errorf("put import %s: %w", im.ID, err)
	}
	if _, err := s.imports.Put(ctx, im.ID, data); err != nil {
		return fmt.Errorf("put import %s: %w", im.ID, err)
	}
	return nil
}

// Import returns the record of an import; the error wraps [ErrNotFound]
// when there is none.
func (s *Store) Import(ctx context.Context, id string) (Import, error) {
	if err := ValidateImportID(id); err != nil {
		return Import{}, fmt.Errorf("import: %w", err)
	}
	e, err := s.imports.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Import{}, fmt.Errorf("import %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Import{}, fmt.Errorf("import %s: %w", id, err)
	}
	var im Import
	if err := json.Unmarshal(e.Value(), &im); err != nil {
		return Import{}, fmt.Errorf("import %s: decode: %w", id, err)
	}
	return im, nil
}

// Imports returns every import record, newest first.
func (s *Store) Imports(ctx context.Context) ([]Import, error) {
	// Import ids are one subject token: "*" leaves the kept requests out.
	w, err := s.imports.Watch(ctx, "*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("imports: %w", err)
	}
	defer w.Stop()
	byID := map[string]Import{}
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, fmt.Errorf("imports: %w", ctx.Err())
		}
		if e == nil {
			break // every current value delivered
		}
		var im Import
		if err := json.Unmarshal(e.Value(), &im); err != nil {
			return nil, fmt.Errorf("imports: decode %s: %w", e.Key(), err)
		}
		byID[e.Key()] = im
	}
	out := make([]Import, 0, len(byID))
	for _, im := range byID {
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b Import) int {
		return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(b.ID, a.ID))
	})
	return out, nil
}
