package events_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/events"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
)

// logFile returns a logger writing to a file of the test's (writes to a
// file are safe from many goroutines) and a function returning what it
// holds.
func logFile(t *testing.T) (*slog.Logger, func() string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})), func() string {
		data, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
}

// TestWebhook: every event is POSTed as its JSON with an HMAC-SHA256
// signature the receiver can check with the secret; a 500 is retried
// (after a backoff) and the event delivered; the secret appears in no
// log.
func TestWebhook(t *testing.T) {
	const secret = "s3cr3t-webhook-key"
	type post struct {
		event string
		body  []byte
		ok    bool // the signature checks out
	}
	var (
		mu    sync.Mutex
		posts []post
	)
	got := make(chan post, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		p := post{event: r.Header.Get(events.EventHeader), body: body,
			ok: hmac.Equal([]byte(r.Header.Get(events.SignatureHeader)), []byte(want)) && r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/json"}
		mu.Lock()
		posts = append(posts, p)
		first := len(posts) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError) // the first POST fails
			return
		}
		got <- p
	}))
	defer srv.Close()

	log, logs := logFile(t)
	wh, err := events.NewWebhook(events.WebhookConfig{URL: srv.URL + "/hook", Secret: []byte(secret), BaseDelay: 20 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b := storetest.Start(t, jobs.Config{})
	run(t, b, wh)
	imp := importOf(t, b.Store, 0, 2)
	work(t, b.Store)

	for _, want := range []string{"started", "finished"} {
		var p post
		select {
		case p = <-got:
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s POST", want)
		}
		var ev contract.ImportEvent
		if err := json.Unmarshal(p.body, &ev); err != nil || ev.Event != want || ev.ImportID != imp.ID || !p.ok || p.event != want {
			t.Fatalf("POST %s %s (signature ok %v): %+v, %v", p.event, p.body, p.ok, ev, err)
		}
		if want == "finished" && ev.Counts[contract.StatusCreated] != 1 {
			t.Errorf("finished counts %v", ev.Counts)
		}
	}
	mu.Lock()
	n, firstOK := len(posts), posts[0].ok
	retried := bytes.Equal(posts[0].body, posts[1].body)
	mu.Unlock()
	if n != 3 || !firstOK || !retried {
		t.Errorf("%d POSTs (first signed %v, retried as is %v), want the started event twice (a 500, then 200) and the finished once", n, firstOK, retried)
	}
	if l := logs(); !strings.Contains(l, "webhook: POST failed; retrying") || strings.Contains(l, secret) {
		t.Errorf("log (retry logged, no secret):\n%s", l)
	}
}

// TestWebhookNeverBlocks: Send returns at once even when nothing sends
// (Run not started) and the queue is full: the event is dropped and
// logged.
func TestWebhookNeverBlocks(t *testing.T) {
	log, logs := logFile(t)
	wh, err := events.NewWebhook(events.WebhookConfig{URL: "http://127.0.0.1:1/hook", Secret: []byte("k"), Queue: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []bool, 1)
	go func() { done <- []bool{wh.Send("started", nil), wh.Send("started", nil), wh.Send("finished", nil)} }()
	select {
	case sent := <-done:
		if !sent[0] || !sent[1] || sent[2] {
			t.Fatalf("sent %v, want the third dropped", sent)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked")
	}
	if l := logs(); !strings.Contains(l, "webhook queue full; event dropped") {
		t.Errorf("log %s", l)
	}
	if _, err := events.NewWebhook(events.WebhookConfig{URL: "ftp://x", Secret: []byte("k")}); err == nil {
		t.Error("an ftp URL accepted")
	}
	if _, err := events.NewWebhook(events.WebhookConfig{URL: "https://user:pw@example.com/h"}); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("no secret: %v", err)
	}
}
