package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/events"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
)

const (
	tenant = "contoso.onmicrosoft.com"
	policy = "6b0d549b-6f03-675a-1600-a35a099950d8"
)

// importOf creates an import of a CSV of n rows of groups from..from+n-1,
// plus a duplicate of the first and an invalid row (skipped), as the CLI's
// ingest does.
func importOf(t *testing.T, store *jobs.Store, from, n int) jobs.Import {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("tenant_id,kind,policy_id,target,group_id\n")
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%s,deviceConfigurations,%s,group,aaaaaaaa-bbbb-cccc-dddd-%012x\n", tenant, policy, i)
	}
	fmt.Fprintf(&b, "%s,deviceConfigurations,%s,group,aaaaaaaa-bbbb-cccc-dddd-%012x\n", tenant, policy, from)
	fmt.Fprintf(&b, "%s,deviceConfigurations,%s,group,not-a-guid\n", tenant, policy)
	data := b.Bytes()
	im, err := imports.New(store, imports.Config{})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := im.Create(natstest.Context(t), imports.Spec{Name: "f.csv"}, imports.NewCSV(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, ingest.Options{SkipInvalid: true}))
	if err != nil {
		t.Fatal(err)
	}
	return imp
}

// work records a result for every queued job, as workers would: the first
// failed, the others created.
func work(t *testing.T, store *jobs.Store) {
	t.Helper()
	for i, j := range storetest.QueuedJobs(t, store) {
		status := jobs.StatusCreated
		if i == 0 {
			status = jobs.StatusFailed
		}
		if err := store.PutResult(natstest.Context(t), jobs.ResultFor(j, status)); err != nil {
			t.Fatal(err)
		}
	}
	storetest.PurgeJobs(t, store)
}

// run runs a publisher on the store until the test ends.
func run(t *testing.T, b *storetest.Bundle, wh *events.Webhook) {
	t.Helper()
	runConfig(t, events.Config{Store: b.Store, Conn: b.Conn, Webhook: wh})
}

// runConfig runs a publisher of cfg (checking every 20 ms) and its
// webhook until the test ends.
func runConfig(t *testing.T, cfg events.Config) {
	t.Helper()
	wh := cfg.Webhook
	cfg.Interval = 20 * time.Millisecond
	p, err := events.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	if wh != nil {
		wg.Go(func() { wh.Run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// next returns the next event on sub.
func next(t *testing.T, sub *nats.Subscription) (string, contract.ImportEvent) {
	t.Helper()
	msg, err := sub.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no event: %v", err)
	}
	var ev contract.ImportEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return msg.Subject, ev
}

// TestEvents: with two publishers on one store (two replicas), an import
// created by the CLI's ingest is announced started, then finished once
// every row has its result, each once, the finished event carrying the
// counts by status and the duration; imports recorded before events
// started are never announced.
func TestEvents(t *testing.T) {
	b := storetest.Start(t, jobs.Config{})
	old := importOf(t, b.Store, 100, 2)
	work(t, b.Store)
	sub, err := b.Conn.SubscribeSync("bulkassign.events.import.>")
	if err != nil {
		t.Fatal(err)
	}
	run(t, b, nil)
	run(t, b, nil)

	imp := importOf(t, b.Store, 0, 4)
	subj, ev := next(t, sub)
	if subj != "bulkassign.events.import."+imp.ID+".started" || ev.Event != "started" || ev.ImportID != imp.ID || ev.Rows != 6 ||
		ev.Name != "f.csv" || !ev.StartedAt.Equal(imp.Created) || ev.FinishedAt != nil || ev.Counts != nil {
		t.Fatalf("%s: %+v", subj, ev)
	}
	work(t, b.Store)
	subj, ev = next(t, sub)
	want := map[contract.Status]int{contract.StatusCreated: 3, contract.StatusFailed: 1, contract.StatusDuplicate: 1, contract.StatusInvalid: 1}
	if subj != "bulkassign.events.import."+imp.ID+".finished" || ev.Event != "finished" || ev.Rows != 6 || fmt.Sprint(ev.Counts) != fmt.Sprint(want) ||
		ev.FinishedAt == nil || ev.FinishedAt.Before(ev.StartedAt) || ev.DurationSeconds != ev.FinishedAt.Sub(ev.StartedAt).Seconds() {
		t.Fatalf("%s: %+v, want counts %v", subj, ev, want)
	}

	// A fence: the next import's events come next, so neither replica
	// announced anything twice, nor the old import.
	fence := importOf(t, b.Store, 50, 1)
	work(t, b.Store)
	for _, want := range []string{"started", "finished"} {
		if subj, ev := next(t, sub); ev.ImportID != fence.ID || ev.Event != want {
			t.Fatalf("%s: %+v, want the fence's %s (old import %s)", subj, ev, want, old.ID)
		}
	}
}
