package imports

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// Config configures an [Importer]. The zero value is usable: every field
// has a default, filled in by [New].
type Config struct {
	// MaxInFlight bounds the job publishes awaiting JetStream's ack at once.
	// Default 1024.
	MaxInFlight int
	// Checkpoint is how many rows are enqueued between two records of an
	// import's progress ([jobs.Import.Emitted]), from which an interrupted
	// enqueue resumes. Default 1024.
	Checkpoint int
	// MissingCheck is how often [Importer.Wait] checks that the rows still
	// without a result can get one. Default 5 s.
	MissingCheck time.Duration
	// Names, when set, makes a resolver of group_name, filter_name and
	// policy_name for each import [Importer.Submit] creates (one per
	// import: its lookups are cached for that import only). Default nil:
	// a request's rows that give names are invalid, saying names are not
	// resolved here.
	Names func() (Names, error)
	// Logger receives warnings (a kept request that could not be dropped,
	// an import that could not be recovered). Default: discard.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.MaxInFlight = cmp.Or(c.MaxInFlight, 1024)
	c.Checkpoint = cmp.Or(c.Checkpoint, 1024)
	c.MissingCheck = cmp.Or(c.MissingCheck, 5*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return c
}

// validate reports every invalid field at once.
func (c Config) validate() error {
	var errs []error
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("max in flight %d: want >= 1", c.MaxInFlight))
	}
	if c.Checkpoint < 1 {
		errs = append(errs, fmt.Errorf("checkpoint %d: want >= 1", c.Checkpoint))
	}
	if c.MissingCheck <= 0 {
		errs = append(errs, fmt.Errorf("missing check %s: want > 0", c.MissingCheck))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("imports config: %w", err)
	}
	return nil
}

// Importer creates imports in a store, waits for them and reports them.
// It is safe for concurrent use.
type Importer struct {
	store *jobs.Store
	cfg   Config
	log   *slog.Logger
}

// New returns an Importer on store.
func New(store *jobs.Store, cfg Config) (*Importer, error) {
	if store == nil {
		return nil, errors.New("imports: nil store")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Importer{store: store, cfg: cfg, log: cfg.Logger}, nil
}
