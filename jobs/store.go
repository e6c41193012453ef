package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the streams and KV buckets Provision creates. They are part of the
// operational contract (dashboards, `nats stream info`).
const (
	JobsStream     = "BULKASSIGN_JOBS"
	ResultsStream  = "BULKASSIGN_RESULTS"
	DeadStream     = "BULKASSIGN_DEAD"
	EventsStream   = "BULKASSIGN_EVENTS"
	OutcomesBucket = "bulkassign_outcomes"
	IntentsBucket  = "bulkassign_intents"
	LeasesBucket   = "bulkassign_leases"
	ImportsBucket  = "bulkassign_imports"
)

// Subject prefixes: jobs are published to JobsSubjectPrefix+tenant token,
// results to ResultsSubjectPrefix+import id, dead letters to
// DeadSubjectPrefix+tenant token (or "unknown").
const (
	JobsSubjectPrefix    = "bulkassign.jobs."
	ResultsSubjectPrefix = "bulkassign.results."
	DeadSubjectPrefix    = "bulkassign.dead."
)

// Import events are published to EventsIntakePrefix + "import.<import
// id>.<event>" with message id "<import id>.<event>". The stream
// EventsStream stores each once (within EventsDuplicateWindow) under
// EventsSubjectPrefix + the same tail (contract.EventSubjectPrefix's
// subjects) and republishes what it stored there for live subscribers, so
// that a publish the stream dropped as a duplicate reaches nobody.
const (
	EventsIntakePrefix  = "bulkassign.eventlog."
	EventsSubjectPrefix = "bulkassign.events."
)

// ErrNotFound is returned (wrapped) when an import, outcome or intent does
// not exist.
var ErrNotFound = errors.New("not found")

// ErrNoStore is wrapped by [Open] when the streams and buckets it looks up
// do not exist on the server: nothing has provisioned a store there.
var ErrNoStore = errors.New("no bulkassign store on this NATS")

// Config configures the JetStream topology. The zero value is usable: every
// field has a default, filled in by Open and Provision.
type Config struct {
	// Replicas is the replication factor of every stream and bucket.
	// Default 1; use 3 on a 3-node cluster. Provision never lowers it.
	Replicas int
	// AckWait is how long a delivered job may stay unacknowledged before
	// JetStream redelivers it; workers extend it with InProgress. Default 30 s.
	AckWait time.Duration
	// MaxAckPending bounds the unacknowledged jobs per tenant consumer, and
	// so the memory a worker holds per tenant. Default 64.
	MaxAckPending int
	// DuplicateWindow is how long JetStream remembers message ids to drop
	// re-publishes (jobs, results, dead letters). Default 2 min.
	DuplicateWindow time.Duration
	// EventsDuplicateWindow is how long the events stream remembers an
	// event's id: an event published again later (a replica that died
	// between its publish and its record, then another replica) is stored
	// twice. Default 10 min.
	EventsDuplicateWindow time.Duration
	// EventsMaxAge is how long import events are kept. Default 7 days; it
	// must be at least EventsDuplicateWindow.
	EventsMaxAge time.Duration
	// ClaimTTL is the default lifetime of a worker's claim (lease) on a job
	// key; it must outlive one Graph call. Default 60 s. The store does not
	// use it itself; workers read it through [Store.Config].
	ClaimTTL time.Duration
	// ResultsMaxAge is how long results are kept. Default 0: forever (a
	// report must be reproducible); set it to bound disk use. Provision
	// never shortens it (nor DeadMaxAge, nor IntentsMaxAge).
	ResultsMaxAge time.Duration
	// DeadMaxAge is how long dead letters are kept. Default 0: forever.
	DeadMaxAge time.Duration
	// IntentsMaxAge is how long a write intent is kept. Workers do not
	// delete intents (an outcome always overrides one); an intent only
	// matters while its job may still be retried, so this must exceed the
	// workers' job deadline. Default 7 days.
	IntentsMaxAge time.Duration
	// PublishAckTimeout bounds the wait for one asynchronous publish
	// acknowledgement. Default 30 s.
	PublishAckTimeout time.Duration
	// Logger receives warnings (e.g. an unreadable result record).
	// Default: discard.
	Logger *slog.Logger
	// ConsumerStorage is where the server keeps the state of each tenant's
	// consumer (what it delivered and what was acknowledged): in memory
	// (ConsumerMemory, the default) or in files (ConsumerFile). The jobs
	// stream itself is always on disk. A file-stored state is rewritten
	// after acknowledgements (up to ten times a second per tenant), which
	// costs more than all the rest of a row; a memory-stored one is lost
	// when the server stops, and the workers then create the consumer again,
	// which delivers every job the work-queue stream still holds: jobs
	// already written are recognised by their outcome, never written
	// twice. An existing consumer keeps the storage it was created with.
	ConsumerStorage ConsumerStorage
	// LocalStoreDir is the store directory of the NATS server when its
	// files are on this machine (the embedded server's data directory);
	// empty for a remote server. It lets [Store.RecreateTenantConsumer]
	// move aside a consumer whose state the server cannot load. Default
	// empty.
	LocalStoreDir string
}

// ConsumerStorage is where the server keeps a tenant consumer's state:
// [ConsumerMemory] or [ConsumerFile].
type ConsumerStorage string

// The storages of [Config.ConsumerStorage].
const (
	ConsumerMemory ConsumerStorage = "memory"
	ConsumerFile   ConsumerStorage = "file"
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, 64)
	c.DuplicateWindow = cmp.Or(c.DuplicateWindow, 2*time.Minute)
	c.EventsDuplicateWindow = cmp.Or(c.EventsDuplicateWindow, 10*time.Minute)
	c.EventsMaxAge = cmp.Or(c.EventsMaxAge, 7*24*time.Hour)
	c.ClaimTTL = cmp.Or(c.ClaimTTL, 60*time.Second)
	c.PublishAckTimeout = cmp.Or(c.PublishAckTimeout, 30*time.Second)
	c.IntentsMaxAge = cmp.Or(c.IntentsMaxAge, 7*24*time.Hour)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.ConsumerStorage = cmp.Or(c.ConsumerStorage, ConsumerMemory)
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: want 1 to 5", c.Replicas))
	}
	if c.AckWait <= 0 {
		errs = append(errs, fmt.Errorf("ack wait %s: want > 0", c.AckWait))
	}
	if c.MaxAckPending < 1 {
		errs = append(errs, fmt.Errorf("max ack pending %d: want >= 1", c.MaxAckPending))
	}
	if c.DuplicateWindow <= 0 {
		errs = append(errs, fmt.Errorf("duplicate window %s: want > 0", c.DuplicateWindow))
	}
	if c.EventsDuplicateWindow <= 0 || c.EventsMaxAge < c.EventsDuplicateWindow {
		errs = append(errs, fmt.Errorf("events duplicate window %s, max age %s: want > 0, the max age at least the window", c.EventsDuplicateWindow, c.EventsMaxAge))
	}
	if c.ClaimTTL <= 0 {
		errs = append(errs, fmt.Errorf("claim ttl %s: want > 0", c.ClaimTTL))
	}
	if c.IntentsMaxAge < 0 {
		errs = append(errs, fmt.Errorf("intents max age %s: want > 0", c.IntentsMaxAge))
	}
	if c.ConsumerStorage != ConsumerMemory && c.ConsumerStorage != ConsumerFile {
		errs = append(errs, fmt.Errorf("consumer storage %q: want %q or %q", c.ConsumerStorage, ConsumerMemory, ConsumerFile))
	}
	if c.PublishAckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("publish ack timeout %s: want > 0", c.PublishAckTimeout))
	}
	// JetStream rejects a duplicate window longer than the stream's max age.
	for _, a := range []struct {
		name string
		age  time.Duration
	}{{"results max age", c.ResultsMaxAge}, {"dead max age", c.DeadMaxAge}} {
		if a.age < 0 || (a.age > 0 && a.age < c.DuplicateWindow) {
			errs = append(errs, fmt.Errorf("%s %s: want 0 (forever) or >= the duplicate window %s", a.name, a.age, c.DuplicateWindow))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jobs config: %w", err)
	}
	return nil
}

// Store is bulkassign's JetStream home. It is safe for concurrent use and
// does not own the connection: close it after the last use of the Store.
type Store struct {
	js  jetstream.JetStream
	cfg Config
	log *slog.Logger

	// pubJS publishes every Publisher's jobs asynchronously: one handle
	// (one reply subscription) for the Store's life, whose ack callbacks
	// find their Publisher in pubs (*nats.Msg → *Publisher).
	pubJS jetstream.JetStream
	pubs  sync.Map

	jobs, results, dead                jetstream.Stream
	outcomes, intents, leases, imports jetstream.KeyValue
}

// Open looks up every stream and bucket and returns the Store; it creates
// and changes nothing, so a command that only reads or enqueues may run
// against any NATS. It fails with an error wrapping [ErrNoStore] when the
// topology is missing: [Provision] creates it.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	s, err := newStore(nc, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: open: %w", err)
	}
	streams, buckets := s.topology()
	for _, st := range streams {
		if st.dst == nil {
			// Not used through the store (the events stream, which only
			// serve publishes to, after Provision): a store provisioned by
			// an older version opens without it.
			continue
		}
		str, err := s.js.Stream(ctx, st.cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("jobs: open: %w (stream %s not found)", ErrNoStore, st.cfg.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: open stream %s: %w", st.cfg.Name, err)
		}
		*st.dst = str
	}
	for _, b := range buckets {
		kv, err := s.js.KeyValue(ctx, b.cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("jobs: open: %w (bucket %s not found)", ErrNoStore, b.cfg.Bucket)
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: open bucket %s: %w", b.cfg.Bucket, err)
		}
		*b.dst = kv
	}
	s.cfg.Replicas = s.jobs.CachedInfo().Config.Replicas
	return s, nil
}

// Provision creates every stream and bucket, or updates them to cfg when
// they exist (an older configuration is upgraded in place), and returns
// the Store. It never lowers what is already set higher than cfg asks:
// replicas, and the max age of a stream or the TTL of a bucket (0, keep
// forever, being the highest); it keeps those and says so at debug level.
// It is idempotent; the processes that run workers call it on start.
func Provision(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	s, err := newStore(nc, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: provision: %w", err)
	}
	streams, buckets := s.topology()
	for _, st := range streams {
		sc := st.cfg
		cur, err := s.js.Stream(ctx, sc.Name)
		switch {
		case err == nil:
			was := cur.CachedInfo().Config
			sc.Replicas = s.keepHigher(ctx, sc.Name, "replicas", was.Replicas, sc.Replicas)
			sc.MaxAge = s.keepLonger(ctx, sc.Name, "max age", was.MaxAge, sc.MaxAge)
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return nil, fmt.Errorf("jobs: provision stream %s: %w", sc.Name, err)
		}
		str, err := s.js.CreateOrUpdateStream(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("jobs: provision stream %s: %w", sc.Name, err)
		}
		if st.dst != nil {
			*st.dst = str
		}
	}
	for _, b := range buckets {
		kc := b.cfg
		cur, err := s.js.KeyValue(ctx, kc.Bucket)
		if err == nil {
			var st jetstream.KeyValueStatus
			if st, err = cur.Status(ctx); err == nil {
				was := st.Config()
				kc.Replicas = s.keepHigher(ctx, kc.Bucket, "replicas", was.Replicas, kc.Replicas)
				kc.TTL = s.keepLonger(ctx, kc.Bucket, "TTL", was.TTL, kc.TTL)
			}
		}
		if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("jobs: provision bucket %s: %w", kc.Bucket, err)
		}
		if *b.dst, err = s.js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return nil, fmt.Errorf("jobs: provision bucket %s: %w", kc.Bucket, err)
		}
	}
	s.cfg.Replicas = s.jobs.CachedInfo().Config.Replicas
	return s, nil
}

// newStore checks cfg and builds a Store on nc without its streams and
// buckets.
func newStore(nc *nats.Conn, cfg Config) (*Store, error) {
	if nc == nil {
		return nil, errors.New("nil connection")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := &Store{js: js, cfg: cfg, log: cfg.Logger}
	if s.pubJS, err = s.newPublishHandle(nc); err != nil {
		return nil, err
	}
	return s, nil
}

// streamSpec and bucketSpec are one element of the topology and the Store
// field it fills (none for a stream the Store does not read).
type (
	streamSpec struct {
		dst *jetstream.Stream
		cfg jetstream.StreamConfig
	}
	bucketSpec struct {
		dst *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}
)

// topology is every stream and bucket as the Store's config asks for them.
func (s *Store) topology() ([]streamSpec, []bucketSpec) {
	cfg := s.cfg
	streams := []streamSpec{
		{&s.jobs, jetstream.StreamConfig{
			Name:        JobsStream,
			Description: "bulkassign jobs, one subject per tenant",
			Subjects:    []string{JobsSubjectPrefix + ">"},
			// Work-queue retention: a job leaves the stream when a worker
			// acknowledges it, so the stream holds exactly the work left
			// (acked or terminated jobs never come back). JetStream allows
			// one consumer per subject on such a stream; we create one
			// durable per tenant with a filter on that tenant's subject
			// only, so filters never overlap.
			Retention:  jetstream.WorkQueuePolicy,
			Storage:    jetstream.FileStorage,
			Duplicates: cfg.DuplicateWindow,
			Replicas:   cfg.Replicas,
			Discard:    jetstream.DiscardOld,
		}},
		{&s.results, jetstream.StreamConfig{
			Name:        ResultsStream,
			Description: "bulkassign row results, one subject per import",
			Subjects:    []string{ResultsSubjectPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Duplicates:  cfg.DuplicateWindow,
			MaxAge:      cfg.ResultsMaxAge,
			Replicas:    cfg.Replicas,
		}},
		{&s.dead, jetstream.StreamConfig{
			Name:        DeadStream,
			Description: "bulkassign dead letters: job messages that could not be processed",
			Subjects:    []string{DeadSubjectPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Duplicates:  cfg.DuplicateWindow,
			MaxAge:      cfg.DeadMaxAge,
			Replicas:    cfg.Replicas,
		}},
		{nil, jetstream.StreamConfig{
			Name:        EventsStream,
			Description: "bulkassign import events (started, finished), one subject per import and event",
			Subjects:    []string{EventsIntakePrefix + ">"},
			// Stored under the public subjects, and republished there once
			// stored: live subscribers see what the stream keeps, each
			// event once within the duplicate window.
			SubjectTransform: &jetstream.SubjectTransformConfig{Source: EventsIntakePrefix + ">", Destination: EventsSubjectPrefix + ">"},
			RePublish:        &jetstream.RePublish{Source: EventsSubjectPrefix + ">", Destination: EventsSubjectPrefix + ">"},
			Retention:        jetstream.LimitsPolicy,
			Storage:          jetstream.FileStorage,
			Duplicates:       cfg.EventsDuplicateWindow,
			MaxAge:           cfg.EventsMaxAge,
			Replicas:         cfg.Replicas,
		}},
	}
	bucket := func(dst *jetstream.KeyValue, name, desc string, ttl time.Duration) bucketSpec {
		return bucketSpec{dst, jetstream.KeyValueConfig{
			Bucket: name, Description: desc, History: 1, TTL: ttl,
			Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		}}
	}
	buckets := []bucketSpec{
		bucket(&s.outcomes, OutcomesBucket, "bulkassign outcome per assignment key: written once the assignment exists", 0),
		bucket(&s.intents, IntentsBucket, "bulkassign write intent per assignment key: a Graph write may be in flight", cfg.IntentsMaxAge),
		bucket(&s.leases, LeasesBucket, "bulkassign leases: per-key and per-policy ownership", 0),
		bucket(&s.imports, ImportsBucket, "bulkassign imports", 0),
	}
	return streams, buckets
}

// keepHigher returns the replicas to provision: the existing count when it
// is higher than asked.
func (s *Store) keepHigher(ctx context.Context, name, what string, was, asked int) int {
	if was <= asked {
		return asked
	}
	s.log.DebugContext(ctx, "jobs: provision keeps the higher setting", slog.String("name", name),
		slog.String("setting", what), slog.Int("kept", was), slog.Int("asked", asked))
	return was
}

// keepLonger returns the max age or TTL to provision: the existing one when
// it keeps data longer than asked (0 keeps it forever).
func (s *Store) keepLonger(ctx context.Context, name, what string, was, asked time.Duration) time.Duration {
	if asked == 0 || (was != 0 && was <= asked) {
		return asked
	}
	s.log.DebugContext(ctx, "jobs: provision keeps the longer setting", slog.String("name", name),
		slog.String("setting", what), slog.Duration("kept", was), slog.Duration("asked", asked))
	return was
}

// Config returns the configuration, defaults filled in, with Replicas as
// the jobs stream has it.
func (s *Store) Config() Config { return s.cfg }

// JetStream returns the JetStream handle the Store uses.
func (s *Store) JetStream() jetstream.JetStream { return s.js }
