package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/service"
)

// queueMessage is the queue message of rows.
func queueMessage(rows []csvRow) []byte {
	batch := make([]map[string]string, len(rows))
	for i, r := range rows {
		batch[i] = map[string]string{"tenant_id": r.tenant, "kind": r.kind, "policy_id": r.policy, "target": r.target, "group_id": r.group, "intent": r.intent, "api_version": r.version}
	}
	body, _ := json.Marshal(batch)
	return body
}

// TestServeKill9WhileEnqueueing kills serve (SIGKILL) while it enqueues a
// 4,000-row queue message, whose sender then gets no answer. The import
// is left enqueueing; a restarted serve completes it from the message it
// kept, without the sender: every row is created in Graph once and
// reported once, and nothing is left kept.
func TestServeKill9WhileEnqueueing(t *testing.T) {
	e := newE2E(t, fastSim())
	url := natstest.Plain(t) // an external NATS, which outlives serve
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	args := append([]string{"serve", "--metrics-addr=", "--http-addr=", "--ack-wait", "2s", "--drain-timeout", "2s"}, fastWorker...)
	vars := []string{"BULKASSIGN_NATS_URL=" + url}

	rows := genRows(41, 40, 100)
	body := queueMessage(rows)
	p := e.startWith(vars, args...)
	waitFor(t, 30*time.Second, "serve answering", func() bool {
		_, err := nc.Request("bulkassign.submit", []byte("[]"), time.Second)
		return err == nil
	})
	store, err := jobs.Open(natstest.Context(t), nc, jobs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The import record appears, enqueueing, before its first job is
	// published: kill serve the moment it does.
	kv, err := store.JetStream().KeyValue(natstest.Context(t), jobs.ImportsBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(natstest.Context(t), "*", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	sent := make(chan error, 1)
	go func() {
		_, err := nc.Request("bulkassign.submit", body, 5*time.Second)
		sent <- err
	}()
	var id string
	select {
	case entry := <-w.Updates():
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		id = entry.Key()
	case <-time.After(30 * time.Second):
		t.Fatalf("no import recorded:\n%s", p.out.String())
	}
	<-p.done
	if err := <-sent; err == nil {
		t.Fatal("the sender got an answer from a killed serve")
	}
	imp, err := store.Import(natstest.Context(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Enqueued {
		t.Fatalf("import %s was enqueued before serve was killed: the test tests nothing", id)
	}
	start := time.Now()
	t.Logf("killed with import %s enqueueing, %d of %d rows acknowledged", id, imp.Emitted, imp.Rows)

	p = e.startWith(vars, args...)
	waitFor(t, 2*time.Minute, "every row's result", func() bool {
		n, err := store.ResultCount(natstest.Context(t), id)
		return err == nil && n >= uint64(len(rows))
	})
	code, report, errOut := e.run("report", "--nats-url", url, id)
	if code != 0 || strings.Count(report, "\n") != len(rows)+1 {
		t.Fatalf("report: exit %d, %d lines\n%s", code, strings.Count(report, "\n"), errOut)
	}
	t.Logf("completed and processed in %s", time.Since(start).Round(time.Millisecond))
	if got := strings.Count(report, ",created,"); got != len(rows) {
		t.Errorf("%d rows created, want %d", got, len(rows))
	}
	e.assertSimHas(rows)
	if d := e.sim.Stats().DuplicateCreates; d != 0 {
		t.Errorf("%d duplicate creates", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if kept, err := store.KeptRequests(ctx); err != nil || len(kept) != 0 {
		t.Errorf("requests still kept: %v, %v", kept, err)
	}
	reply, err := nc.Request("bulkassign.submit", body, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r service.SubmitReply
	if err := json.Unmarshal(reply.Data, &r); err != nil || r.Error != "" || r.ImportID == id || r.Rows != len(rows) {
		t.Errorf("the message again, once its import is done: %+v, %v; want a new import", r, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if code := p.exitCode(); code != 0 {
		t.Errorf("serve exit %d after SIGTERM\n%s", code, p.out.String())
	}
}
