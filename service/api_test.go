package service

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/jobs"
)

// TestAPIStopsTakingRequestsAtDrain: the HTTP API server serves the
// handler Config.HTTP builds from the service; at the stop it takes no new
// connection while a request in flight still runs, lets that request
// finish with its answer, and only then does Run go on and return.
func TestAPIStopsTakingRequestsAtDrain(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	ctx := natstest.Context(t)
	b, err := OpenBackend(ctx, BackendConfig{URL: natstest.Plain(t), Provision: true, Store: jobs.Config{AckWait: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	client := graphtest.Client(t, sim.URL(), 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	var built *Service
	svc, err := New(Config{Backend: b, Graph: client, HTTPListener: ln, HTTP: func(s *Service) (http.Handler, error) {
		built = s
		mux := http.NewServeMux()
		mux.HandleFunc("GET /fast", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fast") })
		mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
			close(started)
			<-release
			_, _ = io.WriteString(w, "slow")
		})
		return mux, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if built != svc {
		t.Fatal("Config.HTTP was not given the service")
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		svc.Abort()
	})

	base := "http://" + ln.Addr().String()
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := fresh.Get(base + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitFor(t, "the API answering", func() bool { code, _ := get("/fast"); return code == http.StatusOK })

	type answer struct {
		code int
		body string
	}
	slow := make(chan answer, 1)
	go func() {
		code, body := get("/slow")
		slow <- answer{code, body}
	}()
	<-started
	stop()
	waitFor(t, "the API refusing new connections", func() bool { code, _ := get("/fast"); return code == 0 })
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if a := <-slow; a.code != http.StatusOK || a.body != "slow" {
		t.Errorf("the request in flight at the stop got %d %q, want 200 slow", a.code, a.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestHTTPListenerWithoutHandler: a listener without a handler is a
// configuration error.
func TestHTTPListenerWithoutHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := New(Config{HTTPListener: ln}); err == nil {
		t.Error("New accepted an HTTP listener without a handler")
	}
}
