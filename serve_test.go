package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/service"
)

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServeIngestAndSubmit runs serve against an external NATS server, then
// enqueues a CSV with ingest --wait and queue messages on bulkassign.submit:
// every row is created once, bad messages are answered with an error and
// counted, and serve stops cleanly when asked.
func TestServeIngestAndSubmit(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	url := natstest.Plain(t) // an external NATS
	metricsAddr := freeAddr(t)

	s := e.serve(url, "tok-3f9a1c-secret", "--metrics-addr", metricsAddr, "--write-limit", "60", "--write-window", "1s", "--log-level", "debug")
	serveOut := s.out
	waitFor(t, 30*time.Second, "serve /readyz", func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// A CSV through ingest --wait, processed by serve.
	rows := genRows(7, 2, 30)
	path := e.writeCSV("served.csv", rows)
	code, out, errOut := e.run("ingest", "--nats-url", url, "--wait", path)
	if code != 0 {
		t.Fatalf("ingest --wait: exit %d\n%s\n%s\nserve: %s", code, out, errOut, serveOut.String())
	}
	e.assertSimHas(rows)

	// Queue messages.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	request := func(body string) service.SubmitReply {
		t.Helper()
		msg, err := nc.Request("bulkassign.submit", []byte(body), 10*time.Second)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		var r service.SubmitReply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatalf("reply %q: %v", msg.Data, err)
		}
		return r
	}
	for _, bad := range []string{"not json", "[]", `{"kind": 5}`, `[{"tenant_id":"contoso.onmicrosoft.com","kind":"deviceConfigurations","policy_id":"../x","target":"group","group_id":"ae97ba94-d0ed-a82f-8f6d-05584ef8aa38"}]`} {
		if r := request(bad); r.Error == "" || r.ImportID != "" {
			t.Errorf("message %q: reply %+v, want an error", bad, r)
		}
	}
	queued := genRows(8, 1, 5)
	var batch []map[string]string
	for _, r := range queued {
		batch = append(batch, map[string]string{"tenant_id": r.tenant, "kind": r.kind, "policy_id": r.policy, "target": r.target, "group_id": r.group, "intent": r.intent, "api_version": r.version})
	}
	batch = append(batch, batch[0]) // a duplicate
	body, _ := json.Marshal(batch)
	reply := request(string(body))
	if reply.Error != "" || reply.ImportID == "" || reply.Rows != 6 || reply.Jobs != 5 || reply.Duplicates != 1 {
		t.Fatalf("reply %+v", reply)
	}
	var report bytes.Buffer
	waitFor(t, 30*time.Second, "queue import done", func() bool {
		report.Reset()
		code, out, _ := e.run("report", "--nats-url", url, reply.ImportID)
		report.WriteString(out)
		return code == 0 && strings.Count(out, "\n") == 7 // header + 6 rows
	})
	if got := strings.Count(report.String(), ",created,"); got != 5 {
		t.Errorf("queue import: %d created, want 5\n%s", got, report.String())
	}
	if !strings.Contains(report.String(), ",duplicate,") {
		t.Errorf("queue import: no duplicate row\n%s", report.String())
	}
	e.assertSimHas(append(rows, queued...))

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`bulkassign_malformed_messages_total{source="queue"} 4`, `bulkassign_rows_total{`, `bulkassign_graph_requests_total{`} {
		if !strings.Contains(string(exposition), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(exposition), "tok-3f9a1c-secret") || strings.Contains(string(exposition), e.sim.URL()) {
		t.Error("/metrics exposes the token or the Graph URL")
	}

	if strings.Contains(serveOut.String(), "tok-3f9a1c-secret") {
		t.Error("serve's debug log contains the token")
	}
	s.stopAndWait()
}
