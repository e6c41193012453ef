package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/natsembed"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		given   Config
		wantErr string // "" for valid
	}{
		{"zero value gets defaults", Config{}, ""},
		{"replicas 3", Config{Replicas: 3}, ""},
		{"replicas 6", Config{Replicas: 6}, "replicas 6"},
		{"negative ack wait", Config{AckWait: -time.Second}, "ack wait"},
		{"negative max ack pending", Config{MaxAckPending: -1}, "max ack pending"},
		{"results age below dedup window", Config{ResultsMaxAge: time.Minute}, "results max age"},
		{"results age above dedup window", Config{ResultsMaxAge: time.Hour}, ""},
		{"negative dead age", Config{DeadMaxAge: -time.Hour}, "dead max age"},
		{"two errors", Config{Replicas: 9, ClaimTTL: -1}, "claim ttl"},
		{"events age below their dedup window", Config{EventsMaxAge: time.Minute}, "events duplicate window"},
		{"events age above their dedup window", Config{EventsMaxAge: time.Hour}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.given.withDefaults().validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Replicas != 1 || c.AckWait != 30*time.Second || c.MaxAckPending != 64 ||
		c.DuplicateWindow != 2*time.Minute || c.ClaimTTL != time.Minute || c.Logger == nil {
		t.Fatalf("defaults = %+v", c)
	}
	// A set field is kept.
	if got := (Config{AckWait: time.Second}).withDefaults().AckWait; got != time.Second {
		t.Fatalf("AckWait = %s, want the given 1s", got)
	}
}

func TestProvisionIsIdempotentAndUpgrades(t *testing.T) {
	b := setup(t, Config{ResultsMaxAge: 24 * time.Hour})
	ctx := testCtx(t)

	// Provision again with the same config: no error, nothing changes.
	if _, err := Provision(ctx, b.nc, Config{ResultsMaxAge: 24 * time.Hour}); err != nil {
		t.Fatalf("second Provision: %v", err)
	}

	// Provision with a changed configuration updates in place.
	s, err := Provision(ctx, b.nc, Config{DuplicateWindow: 5 * time.Minute, ResultsMaxAge: 48 * time.Hour, Replicas: 1})
	if err != nil {
		t.Fatalf("Provision with a new config: %v", err)
	}
	info, err := s.results.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 48*time.Hour || info.Config.Duplicates != 5*time.Minute {
		t.Fatalf("results stream not updated: max age %s, duplicates %s", info.Config.MaxAge, info.Config.Duplicates)
	}
	jinfo, err := s.jobs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jinfo.Config.Retention != jetstream.WorkQueuePolicy || jinfo.Config.Storage != jetstream.FileStorage {
		t.Fatalf("jobs stream: retention %v storage %v", jinfo.Config.Retention, jinfo.Config.Storage)
	}
}

func TestProvisionUpgradesOlderTopology(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := natstest.Connect(t, e)
	ctx := testCtx(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// An "older release" created the streams and a bucket with other
	// settings: a shorter dedup window, a narrower subject, no description.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: JobsStream, Subjects: []string{"bulkassign.jobs.*"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: 30 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: ResultsStream, Subjects: []string{"bulkassign.results.>"}, Storage: jetstream.FileStorage,
		MaxAge: 24 * time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: OutcomesBucket, History: 5}); err != nil {
		t.Fatal(err)
	}

	s, err := Provision(ctx, nc, Config{})
	if err != nil {
		t.Fatalf("Provision over an older topology: %v", err)
	}
	info, err := s.jobs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Duplicates != 2*time.Minute || info.Config.Subjects[0] != "bulkassign.jobs.>" {
		t.Fatalf("jobs stream not upgraded: %+v", info.Config)
	}
	rinfo, err := s.results.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rinfo.Config.MaxAge != 0 {
		t.Fatalf("results max age = %s, want 0 (forever)", rinfo.Config.MaxAge)
	}
	st, err := s.outcomes.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 1 {
		t.Fatalf("outcomes history = %d, want 1", st.History())
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	b := setup(t, Config{})
	for name, open := range map[string]func(context.Context, *nats.Conn, Config) (*Store, error){"Open": Open, "Provision": Provision} {
		if _, err := open(testCtx(t), b.nc, Config{Replicas: 7}); err == nil || !strings.Contains(err.Error(), "replicas") {
			t.Fatalf("%s(Replicas 7) = %v, want a replicas error", name, err)
		}
		if _, err := open(testCtx(t), nil, Config{}); err == nil {
			t.Fatalf("%s(nil conn) succeeded", name)
		}
	}
}

// TestIntentsExpire: the intents bucket has a max age (default a week) that
// a later Provision raises in place, so intents never pile up forever.
func TestIntentsExpire(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	ttl := func() time.Duration {
		t.Helper()
		kv, err := b.store.JetStream().KeyValue(ctx, IntentsBucket)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.TTL()
	}
	if got := ttl(); got != 7*24*time.Hour {
		t.Fatalf("intents TTL %s, want 168h", got)
	}
	if _, err := Provision(ctx, b.nc, Config{IntentsMaxAge: 10 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := ttl(); got != 10*24*time.Hour {
		t.Fatalf("intents TTL after upgrade %s, want 240h", got)
	}
}

// TestOpenLooksUpOnly: Open creates nothing where no store was provisioned
// and says so; it finds a provisioned store and changes none of it.
func TestOpenLooksUpOnly(t *testing.T) {
	nc := natstest.Connect(t, startServer(t, t.TempDir()))
	ctx := testCtx(t)
	_, err := Open(ctx, nc, Config{})
	if !errors.Is(err, ErrNoStore) || !strings.Contains(err.Error(), "no bulkassign store on this NATS") {
		t.Fatalf("Open on an empty server = %v, want ErrNoStore", err)
	}
	if got := natstest.Topology(t, nc); got != "" {
		t.Fatalf("Open created %s", got)
	}

	want := Config{IntentsMaxAge: 30 * 24 * time.Hour, ResultsMaxAge: 90 * 24 * time.Hour, DuplicateWindow: 10 * time.Minute}
	if _, err := Provision(ctx, nc, want); err != nil {
		t.Fatal(err)
	}
	before := natstest.Topology(t, nc)
	s, err := Open(ctx, nc, Config{IntentsMaxAge: time.Hour, ResultsMaxAge: time.Hour})
	if err != nil {
		t.Fatalf("Open on a provisioned store: %v", err)
	}
	if after := natstest.Topology(t, nc); after != before {
		t.Fatalf("Open changed the topology:\nbefore %s\nafter  %s", before, after)
	}
	// The Store works: it found every stream and bucket.
	if err := s.PutImport(ctx, Import{ID: "20261122T143501-3fa9c2", Rows: 1}); err != nil {
		t.Fatal(err)
	}

	// A store provisioned by a version without the events stream opens:
	// only serve publishes events, and it provisions.
	if err := s.JetStream().DeleteStream(ctx, EventsStream); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, nc, Config{}); err != nil {
		t.Fatalf("Open without the events stream: %v", err)
	}

	if err := s.JetStream().DeleteKeyValue(ctx, LeasesBucket); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, nc, Config{}); !errors.Is(err, ErrNoStore) || !strings.Contains(err.Error(), LeasesBucket) {
		t.Fatalf("Open with a bucket missing = %v, want ErrNoStore naming %s", err, LeasesBucket)
	}
}

// TestProvisionNeverShortens: a later Provision asking for shorter max ages
// and TTLs keeps the longer ones (0, forever, being the longest) and says
// so at debug level; asking for longer ones raises them.
func TestProvisionNeverShortens(t *testing.T) {
	var logs bytes.Buffer // Provision logs from the calling goroutine
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := setup(t, Config{IntentsMaxAge: 30 * 24 * time.Hour, DeadMaxAge: 90 * 24 * time.Hour})
	ctx := testCtx(t)
	if _, err := Provision(ctx, b.nc, Config{IntentsMaxAge: 8 * 24 * time.Hour, ResultsMaxAge: 48 * time.Hour, DeadMaxAge: 24 * time.Hour, Logger: log}); err != nil {
		t.Fatal(err)
	}
	if got := natstest.Topology(t, b.nc); !strings.Contains(got, "BULKASSIGN_RESULTS:R1:0s") ||
		!strings.Contains(got, "BULKASSIGN_DEAD:R1:2160h0m0s") || !strings.Contains(got, "KV_bulkassign_intents:R1:720h0m0s") {
		t.Fatalf("a shorter Provision changed the topology: %s", got)
	}
	if n := strings.Count(logs.String(), "keeps the longer setting"); n != 3 {
		t.Errorf("%d debug messages about kept settings, want 3:\n%s", n, logs.String())
	}
	if _, err := Provision(ctx, b.nc, Config{IntentsMaxAge: 60 * 24 * time.Hour, DeadMaxAge: 0}); err != nil {
		t.Fatal(err)
	}
	if got := natstest.Topology(t, b.nc); !strings.Contains(got, "BULKASSIGN_DEAD:R1:0s") || !strings.Contains(got, "KV_bulkassign_intents:R1:1440h0m0s") {
		t.Fatalf("a longer Provision did not raise: %s", got)
	}
}

// TestProvisionNeverLowersReplicas runs on a 3-node JetStream cluster: a
// store provisioned with 3 replicas keeps them when a process provisions
// with 1 (the default), and opening it changes nothing.
func TestProvisionNeverLowersReplicas(t *testing.T) {
	url := natstest.Cluster(t, 3)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := Provision(ctx, nc, Config{Replicas: 3, IntentsMaxAge: 30 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	before := natstest.Topology(t, nc)
	if strings.Count(before, ":R3:") != 8 {
		t.Fatalf("provisioned topology %s, want 8 streams and buckets with 3 replicas", before)
	}
	s, err := Provision(ctx, nc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Config().Replicas != 3 {
		t.Errorf("Store.Config().Replicas = %d, want the store's 3", s.Config().Replicas)
	}
	if _, err := Open(ctx, nc, Config{}); err != nil {
		t.Fatal(err)
	}
	if after := natstest.Topology(t, nc); after != before {
		t.Fatalf("Provision with 1 replica changed the topology:\nbefore %s\nafter  %s", before, after)
	}
}

// TestStoreSurvivesRestart: jobs and outcomes written before the embedded
// server stops are there after it restarts on the same directory.
func TestStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)

	e1, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc1, err := e1.Connect()
	if err != nil {
		e1.Shutdown()
		t.Fatal(err)
	}
	s1, err := Provision(ctx, nc1, Config{})
	if err == nil {
		p := s1.NewPublisher(16)
		for i := range 50 {
			if err = p.Publish(ctx, testJob("contoso.onmicrosoft.com", "imp1", i+2, i)); err != nil {
				break
			}
		}
		if err == nil {
			_, err = p.Flush(ctx)
		}
		if err == nil {
			err = s1.PutOutcome(ctx, "k1", Outcome{Status: StatusCreated, AssignmentID: "a1"})
		}
	}
	nc1.Close()
	e1.Shutdown()
	if err != nil {
		t.Fatal(err)
	}

	s2, err := Open(ctx, natstest.Connect(t, startServer(t, dir)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s2.PendingTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := pending["contoso.onmicrosoft.com"]; got != 50 {
		t.Fatalf("after restart: %d jobs pending, want 50 (%v)", got, pending)
	}
	o, ok, err := s2.Outcome(ctx, "k1")
	if err != nil || !ok || o.AssignmentID != "a1" {
		t.Fatalf("after restart: outcome = %+v, %v, %v", o, ok, err)
	}
}
