package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/events"
	"github.com/bulkassign/bulkassign/internal/natstest"
)

// TestServeEventsWebhook: serve, with the durable request stream on by
// default and a webhook from --webhook-url and --webhook-secret-file,
// announces an import created by the CLI's ingest: the finished event is
// POSTed signed with the file's secret, carrying the counts; a request on
// bulkassign.requests.> gets its receipt; the secret appears in no output.
// Without its secret file --webhook-url is a usage error.
func TestServeEventsWebhook(t *testing.T) {
	e := newE2E(t, fastSim())
	const secret = "hook-secret-5d1e"
	secretFile := filepath.Join(e.dir, "hook.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	finished := make(chan contract.ImportEvent, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev contract.ImportEvent
		if r.Header.Get(events.SignatureHeader) != events.Sign([]byte(secret), body) || json.Unmarshal(body, &ev) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if ev.Event == contract.EventFinished {
			finished <- ev
		}
	}))
	defer hook.Close()

	if code, _, errOut := e.run("serve", "--webhook-url", hook.URL); code != exitUsage || !strings.Contains(errOut, "--webhook-url and --webhook-secret-file go together") {
		t.Fatalf("--webhook-url alone: exit %d, %s", code, errOut)
	}

	url := natstest.Plain(t)
	metricsAddr := freeAddr(t)
	apiAddr := freeAddr(t)
	const apiToken = "api-token-0123456789abcdef"
	s := e.serve(url, "e2e-token", "--metrics-addr", metricsAddr, "--webhook-url", hook.URL, "--webhook-secret-file", secretFile,
		"--http-addr", apiAddr, "--api-token", apiToken)
	waitFor(t, 30*time.Second, "serve /readyz", func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	rows := genRows(11, 1, 4)
	code, out, errOut := e.run("ingest", "--nats-url", url, e.writeCSV("hooked.csv", rows))
	if code != 0 {
		t.Fatalf("ingest: exit %d\n%s\n%s", code, out, errOut)
	}
	// finishedEvent waits for the signed finished event of the import id
	// ("" for the first one).
	finishedEvent := func(id string) contract.ImportEvent {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case ev := <-finished:
				if id == "" || ev.ImportID == id {
					return ev
				}
			case <-deadline:
				t.Fatalf("no signed finished event POSTed for import %q\n%s", id, s.out.String())
			}
		}
	}
	if ev := finishedEvent(""); ev.Rows != len(rows) || ev.Counts[contract.StatusCreated] != len(rows) || ev.Name != "hooked.csv" {
		t.Fatalf("finished event %+v", ev)
	}

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := rows[0]
	body := `{"request_id":"cli-1","assignments":[{"tenant_id":"` + r.tenant + `","kind":"` + r.kind + `","policy_id":"` + r.policy +
		`","target":"` + r.target + `","group_id":"` + r.group + `","intent":"` + r.intent + `","api_version":"` + r.version + `"}]}`
	msg, err := nc.Request("bulkassign.requests.cli", []byte(body), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rc contract.Receipt
	if err := json.Unmarshal(msg.Data, &rc); err != nil || rc.ImportID == "" || rc.RequestID != "cli-1" {
		t.Fatalf("receipt %s, %v", msg.Data, err)
	}
	// Through NATS: the row is already assigned (by the ingest above).
	if ev := finishedEvent(rc.ImportID); ev.Rows != 1 || ev.Counts[contract.StatusExisting] != 1 || ev.RequestID != "cli-1" {
		t.Errorf("finished event of the NATS request: %+v", ev)
	}

	// Through HTTP: new rows, those of one policy Graph does not have.
	more := genRows(12, 1, 3)
	e.sim.SetMissingPolicy(more[2].policy)
	missing := 0
	for _, r := range more {
		if r.policy == more[2].policy {
			missing++
		}
	}
	file, err := os.ReadFile(e.writeCSV("http.csv", more))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+apiAddr+"/v1/imports?name=http.csv", bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hrc contract.Receipt
	if err := json.Unmarshal(data, &hrc); err != nil || resp.StatusCode != http.StatusAccepted || hrc.Accepted != 3 {
		t.Fatalf("POST /v1/imports: %d %s", resp.StatusCode, data)
	}
	if ev := finishedEvent(hrc.ImportID); ev.Rows != 3 || ev.Counts[contract.StatusCreated] != 3-missing || ev.Counts[contract.StatusFailed] != missing || ev.Name != "http.csv" {
		t.Errorf("finished event of the HTTP import: %+v", ev)
	}
	code, report, errOut := e.run("report", "--nats-url", url, hrc.ImportID)
	if code != 0 || strings.Count(report, ",created,") != 3-missing || strings.Count(report, ",failed,") != missing {
		t.Errorf("report of the HTTP import: exit %d\n%s\n%s", code, report, errOut)
	}
	s.stopAndWait()
	if strings.Contains(s.out.String(), secret) {
		t.Error("serve's output shows the webhook secret")
	}
}
