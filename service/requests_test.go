package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker"
)

const requestsSubject = "bulkassign.requests.>"

// withRequests turns the durable intake on, with a short ack wait, and
// applies more (when not nil).
func withRequests(more func(*Config)) func(*Config) {
	return func(c *Config) {
		c.RequestsSubject = requestsSubject
		c.Intake.AckWait = 2 * time.Second
		if more != nil {
			more(c)
		}
	}
}

// request1 is a request of the assignments of groups from..from+n-1 with
// the envelope fields head (e.g. `"request_id":"r1",`).
func request1(head string, from, n int) string {
	elems := make([]string, n)
	for i := range n {
		elems[i] = message(from + i)
	}
	return `{` + head + `"assignments":[` + strings.Join(elems, ",") + `]}`
}

// receiptOf decodes a receipt.
func receiptOf(t *testing.T, data []byte) contract.Receipt {
	t.Helper()
	var rc contract.Receipt
	if err := json.Unmarshal(data, &rc); err != nil {
		t.Fatalf("receipt %q: %v", data, err)
	}
	return rc
}

// nextReceipt waits for the next receipt on sub.
func nextReceipt(t *testing.T, sub *nats.Subscription) contract.Receipt {
	t.Helper()
	msg, err := sub.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no receipt on %s: %v", sub.Subject, err)
	}
	return receiptOf(t, msg.Data)
}

// finished waits until import id has a result for each of its rows and
// returns its counts.
func (r *replica) finished(id string) map[contract.Status]int {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	im := r.svc.Importer()
	imp, err := r.svc.backend.Store.Import(ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := im.Wait(ctx, imp, nil); err != nil {
		r.t.Fatal(err)
	}
	p, err := im.Progress(ctx, imp)
	if err != nil {
		r.t.Fatal(err)
	}
	return p.Counts
}

// metric reports whether the replica's /metrics has the line.
func (r *replica) metric(line string) bool {
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), "\n"+line+"\n")
}

// assignedOnce fails unless every group from..from+n-1 is assigned exactly
// once.
func assignedOnce(t *testing.T, sim *graphtest.Server, from, n int) {
	t.Helper()
	count := map[string]int{}
	for _, a := range sim.Assignments("contoso.onmicrosoft.com", "deviceConfigurations", "6b0d549b-6f03-675a-1600-a35a099950d8") {
		count[strings.ToLower(a.Target.GroupID)]++
	}
	for i := from; i < from+n; i++ {
		if g := fmt.Sprintf("aaaaaaaa-bbbb-cccc-dddd-%012x", i); count[g] != 1 {
			t.Errorf("group %s assigned %d times, want 1", g, count[g])
		}
	}
}

// streamMsgs returns the messages stored in a stream.
func streamMsgs(t *testing.T, nc *nats.Conn, name string) uint64 {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(natstest.Context(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(natstest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestRequestWaitsForServe (done-when 1): a request published while no
// serve runs waits in the stream, and becomes an import once one starts;
// its receipt is published on bulkassign.receipts.<request_id>.
func TestRequestWaitsForServe(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	url := natstest.Plain(t)
	nc := connect(t, url)
	first := startReplicaWith(t, url, sim, worker.Config{}, withRequests(nil)) // provisions the stream
	first.stop()
	<-first.done

	receipts, err := nc.SubscribeSync("bulkassign.receipts.nightly-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("bulkassign.requests.nightly", []byte(request1(`"request_id":"nightly-1","name":"nightly",`, 0, 3))); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request stored", func() bool { return streamMsgs(t, nc, jobs.RequestsStream) == 1 })

	b := startReplicaWith(t, url, sim, worker.Config{}, withRequests(nil))
	rc := nextReceipt(t, receipts)
	if rc.ImportID == "" || rc.RequestID != "nightly-1" || rc.Accepted != 3 || rc.Error != "" || len(rc.Rejected) != 0 {
		t.Fatalf("receipt %+v", rc)
	}
	if c := b.finished(rc.ImportID); c[contract.StatusCreated] != 3 {
		t.Fatalf("counts %v", c)
	}
	assignedOnce(t, sim, 0, 3)
	waitFor(t, "the request acknowledged", func() bool { return streamMsgs(t, nc, jobs.RequestsStream) == 0 })
}

// ask sends a request with a reply subject (nats req) and returns the
// receipt.
func ask(t *testing.T, nc *nats.Conn, subject, body string) contract.Receipt {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 30*time.Second)
	if err != nil {
		t.Fatalf("request on %s (%.100s): %v", subject, body, err)
	}
	return receiptOf(t, msg.Data)
}

// TestRequestBadInput (done-when 3): every bad request sent with a reply
// subject gets its specific error in plain words (element index and
// column where one is at fault), a copy in the dead-letter stream with the
// reason in a header, and is counted; the service keeps serving, and a
// request sent with a reply subject gets its receipt (not JetStream's
// publish acknowledgement). A publish over the server's max payload fails
// at the sender with a clear error.
func TestRequestBadInput(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	url := natstest.Plain(t)
	nc := connect(t, url)
	a := startReplicaWith(t, url, sim, worker.Config{}, withRequests(func(c *Config) { c.RequestMaxBytes = 512 << 10 }))
	oversize := request1(`"request_id":"big",`, 0, 3000) // about 600 KB
	hundredK := `{"request_id":"many","assignments":[` + strings.Repeat(`{},`, 99_999) + `{}]}`
	tests := []struct {
		name      string
		body      string
		err       string // the receipt's error starts with it
		rejection *contract.Rejection
	}{
		{"malformed JSON", `{"request_id":"m1","assignments":[` + message(1) + `,{"kind":"x",]}`,
			"assignments[1]: not valid JSON at byte ", &contract.Rejection{Index: 1}},
		{"wrong type in the envelope", `{"request_id":"m2","skip_invalid":"yes","assignments":[` + message(1) + `]}`,
			"field skip_invalid: want true or false, got text", nil},
		{"wrong type in an assignment", `{"request_id":"m3","assignments":[` + message(1) + `,{"tenant_id":42}]}`,
			"1 of 2 assignments invalid; nothing enqueued", &contract.Rejection{Index: 1, Column: contract.ColTenant, Reason: "want text (a JSON string), got a number"}},
		{"unknown envelope field", `{"request_id":"m4","priority":1,"assignments":[` + message(1) + `]}`,
			"field priority: unknown field; a request's fields are request_id, name, tenant_id, skip_invalid, part, parts, assignments", nil},
		{"unknown column", `{"request_id":"m5","assignments":[` + strings.Replace(message(1), `"kind"`, `"colour":"red","kind"`, 1) + `]}`,
			"1 of 1 assignments invalid; nothing enqueued", &contract.Rejection{Index: 0, Column: "colour"}},
		{"oversize", oversize, "the request is ", nil},
		{"100,000 elements", hundredK, "field assignments: more than 10000 assignments; at most 10000 per message", nil},
		{"injection in request_id", `{"request_id":"x\" or 1 eq 1","assignments":[` + message(1) + `]}`,
			`field request_id: "x\" or 1 eq 1": use 1 to 64 letters, digits, '-' and '_'`, nil},
		{"injection in a group id", `{"request_id":"m6","assignments":[` + strings.Replace(message(1), "aaaaaaaa-bbbb-cccc-dddd-000000000001", `x') or startswith(id,'a`, 1) + `]}`,
			"1 of 1 assignments invalid; nothing enqueued", &contract.Rejection{Index: 0, Column: contract.ColGroup}},
		{"filter fragment in a policy id", `{"request_id":"m7","assignments":[` + strings.Replace(message(1), "6b0d549b-6f03-675a-1600-a35a099950d8", `6b0d549b?$filter=id ne ''`, 1) + `]}`,
			"1 of 1 assignments invalid; nothing enqueued", &contract.Rejection{Index: 0, Column: contract.ColPolicy}},
		{"control character in a tenant", `{"request_id":"m8","assignments":[` + strings.Replace(message(1), "contoso.onmicrosoft.com", `contoso\n.com`, 1) + `]}`,
			"1 of 1 assignments invalid; nothing enqueued", &contract.Rejection{Index: 0, Column: contract.ColTenant}},
		{"not an object", `"hello"`, `want a JSON object: a request with "assignments", or one assignment`, nil},
	}
	for i, tt := range tests {
		start := time.Now()
		rc := ask(t, nc, "bulkassign.requests.test", tt.body)
		if rc.ImportID != "" || !strings.HasPrefix(rc.Error, tt.err) {
			t.Errorf("%s: receipt %+v, want error %q", tt.name, rc, tt.err)
		}
		for _, goName := range []string{"Go struct", "Go value", "of type", "json:", "rawRow"} {
			if strings.Contains(rc.Error, goName) || (len(rc.Rejected) > 0 && strings.Contains(rc.Rejected[0].Reason, goName)) {
				t.Errorf("%s: %+v names Go internals", tt.name, rc)
			}
		}
		if w := tt.rejection; w != nil {
			if len(rc.Rejected) != 1 || rc.Rejected[0].Index != w.Index || rc.Rejected[0].Column != w.Column ||
				(w.Reason != "" && rc.Rejected[0].Reason != w.Reason) || rc.Rejected[0].Reason == "" {
				t.Errorf("%s: rejected %+v, want %+v", tt.name, rc.Rejected, *w)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered in %s", tt.name, d)
		}
		n := i + 1
		waitFor(t, fmt.Sprintf("%d dead letters", n), func() bool { return streamMsgs(t, nc, jobs.DeadLetterStream) == uint64(n) })
		if tt.name == "wrong type in an assignment" {
			if got := lastDead(t, nc).Header.Get(jobs.DeadReasonHeader); got != rc.Error+"; assignments[1], field tenant_id: want text (a JSON string), got a number" {
				t.Errorf("dead letter reason %q", got)
			}
		}
		if !a.metric(fmt.Sprintf(`bulkassign_malformed_messages_total{source="queue"} %d`, n)) {
			t.Errorf("%s: the counter is not %d", tt.name, n)
		}
	}
	dead := lastDead(t, nc)
	if got := dead.Header.Get(jobs.DeadReasonHeader); got != tests[len(tests)-1].err || string(dead.Data) != `"hello"` ||
		dead.Header.Get(jobs.DeadSubjectHeader) != "bulkassign.requests.test" {
		t.Errorf("dead letter %q, headers %v", dead.Data, dead.Header)
	}

	// The service keeps serving: a valid request, with and without a
	// request_id, gets its import.
	if rc := ask(t, nc, "bulkassign.requests.test", request1(`"request_id":"ok-1",`, 10, 2)); rc.ImportID == "" || rc.Accepted != 2 {
		t.Fatalf("valid request after the bad ones: %+v", rc)
	}
	rc := ask(t, nc, "bulkassign.requests.test", message(12))
	if rc.ImportID == "" || rc.Accepted != 1 || rc.RequestID != "" {
		t.Fatalf("bare assignment: %+v", rc)
	}
	if again := ask(t, nc, "bulkassign.requests.other", message(12)); again.ImportID == "" || again.ImportID == rc.ImportID {
		t.Fatalf("the same bare assignment again is a new message, so a new import: %+v after %+v", again, rc)
	}

	// Over the server's max payload (1 MB here), nats.go refuses the
	// publish itself.
	huge := make([]byte, nc.MaxPayload()+1)
	if err := nc.Publish("bulkassign.requests.test", huge); !errors.Is(err, nats.ErrMaxPayload) || !strings.Contains(err.Error(), "maximum payload exceeded") {
		t.Errorf("oversized publish: %v, want nats.ErrMaxPayload", err)
	}
}

// TestRequestInParts: a request in three parts (sent in any order, one of
// them twice) is one import of every part's assignments, numbered across
// the parts; each part is acknowledged with the parts received so far, and
// the last with the import.
func TestRequestInParts(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	url := natstest.Plain(t)
	nc := connect(t, url)
	a := startReplicaWith(t, url, sim, worker.Config{}, withRequests(nil))
	part := func(n, from int) string {
		return request1(fmt.Sprintf(`"request_id":"big-7","name":"big","part":%d,"parts":3,`, n), from, 4)
	}
	published, err := nc.SubscribeSync("bulkassign.receipts.big-7")
	if err != nil {
		t.Fatal(err)
	}
	if rc := ask(t, nc, "bulkassign.requests.big", part(3, 8)); rc.ImportID != "" || rc.Parts != 3 || rc.PartsReceived != 1 || rc.Error != "" {
		t.Fatalf("part 3: %+v", rc)
	}
	if rc := ask(t, nc, "bulkassign.requests.big", part(1, 0)); rc.ImportID != "" || rc.PartsReceived != 2 {
		t.Fatalf("part 1: %+v", rc)
	}
	bad := strings.Replace(part(2, 4), "aaaaaaaa-bbbb-cccc-dddd-000000000005", "nope", 1)
	if rc := ask(t, nc, "bulkassign.requests.big", bad); rc.Error != "1 of 4 assignments invalid; nothing enqueued" ||
		len(rc.Rejected) != 1 || rc.Rejected[0].Index != 1 || rc.Rejected[0].Column != contract.ColGroup {
		t.Fatalf("a bad part 2 is refused at once: %+v", rc)
	}
	rc := ask(t, nc, "bulkassign.requests.big", part(2, 4))
	if rc.ImportID == "" || rc.Accepted != 12 || rc.PartsReceived != 3 || rc.RequestID != "big-7" {
		t.Fatalf("last part: %+v", rc)
	}
	for range 4 { // every receipt so far is published too
		if got := nextReceipt(t, published); got.RequestID != "big-7" {
			t.Fatalf("published receipt %+v", got)
		}
	}
	// Sent again (without a reply subject: one sent with one this soon
	// after the same message may be answered with the first's receipt).
	if err := nc.Publish("bulkassign.requests.big", []byte(part(1, 0))); err != nil {
		t.Fatal(err)
	}
	if again := nextReceipt(t, published); again.ImportID != rc.ImportID || again.PartsReceived != 3 {
		t.Fatalf("part 1 again: %+v, want import %s", again, rc.ImportID)
	}
	if c := a.finished(rc.ImportID); c[contract.StatusCreated] != 12 {
		t.Fatalf("counts %v", c)
	}
	imps, err := a.svc.backend.Store.Imports(natstest.Context(t))
	if err != nil || len(imps) != 1 || imps[0].Name != "big" || imps[0].RowSet.Format(0) != "1-12" {
		t.Fatalf("imports %+v, %v", imps, err)
	}
	results, err := a.svc.backend.Store.Results(natstest.Context(t), rc.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		// Part 1 holds groups 0-3 (rows 1-4), part 2 groups 4-7, part 3 groups 8-11.
		if want := fmt.Sprintf("aaaaaaaa-bbbb-cccc-dddd-%012x", r.Row-1); r.GroupID != want {
			t.Errorf("row %d: group %s, want %s", r.Row, r.GroupID, want)
		}
	}
	assignedOnce(t, sim, 0, 12)
	if kept, err := a.svc.backend.Store.Parts(natstest.Context(t), "big-7"); err != nil || len(kept) != 0 {
		t.Errorf("parts kept after the import: %d, %v", len(kept), err)
	}
}

// TestRequestReplicaKilled (done-when 1): two replicas share the
// requests; the one enqueueing a request is killed (Abort) half way, and
// the other, given it again after the ack wait, finishes the same import:
// exactly one import, every row written once.
func TestRequestReplicaKilled(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{Window: time.Second, AppWriteLimit: 5000, TenantWriteLimit: 5000})
	url := natstest.Plain(t)
	nc := connect(t, url)
	const rows = 1000
	fast := worker.Config{WriteLimit: 5000, WriteWindow: time.Second}
	// One row per checkpoint, one publish at a time: slow enough to kill
	// it half way.
	a := startReplicaWith(t, url, sim, fast, withRequests(func(c *Config) {
		c.Imports.Checkpoint, c.Imports.MaxInFlight = 1, 1
	}))
	receipts, err := nc.SubscribeSync("bulkassign.receipts.kill-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("bulkassign.requests.kill", []byte(request1(`"request_id":"kill-1",`, 0, rows))); err != nil {
		t.Fatal(err)
	}
	store := a.svc.backend.Store
	var first jobs.Import
	waitFor(t, "the enqueue half way", func() bool {
		imps, err := store.Imports(natstest.Context(t))
		if err != nil || len(imps) != 1 {
			return false
		}
		first = imps[0]
		return first.Emitted >= 50
	})
	b := startReplicaWith(t, url, sim, fast, withRequests(nil))
	a.svc.Abort()
	<-a.done
	if first.Enqueued || first.Emitted >= rows {
		t.Fatalf("the import was enqueued before the kill: %+v", first)
	}
	rc := nextReceipt(t, receipts)
	if rc.ImportID != first.ID || rc.Accepted != rows {
		t.Fatalf("receipt %+v, want import %s with %d rows", rc, first.ID, rows)
	}
	if c := b.finished(first.ID); c[contract.StatusCreated] != rows {
		t.Fatalf("counts %v", c)
	}
	imps, err := b.svc.backend.Store.Imports(natstest.Context(t))
	if err != nil || len(imps) != 1 {
		t.Fatalf("imports %+v, %v; want exactly one", imps, err)
	}
	results, err := b.svc.backend.Store.Results(natstest.Context(t), first.ID)
	if err != nil || len(results) != rows {
		t.Fatalf("%d results, %v; want one per row", len(results), err)
	}
	assignedOnce(t, sim, 0, rows)
}

// TestRequestFinishedEvent (done-when 2): an import through the queue
// finishes with a correct report and a finished event carrying its counts
// by status, its request_id and its duration.
func TestRequestFinishedEvent(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	url := natstest.Plain(t)
	nc := connect(t, url)
	a := startReplicaWith(t, url, sim, worker.Config{}, withRequests(func(c *Config) {
		c.Events, c.EventInterval = true, 50*time.Millisecond
	}))
	finished, err := nc.SubscribeSync("bulkassign.events.import.*.finished")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"request_id":"ev-1","skip_invalid":true,"assignments":[` + message(0) + "," + message(1) + "," + message(2) + "," + message(0) + "," +
		strings.Replace(message(3), "aaaaaaaa-bbbb", "bad", 1) + `]}`
	rc := ask(t, nc, "bulkassign.requests.ev", body)
	if rc.ImportID == "" || rc.Accepted != 3 || rc.Duplicates != 1 || len(rc.Rejected) != 1 || rc.Rejected[0].Index != 4 {
		t.Fatalf("receipt %+v", rc)
	}
	msg, err := finished.NextMsg(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ev contract.ImportEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	want := map[contract.Status]int{contract.StatusCreated: 3, contract.StatusDuplicate: 1, contract.StatusInvalid: 1}
	if msg.Subject != "bulkassign.events.import."+rc.ImportID+".finished" || ev.ImportID != rc.ImportID || ev.RequestID != "ev-1" ||
		ev.Rows != 5 || fmt.Sprint(ev.Counts) != fmt.Sprint(want) || ev.FinishedAt == nil || ev.DurationSeconds < 0 {
		t.Fatalf("%s: %+v, want counts %v", msg.Subject, ev, want)
	}
	if c := a.finished(rc.ImportID); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("report counts %v, event %v", c, ev.Counts)
	}
	assignedOnce(t, sim, 0, 3)
}

// TestReadmeExamples: the nats pub and nats req lines of README's
// "Durable requests" work verbatim: each req gets a receipt naming its
// import, each pub's receipt comes on bulkassign.receipts.<request_id>.
func TestReadmeExamples(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "### Durable requests")
	section, _, _ = strings.Cut(section, "\n### ")
	if !ok {
		t.Fatal("README has no Durable requests section")
	}
	type example struct{ verb, subject, body string }
	var examples []example
	for line := range strings.SplitSeq(section, "\n") {
		head, rest, quoted := strings.Cut(line, " '")
		fields := strings.Fields(head)
		if !quoted || len(fields) < 3 || fields[0] != "nats" || (fields[1] != "req" && fields[1] != "pub") {
			continue
		}
		var args []string
		for i := 2; i < len(fields); i++ {
			if strings.HasPrefix(fields[i], "--") {
				i++ // the flag's value
				continue
			}
			args = append(args, fields[i])
		}
		if len(args) != 1 || !strings.HasSuffix(rest, "'") {
			t.Fatalf("README line not understood: %s", line)
		}
		examples = append(examples, example{fields[1], args[0], strings.TrimSuffix(rest, "'")})
	}
	if len(examples) != 3 {
		t.Fatalf("%d nats req/pub examples in README, want 3: %+v", len(examples), examples)
	}
	sim := graphtest.Start(t, graphtest.Config{})
	url := natstest.Plain(t)
	nc := connect(t, url)
	startReplicaWith(t, url, sim, worker.Config{}, withRequests(nil))
	for _, ex := range examples {
		var rc contract.Receipt
		switch ex.verb {
		case "req":
			rc = ask(t, nc, ex.subject, ex.body)
		case "pub":
			var head struct {
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(ex.body), &head); err != nil || head.RequestID == "" {
				t.Fatalf("README pub example without request_id: %s", ex.body)
			}
			sub, err := nc.SubscribeSync(contract.ReceiptSubjectPrefix + head.RequestID)
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish(ex.subject, []byte(ex.body)); err != nil {
				t.Fatal(err)
			}
			rc = nextReceipt(t, sub)
		}
		if rc.ImportID == "" || rc.Error != "" || rc.Accepted != 1 {
			t.Errorf("nats %s %s: receipt %+v", ex.verb, ex.subject, rc)
		}
	}
}

// lastDead returns the last dead letter of a request on
// bulkassign.requests.test.
func lastDead(t *testing.T, nc *nats.Conn) *jetstream.RawStreamMsg {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := js.Stream(natstest.Context(t), jobs.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := ds.GetLastMsgForSubject(natstest.Context(t), "bulkassign.deadletter.requests.test")
	if err != nil {
		t.Fatal(err)
	}
	return dead
}

// TestSubmitPlainWords: the replies of bulkassign.submit (unchanged
// otherwise) say what is wrong in plain words, naming the column, never
// Go's types.
func TestSubmitPlainWords(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	url := natstest.Plain(t)
	nc := connect(t, url)
	startReplica(t, url, sim, worker.Config{})
	r := request(t, nc, `[`+message(1)+`,{"tenant_id":5,"kind":"deviceConfigurations"}]`)
	if r.ImportID != "" || len(r.Errors) != 1 || r.Errors[0].Row != 2 || r.Errors[0].Column != contract.ColTenant ||
		r.Errors[0].Reason != "want text (a JSON string), got a number" {
		t.Fatalf("reply %+v", r)
	}
	r = request(t, nc, `[{"kind":"x"},`)
	if r.Error == "" || strings.Contains(r.Error, "json:") || strings.Contains(r.Error, "Go ") {
		t.Fatalf("reply %+v", r)
	}
}
