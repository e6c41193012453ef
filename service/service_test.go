package service

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/worker"
)

// draining starts a replica on a NATS server of its own whose workers
// hold a job in flight: its Graph answers no request until it is
// cancelled, so that once stopped the replica drains for its whole drain
// timeout (20 s). It returns the replica, the server's URL, a connection
// to it and the Graph simulator.
func draining(t *testing.T) (*replica, string, *nats.Conn, *graphtest.Server) {
	t.Helper()
	sim := graphtest.Start(t, graphtest.Config{Latency: time.Hour})
	url := natstest.Plain(t)
	nc := connect(t, url)
	a := startReplica(t, url, sim, worker.Config{DrainTimeout: 20 * time.Second})
	if r := request(t, nc, message(0)); r.ImportID == "" {
		t.Fatalf("first request: %+v", r)
	}
	waitFor(t, "a write in flight", a.inFlight)
	return a, url, nc, sim
}

// TestDrainHandsRequestsOver: two replicas on one NATS; while one drains
// (a write in flight holds it) it is unready but alive, and every request
// sent meanwhile is answered with an import, those that reach the
// draining replica by the other one.
func TestDrainHandsRequestsOver(t *testing.T) {
	a, url, nc, sim := draining(t)
	b := startReplica(t, url, sim, worker.Config{DrainTimeout: 20 * time.Second})
	a.stop()
	waitFor(t, "the draining replica unready", func() bool { return a.get("/readyz") == http.StatusServiceUnavailable })
	if code := a.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz of the draining replica: %d, want 200 until the end", code)
	}
	const handedOver = "handed a request over to another replica"
	for i := 1; i <= 50 && !strings.Contains(a.log.String(), handedOver); i++ {
		if r := request(t, nc, message(i)); r.ImportID == "" || r.Error != "" {
			t.Fatalf("request %d during the drain: %+v\nA:\n%s\nB:\n%s", i, r, a.log, b.log)
		}
	}
	if !strings.Contains(a.log.String(), handedOver) {
		t.Fatal("no request reached the draining replica in 50")
	}
	if a.stopped() {
		t.Fatal("the replica stopped before the requests were answered: they were not sent during its drain")
	}
	a.svc.Abort()
	<-a.done
	if a.runErr != nil {
		t.Errorf("Run: %v", a.runErr)
	}
	if !a.svc.backend.Conn.IsClosed() {
		t.Error("Run returned with its connection open")
	}
}

// TestDrainWithoutReplica: with no other replica, a request sent during
// the drain is answered "shutting down", not with a cancelled context.
func TestDrainWithoutReplica(t *testing.T) {
	a, _, nc, _ := draining(t)
	a.stop()
	waitFor(t, "unready", func() bool { return a.get("/readyz") == http.StatusServiceUnavailable })
	r := request(t, nc, message(1))
	if r.ImportID != "" || !strings.HasPrefix(r.Error, "shutting down") || strings.Contains(r.Error, "context canceled") {
		t.Fatalf("reply during the drain: %+v, want a shutting-down error", r)
	}
	if a.stopped() {
		t.Fatal("the replica stopped before it answered: the request was not sent during its drain")
	}
}

// TestSubmit: a valid message becomes an import (a repeated row a
// duplicate); a malformed or invalid one is refused with every element's
// error and counted; a soft stop with nothing in flight ends Run at once.
func TestSubmit(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	url := natstest.Plain(t)
	nc := connect(t, url)
	a := startReplica(t, url, sim, worker.Config{DrainTimeout: 5 * time.Second})
	r := request(t, nc, "["+message(1)+","+message(2)+","+message(1)+"]")
	if r.Error != "" || r.ImportID == "" || r.Rows != 3 || r.Jobs != 2 || r.Duplicates != 1 {
		t.Fatalf("valid message: %+v", r)
	}
	bad := strings.Replace(message(3), "aaaaaaaa-bbbb", "not-a-guid", 1)
	r = request(t, nc, "["+message(3)+`,"x",`+bad+"]")
	if r.ImportID != "" || r.Error != "2 of 3 rows invalid; nothing enqueued" || len(r.Errors) != 2 ||
		r.Errors[0].Row != 2 || r.Errors[1].Row != 3 || r.Errors[1].Column != contract.ColGroup {
		t.Fatalf("invalid message: %+v", r)
	}
	for _, body := range []string{"not json", "[]"} {
		if r := request(t, nc, body); r.Error == "" || r.ImportID != "" {
			t.Errorf("message %q: %+v, want an error", body, r)
		}
	}
	resp, err := http.Get("http://" + a.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(exposition), `bulkassign_malformed_messages_total{source="queue"} 3`) {
		t.Errorf("malformed messages not counted:\n%s", exposition)
	}
	a.stop()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after a stop with nothing in flight")
	}
	if a.runErr != nil {
		t.Fatalf("Run: %v", a.runErr)
	}
}
