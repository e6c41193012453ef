// Package storetest gives the tests of the packages above jobs (imports,
// service, the CLI) a provisioned [jobs.Store] on an embedded NATS server,
// stopped in t.Cleanup, and a look into its jobs stream. (Package jobs's
// own tests cannot use it: it imports jobs.)
package storetest

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/natsembed"
)

// Bundle is an embedded server, a connection to it and a store provisioned
// on it.
type Bundle struct {
	Server *natsembed.Server
	Conn   *nats.Conn
	Store  *jobs.Store
}

// Start starts an embedded server on a temporary data directory, connects
// and provisions a store with cfg; the connection is closed and the server
// shut down in t.Cleanup.
func Start(t testing.TB, cfg jobs.Config) *Bundle {
	t.Helper()
	srv := natstest.Embedded(t, natsembed.Config{})
	nc := natstest.Connect(t, srv)
	store, err := jobs.Provision(natstest.Context(t), nc, cfg)
	if err != nil {
		t.Fatalf("provision the store: %v", err)
	}
	return &Bundle{Server: srv, Conn: nc, Store: store}
}

// QueuedJobs returns every job in the jobs stream, in stream order.
func QueuedJobs(t testing.TB, store *jobs.Store) []jobs.Job {
	t.Helper()
	ctx := natstest.Context(t)
	st, err := store.JetStream().Stream(ctx, jobs.JobsStream)
	if err != nil {
		t.Fatalf("jobs stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("jobs stream info: %v", err)
	}
	var out []jobs.Job
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue // deleted (acknowledged) in between
			}
			t.Fatalf("jobs stream message %d: %v", seq, err)
		}
		j, err := jobs.DecodeJob(msg.Data)
		if err != nil {
			t.Fatalf("jobs stream message %d: %v", seq, err)
		}
		out = append(out, j)
	}
	return out
}

// PurgeJobs removes every job from the jobs stream, as a damaged store
// block would lose them.
func PurgeJobs(t testing.TB, store *jobs.Store) {
	t.Helper()
	ctx := natstest.Context(t)
	st, err := store.JetStream().Stream(ctx, jobs.JobsStream)
	if err != nil {
		t.Fatalf("jobs stream: %v", err)
	}
	if err := st.Purge(ctx); err != nil {
		t.Fatalf("purge the jobs stream: %v", err)
	}
}
