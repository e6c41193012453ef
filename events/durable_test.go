package events_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/events"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
)

// hooks is a webhook receiver counting the POSTs of each event of each
// import ("<import id>.<event>"; a body that is not an event counts as
// its raw text).
type hooks struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]int
}

func newHooks(t *testing.T) *hooks {
	t.Helper()
	h := &hooks{got: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := string(body)
		var ev contract.ImportEvent
		if json.Unmarshal(body, &ev) == nil && ev.ImportID != "" {
			key = ev.ImportID + "." + ev.Event
		}
		h.mu.Lock()
		h.got[key]++
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// webhook returns a new Webhook POSTing to h.
func (h *hooks) webhook(t *testing.T) *events.Webhook {
	t.Helper()
	wh, err := events.NewWebhook(events.WebhookConfig{URL: h.srv.URL, Secret: []byte("k"), BaseDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

// count returns the POSTs of key.
func (h *hooks) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[key]
}

// drain sends a fence through each webhook and waits until every fence
// arrived: each webhook POSTs in order, so whatever a publisher queued
// before the fence was POSTed by then.
func (h *hooks) drain(t *testing.T, whs ...*events.Webhook) {
	t.Helper()
	for i, wh := range whs {
		fence := fmt.Sprintf("fence %d of %s", i, t.Name())
		if !wh.Send("fence", []byte(fence)) {
			t.Fatal("webhook queue full")
		}
		waitFor(t, "the webhook's fence", func() bool { return h.count(fence) == 1 })
	}
}

// want checks that each event of imp was POSTed n times.
func (h *hooks) want(t *testing.T, imp jobs.Import, n int) {
	t.Helper()
	for _, ev := range []string{contract.EventStarted, contract.EventFinished} {
		if got := h.count(imp.ID + "." + ev); got != n {
			t.Errorf("%d POSTs of the %s event, want %d", got, ev, n)
		}
	}
}

// waitFor waits until cond holds, for 30 s at most.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// recorded reports whether event of imp is recorded published.
func recorded(t *testing.T, store *jobs.Store, imp jobs.Import, event string) bool {
	t.Helper()
	done, err := store.EventRecorded(natstest.Context(t), imp.ID, event)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

// stored returns the messages of the events stream on subject (a filter),
// read with a consumer of a new connection, as a late subscriber would.
func stored(t *testing.T, b *storetest.Bundle, subject string) []jetstream.Msg {
	t.Helper()
	ctx := natstest.Context(t)
	js, err := jetstream.New(natstest.Connect(t, b.Server))
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, jobs.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	if n == 0 {
		return nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(int(n))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]jetstream.Msg, 0, n)
	for m := range batch.Messages() {
		out = append(out, m)
	}
	if err := batch.Error(); err != nil || uint64(len(out)) != n {
		t.Fatalf("read %d of %d stored events: %v", len(out), n, err)
	}
	return out
}

// TestEventsStoredOnce: with two publishers on one store (two replicas,
// each with its webhook), each event of an import is stored once in the
// events stream and POSTed once in all; a subscriber that connects after
// the import finished reads its events from the stream, the finished one
// with the counts by status.
func TestEventsStoredOnce(t *testing.T) {
	b := storetest.Start(t, jobs.Config{})
	h := newHooks(t)
	wh1, wh2 := h.webhook(t), h.webhook(t)
	run(t, b, wh1)
	run(t, b, wh2)

	imp := importOf(t, b.Store, 0, 4)
	work(t, b.Store)
	waitFor(t, "the finished event recorded", func() bool { return recorded(t, b.Store, imp, contract.EventFinished) })
	h.drain(t, wh1, wh2)
	h.want(t, imp, 1)

	msgs := stored(t, b, "bulkassign.events.import."+imp.ID+".*")
	var subjects []string
	for _, m := range msgs {
		subjects = append(subjects, m.Subject())
	}
	want := []string{events.Subject(imp.ID, "started"), events.Subject(imp.ID, "finished")}
	if fmt.Sprint(subjects) != fmt.Sprint(want) {
		t.Fatalf("stored %v, want %v", subjects, want)
	}
	var ev contract.ImportEvent
	if err := json.Unmarshal(msgs[1].Data(), &ev); err != nil {
		t.Fatal(err)
	}
	counts := map[contract.Status]int{contract.StatusCreated: 3, contract.StatusFailed: 1, contract.StatusDuplicate: 1, contract.StatusInvalid: 1}
	if ev.ImportID != imp.ID || ev.Rows != 6 || fmt.Sprint(ev.Counts) != fmt.Sprint(counts) || ev.FinishedAt == nil {
		t.Fatalf("stored finished event %+v, want counts %v", ev, counts)
	}
	if id := msgs[1].Headers().Get(jetstream.MsgIDHeader); id != imp.ID+".finished" {
		t.Errorf("message id %q", id)
	}
}

// TestEventsReplicaDiedAfterPublish: a replica that published an import's
// events and died before recording them leaves them unrecorded; the
// replica that takes over publishes them again within the duplicate
// window: the stream keeps the first messages only, no webhook POST is
// sent for them again, and they are recorded.
func TestEventsReplicaDiedAfterPublish(t *testing.T) {
	b := storetest.Start(t, jobs.Config{})
	ctx := natstest.Context(t)
	if _, err := b.Store.EventsSince(ctx, time.Now()); err != nil { // as the dead replica's Run did
		t.Fatal(err)
	}
	imp := importOf(t, b.Store, 0, 2)
	work(t, b.Store)
	js, err := jetstream.New(b.Conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{contract.EventStarted, contract.EventFinished} {
		msg := &nats.Msg{Subject: jobs.EventsIntakePrefix + "import." + imp.ID + "." + ev, Data: []byte("dead replica's " + ev), Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, imp.ID+"."+ev)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}

	h := newHooks(t)
	wh := h.webhook(t)
	run(t, b, wh)
	waitFor(t, "the finished event recorded", func() bool { return recorded(t, b.Store, imp, contract.EventFinished) })
	if !recorded(t, b.Store, imp, contract.EventStarted) {
		t.Error("started event not recorded")
	}
	h.drain(t, wh)
	h.want(t, imp, 0) // the dead replica's events are not POSTed again
	msgs := stored(t, b, "bulkassign.events.import."+imp.ID+".*")
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, string(m.Data()))
	}
	if fmt.Sprint(bodies) != "[dead replica's started dead replica's finished]" {
		t.Fatalf("stored %q, want the dead replica's two events only", bodies)
	}
}

// TestEventsPublishRetried: while the events stream is missing, a publish
// fails and the event is not recorded; it is published again at the next
// checks, and once the stream is back (provisioned again) both events are
// stored once and seen live, in order.
func TestEventsPublishRetried(t *testing.T) {
	b := storetest.Start(t, jobs.Config{})
	ctx := natstest.Context(t)
	if err := b.Store.JetStream().DeleteStream(ctx, jobs.EventsStream); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Conn.SubscribeSync("bulkassign.events.>")
	if err != nil {
		t.Fatal(err)
	}
	log, logs := logFile(t)
	runConfig(t, events.Config{Store: b.Store, Conn: b.Conn, Logger: log})
	imp := importOf(t, b.Store, 0, 2)
	waitFor(t, "a failed publish", func() bool {
		return strings.Count(logs(), "announce an import started; retrying at the next check") >= 2
	})
	if recorded(t, b.Store, imp, contract.EventStarted) {
		t.Fatal("a failed started event recorded published")
	}
	work(t, b.Store)

	if _, err := jobs.Provision(ctx, b.Conn, jobs.Config{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"started", "finished"} {
		if subj, ev := next(t, sub); subj != events.Subject(imp.ID, want) || ev.Event != want {
			t.Fatalf("%s: %+v, want the %s event", subj, ev, want)
		}
	}
	waitFor(t, "the finished event recorded", func() bool { return recorded(t, b.Store, imp, contract.EventFinished) })
	if msgs := stored(t, b, "bulkassign.events.>"); len(msgs) != 2 {
		t.Fatalf("%d events stored, want 2", len(msgs))
	}
	if msg, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("an event seen live twice: %s", msg.Subject)
	}
}
