package jobs

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEventsStream: Provision creates the events stream with its
// duplicate window and max age; an event published twice with one message
// id to the intake subject is stored once under the public subject and
// seen once there live (republished); recording an event is idempotent.
func TestEventsStream(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	st, err := b.store.js.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.Duplicates != 10*time.Minute || c.MaxAge != 7*24*time.Hour ||
		c.Retention != jetstream.LimitsPolicy || c.Storage != jetstream.FileStorage {
		t.Fatalf("events stream config %+v", c)
	}
	live, err := b.nc.SubscribeSync(EventsSubjectPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261130T020000-3fa9c2"
	for i := range 2 {
		msg := &nats.Msg{Subject: EventsIntakePrefix + "import." + id + ".started", Data: []byte{byte('a' + i)}, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, id+".started")
		ack, err := b.store.js.PublishMsg(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate != (i == 1) || ack.Stream != EventsStream {
			t.Fatalf("publish %d: ack %+v", i, ack)
		}
	}
	m, err := st.GetLastMsgForSubject(ctx, EventsSubjectPrefix+"import."+id+".started")
	if err != nil || string(m.Data) != "a" || m.Sequence != 1 {
		t.Fatalf("stored %+v, %v; want the first publish only", m, err)
	}
	if msg, err := live.NextMsg(10 * time.Second); err != nil || msg.Subject != EventsSubjectPrefix+"import."+id+".started" || string(msg.Data) != "a" {
		t.Fatalf("live %+v, %v", msg, err)
	}
	if msg, err := live.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("the duplicate seen live: %s %q", msg.Subject, msg.Data)
	}

	if done, err := b.store.EventRecorded(ctx, id, "started"); err != nil || done {
		t.Fatalf("recorded before RecordEvent: %v %v", done, err)
	}
	for range 2 {
		if err := b.store.RecordEvent(ctx, id, "started"); err != nil {
			t.Fatal(err)
		}
	}
	if done, err := b.store.EventRecorded(ctx, id, "started"); err != nil || !done {
		t.Fatalf("recorded after RecordEvent: %v %v", done, err)
	}
	if _, err := b.store.EventRecorded(ctx, "../x", "started"); err == nil {
		t.Error("an invalid import id accepted")
	}
}
