package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/internal/syncbuf"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/service"
	"github.com/bulkassign/bulkassign/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// token is the API token of the stacks under test.
const token = "api-test-token-7c1e9b5a"

// Body limits of the stacks under test: small, so that 413 is cheap.
const (
	testMaxCSV  = 64 << 10
	testMaxJSON = 32 << 10
)

// stack is a real service (embedded-free: an external NATS server, the
// Graph simulator over loopback) with its HTTP API on a loopback port.
type stack struct {
	t       *testing.T
	base    string // http://127.0.0.1:port
	sim     *graphtest.Server
	store   *jobs.Store
	svc     *service.Service
	log     *syncbuf.Buffer
	stop    context.CancelFunc
	done    chan struct{}
	runErr  error
	stopped atomic.Bool
}

// page is the Page handler of the stacks under test.
var page = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "<!doctype html><title>bulkassign</title>")
})

// startStack runs a service with the API on a new NATS server and
// simulator; it is stopped in t.Cleanup.
func startStack(t *testing.T) *stack {
	t.Helper()
	sim := graphtest.Start(t, graphtest.Config{Window: time.Second, AppWriteLimit: 60, TenantWriteLimit: 120, AppRequestLimit: 600, TenantRequestLimit: 1200})
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := natstest.Context(t)
	b, err := service.OpenBackend(ctx, service.BackendConfig{URL: natstest.Plain(t), Provision: true, Store: jobs.Config{AckWait: 5 * time.Second}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	client := graphtest.Client(t, sim.URL(), time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Config{
		Backend: b, Graph: client, Logger: log,
		Worker:       worker.Config{WriteLimit: 60, WriteWindow: time.Second, DiscoverInterval: 50 * time.Millisecond},
		HTTPListener: ln,
		HTTP: func(s *service.Service) (http.Handler, error) {
			return New(Config{Importer: s.Importer(), Store: b.Store, Waiting: s.Waiting, Graph: client, Token: token, Page: page,
				MaxCSVBytes: testMaxCSV, MaxJSONBytes: testMaxJSON, Logger: log})
		},
	})
	if err != nil {
		ln.Close()
		b.Close()
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	s := &stack{t: t, base: "http://" + ln.Addr().String(), sim: sim, store: b.Store, svc: svc, log: logs, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.runErr = svc.Run(runCtx)
	}()
	t.Cleanup(s.shutdown)
	waitFor(t, "the API answering", func() bool {
		code, _, _ := s.request(http.MethodGet, "/v1/imports", "", nil)
		return code == http.StatusOK
	})
	return s
}

// shutdown stops the service and waits for Run to return.
func (s *stack) shutdown() {
	s.stop()
	if s.stopped.Swap(true) {
		return
	}
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.svc.Abort()
		<-s.done
	}
	if s.runErr != nil {
		s.t.Errorf("service Run: %v", s.runErr)
	}
}

// httptestServer serves h on a loopback port until the test ends and
// returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// request sends a request with the token and returns the status, the
// headers and the body; status 0 when the server did not answer.
func (s *stack) request(method, path, ctype string, body []byte, header ...string) (int, http.Header, []byte) {
	s.t.Helper()
	h := []string{"Authorization", "Bearer " + token}
	if ctype != "" {
		h = append(h, "Content-Type", ctype)
	}
	return send(s.t, method, s.base+path, body, append(h, header...)...)
}

// send sends a request with the headers given as name, value pairs (a
// later one replacing an earlier one; an empty value removing it).
func send(t *testing.T, method, url string, body []byte, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// decode unmarshals data into v, failing the test when it is not JSON of
// that shape.
func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, data, err)
	}
}

// apiError decodes an error body.
func apiError(t *testing.T, data []byte) contract.APIErrorDetail {
	t.Helper()
	var e contract.APIError
	decode(t, data, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body %q lacks a code or a message", data)
	}
	return e.Error
}

// submit posts body as an import and returns its receipt, failing the
// test unless it is accepted.
func (s *stack) submit(query, ctype string, body []byte) contract.Receipt {
	s.t.Helper()
	code, h, data := s.request(http.MethodPost, "/v1/imports"+query, ctype, body)
	if code != http.StatusAccepted {
		s.t.Fatalf("POST /v1/imports%s: %d %s", query, code, data)
	}
	var rc contract.Receipt
	decode(s.t, data, &rc)
	if rc.ImportID == "" || h.Get("Location") != "/v1/imports/"+rc.ImportID {
		s.t.Fatalf("receipt %+v, Location %q", rc, h.Get("Location"))
	}
	return rc
}

// view returns GET /v1/imports/{id}.
func (s *stack) view(id string) contract.ImportView {
	s.t.Helper()
	code, _, data := s.request(http.MethodGet, "/v1/imports/"+id, "", nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET /v1/imports/%s: %d %s", id, code, data)
	}
	var v contract.ImportView
	decode(s.t, data, &v)
	return v
}

// waitFinished polls the import until it is finished and returns its
// view.
func (s *stack) waitFinished(id string) contract.ImportView {
	s.t.Helper()
	var v contract.ImportView
	waitFor(s.t, "import "+id+" finished", func() bool {
		v = s.view(id)
		return v.Finished
	})
	return v
}

// waitFor polls cond until it holds, failing the test after 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// row is one input row.
type row struct{ tenant, kind, policy, group string }

// id returns a GUID made of a and b.
func id(a, b int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", a, b) }

// rows returns tenants×perTenant distinct deviceConfigurations rows, on
// one policy per tenant, numbered by seed.
func rows(seed, tenants, perTenant int) []row {
	var out []row
	for t := range tenants {
		for i := range perTenant {
			out = append(out, row{tenant: id(seed, t), kind: "deviceConfigurations", policy: id(seed+1, t), group: id(seed+2, t*1000+i)})
		}
	}
	return out
}

// csvOf is the CSV of rs followed by the extra lines.
func csvOf(rs []row, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("tenant_id,kind,policy_id,target,group_id\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "%s,%s,%s,group,%s\n", r.tenant, r.kind, r.policy, r.group)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return []byte(b.String())
}

// assigned asserts that the simulator holds each row's assignment once.
func (s *stack) assigned(rs []row) {
	s.t.Helper()
	for _, r := range rs {
		n := 0
		for _, a := range s.sim.Assignments(r.tenant, r.kind, r.policy) {
			if strings.EqualFold(a.Target.GroupID, r.group) {
				n++
			}
		}
		if n != 1 {
			s.t.Errorf("%s %s: group %s assigned %d times, want 1", r.tenant, r.policy, r.group, n)
		}
	}
}
