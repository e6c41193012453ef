package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

func TestOpenIsIdempotentAndUpgrades(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)

	// Open again with the same config: no error, nothing changes.
	if _, err := Open(ctx, b.nc, Config{}); err != nil {
		t.Fatalf("second Open: %v", err)
	}

	// Open with a changed configuration updates in place.
	s, err := Open(ctx, b.nc, Config{DuplicateWindow: 5 * time.Minute, ResultsMaxAge: 48 * time.Hour, Replicas: 1})
	if err != nil {
		t.Fatalf("Open with a new config: %v", err)
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

func TestOpenUpgradesOlderTopology(t *testing.T) {
	dir := t.TempDir()
	e := startServer(t, dir)
	nc := connect(t, e)
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

	s, err := Open(ctx, nc, Config{})
	if err != nil {
		t.Fatalf("Open over an older topology: %v", err)
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
	if _, err := Open(testCtx(t), b.nc, Config{Replicas: 7}); err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Fatalf("Open(Replicas 7) = %v, want a replicas error", err)
	}
	if _, err := Open(testCtx(t), nil, Config{}); err == nil {
		t.Fatal("Open(nil conn) succeeded")
	}
}

// TestIntentsExpire: the intents bucket has a max age (default a week) that
// a later Open raises in place, so intents never pile up forever.
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
	if _, err := Open(ctx, b.nc, Config{IntentsMaxAge: 10 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := ttl(); got != 10*24*time.Hour {
		t.Fatalf("intents TTL after upgrade %s, want 240h", got)
	}
}
