package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/natsembed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bundle is what most tests need: a running embedded server, a connection
// and a provisioned Store.
type bundle struct {
	srv   *natsembed.Server
	nc    *nats.Conn
	store *Store
	dir   string
}

// startServer starts an embedded server on dir with a random port; it is
// shut down in t.Cleanup.
func startServer(t testing.TB, dir string) *natsembed.Server {
	t.Helper()
	return natstest.Embedded(t, natsembed.Config{DataDir: dir})
}

func setup(t testing.TB, cfg Config) *bundle {
	t.Helper()
	dir := t.TempDir()
	e := startServer(t, dir)
	nc := natstest.Connect(t, e)
	s, err := Provision(testCtx(t), nc, cfg)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return &bundle{srv: e, nc: nc, store: s, dir: dir}
}

// testCtx is a context bounded so that a hung test fails instead of
// waiting for the global test timeout.
func testCtx(t testing.TB) context.Context { return natstest.Context(t) }

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
