package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrape GETs /metrics from Handler(g) over a real loopback server.
func scrape(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	srv := httptest.NewServer(Handler(g, nil))
	defer srv.Close()
	code, _, body := get(t, srv.URL+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return body
}

// get does one GET and returns status, content type and body.
func get(t *testing.T, url, accept string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestHandler(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	m.RowFinished("t1", "deviceConfiguration", "created")

	var (
		readyErr    atomic.Pointer[error]
		sawDeadline atomic.Bool
	)
	setReady := func(err error) { readyErr.Store(&err) }
	setReady(nil)
	srv := httptest.NewServer(Handler(reg, func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		sawDeadline.Store(ok)
		return *readyErr.Load()
	}))
	defer srv.Close()

	if code, _, body := get(t, srv.URL+"/healthz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, _, body := get(t, srv.URL+"/readyz", ""); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz ready = %d %q, want 200 ready", code, body)
	}
	if !sawDeadline.Load() {
		t.Error("ready(ctx) got no deadline")
	}
	setReady(errors.New("nats: no servers available for connection"))
	code, _, body := get(t, srv.URL+"/readyz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "nats: no servers available") {
		t.Errorf("/readyz failing = %d %q, want 503 with the error", code, body)
	}
	setReady(errors.New(strings.Repeat("x", 10_000)))
	if _, _, body := get(t, srv.URL+"/readyz", ""); len(body) > 1024 {
		t.Errorf("/readyz body not bounded: %d bytes", len(body))
	}

	code, ctype, body := get(t, srv.URL+"/metrics", "")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") ||
		!strings.Contains(body, `bulkassign_rows_total{kind="deviceConfiguration",status="created",tenant="t1"} 1`) {
		t.Errorf("/metrics = %d %s:\n%s", code, ctype, body)
	}
	code, ctype, body = get(t, srv.URL+"/metrics", "application/openmetrics-text; version=1.0.0")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("/metrics OpenMetrics = %d %s, ends %q", code, ctype, body[max(0, len(body)-20):])
	}

	resp, err := http.Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
	if code, _, _ := get(t, srv.URL+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ = %d, want 404", code)
	}
}

func TestHandlerNilReady(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler(prometheus.NewRegistry(), nil))
	defer srv.Close()
	if code, _, _ := get(t, srv.URL+"/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz with nil ready = %d, want 200", code)
	}
}

func TestServeListenerStopsOnCancel(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, Handler(prometheus.NewRegistry(), nil), nil) }()

	url := "http://" + ln.Addr().String() + "/healthz"
	if code, _, _ := get(t, url, ""); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := http.Get(url); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	// Address in use: the listen error comes back at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Serve(t.Context(), ln.Addr().String(), http.NotFoundHandler(), nil); err == nil {
		t.Error("Serve on a busy address succeeded")
	}

	// A free address: serves until ctx is done, then returns nil.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", http.NotFoundHandler(), nil) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
