package service

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/internal/syncbuf"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
	"github.com/bulkassign/bulkassign/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const subject = "bulkassign.submit"

// replica is one service under test, running in a goroutine.
type replica struct {
	t      *testing.T
	svc    *Service
	addr   string // of /metrics, /healthz, /readyz
	log    *syncbuf.Buffer
	stop   context.CancelFunc
	done   chan struct{}
	runErr error
}

// startReplica runs a service with the queue intake on the NATS server at
// url, writing to sim, its workers configured as wcfg (discovering
// tenants every 50 ms unless it says otherwise). It is stopped and aborted
// in t.Cleanup.
func startReplica(t *testing.T, url string, sim *graphtest.Server, wcfg worker.Config) *replica {
	t.Helper()
	return startReplicaWith(t, url, sim, wcfg, nil)
}

// startReplicaWith is startReplica with the service's config changed by
// edit (when not nil) before the service is built.
func startReplicaWith(t *testing.T, url string, sim *graphtest.Server, wcfg worker.Config, edit func(*Config)) *replica {
	t.Helper()
	ctx := natstest.Context(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := OpenBackend(ctx, BackendConfig{URL: url, Provision: true, Store: jobs.Config{AckWait: 5 * time.Second}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	client := graphtest.Client(t, sim.URL(), time.Minute)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wcfg.DiscoverInterval = cmp.Or(wcfg.DiscoverInterval, 50*time.Millisecond)
	cfg := Config{
		Backend: b, Graph: client, SubmitSubject: subject, MetricsListener: ln, Metrics: m, Gatherer: reg, Logger: log,
		Worker: wcfg,
	}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	r := &replica{t: t, svc: svc, addr: ln.Addr().String(), log: logs, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.runErr = svc.Run(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		svc.Abort()
		<-r.done
	})
	waitFor(t, "readiness", func() bool { return r.get("/readyz") == http.StatusOK })
	return r
}

// get returns the status of a GET of path on the replica's HTTP server, 0
// when it does not answer.
func (r *replica) get(path string) int {
	resp, err := http.Get("http://" + r.addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// inFlight reports whether the replica's workers hold a job.
func (r *replica) inFlight() bool {
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), "\nbulkassign_inflight_jobs 1\n")
}

// stopped reports whether Run returned.
func (r *replica) stopped() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// request sends a queue message and returns the reply.
func request(t *testing.T, nc *nats.Conn, body string) SubmitReply {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 20*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	var r SubmitReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatalf("reply %q: %v", msg.Data, err)
	}
	return r
}

// message returns a queue message of one valid row; n varies its group.
func message(n int) string {
	return fmt.Sprintf(`{"tenant_id":"contoso.onmicrosoft.com","kind":"deviceConfigurations","policy_id":"6b0d549b-6f03-675a-1600-a35a099950d8","target":"group","group_id":"aaaaaaaa-bbbb-cccc-dddd-%012x"}`, n)
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// connect connects to the NATS server at url, closed in t.Cleanup.
func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
