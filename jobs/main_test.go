package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bundle is what most tests need: a running embedded server, a connection
// and an opened Store.
type bundle struct {
	srv   *Embedded
	nc    *nats.Conn
	store *Store
	dir   string
}

// startServer starts an embedded server on dir with a random port; it is
// shut down in t.Cleanup.
func startServer(t testing.TB, dir string) *Embedded {
	t.Helper()
	e, err := StartEmbedded(EmbeddedConfig{DataDir: dir, Port: -1})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func connect(t testing.TB, e *Embedded) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func setup(t testing.TB, cfg Config) *bundle {
	t.Helper()
	dir := t.TempDir()
	e := startServer(t, dir)
	nc := connect(t, e)
	s, err := Open(testCtx(t), nc, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &bundle{srv: e, nc: nc, store: s, dir: dir}
}

// testCtx is a context bounded so that a hung test fails instead of
// waiting for the global test timeout.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testJob returns a valid job for tenant, import and row; n varies the
// group so that keys differ.
func testJob(tenant, importID string, row, n int) Job {
	j := Job{
		ImportID:   importID,
		Row:        row,
		Tenant:     tenant,
		Kind:       "deviceConfigurations",
		PolicyID:   "11111111-2222-3333-4444-555555555555",
		Target:     graph.TargetGroup,
		GroupID:    fmt.Sprintf("aaaaaaaa-bbbb-cccc-dddd-%012x", n),
		APIVersion: graph.V1,
	}
	j.Key = j.ComputeKey()
	return j
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
