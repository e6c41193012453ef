package jobs

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestStartEmbeddedRequiresDataDir(t *testing.T) {
	_, err := StartEmbedded(EmbeddedConfig{Port: -1})
	if !errors.Is(err, ErrEmbeddedStart) || !strings.Contains(err.Error(), "DataDir") {
		t.Fatalf("err = %v, want ErrEmbeddedStart about DataDir", err)
	}
}

func TestStartEmbeddedBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	var logs syncBuffer
	start := time.Now()
	e, err := StartEmbedded(EmbeddedConfig{
		DataDir: t.TempDir(), Port: port, StartTimeout: 20 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err == nil {
		e.Shutdown()
		t.Fatal("StartEmbedded on a busy port succeeded")
	}
	// We are still running (Fatalf did not exit), the error says why, and
	// it came from the server's fatal report, not from the timeout.
	if !errors.Is(err, ErrEmbeddedStart) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("err = %v, want ErrEmbeddedStart naming port %d", err, port)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failure took %s: it waited for the timeout instead of the fatal report", d)
	}
	if !strings.Contains(logs.String(), "fatal=true") {
		t.Fatalf("fatal message not logged; log:\n%s", logs.String())
	}
}

func TestEmbeddedShutdownTwice(t *testing.T) {
	e, err := StartEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q", e.ClientURL())
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(e.Shutdown)
	}
	wg.Wait()
	e.Shutdown()
	if e.Server().Running() {
		t.Fatal("server still running after Shutdown")
	}
	if _, err := nats.Connect(e.ClientURL(), nats.NoReconnect()); err == nil {
		t.Fatal("connected to a server that was shut down")
	}
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)

	e1, err := StartEmbedded(EmbeddedConfig{DataDir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	nc1, err := nats.Connect(e1.ClientURL())
	if err != nil {
		e1.Shutdown()
		t.Fatal(err)
	}
	s1, err := Open(ctx, nc1, Config{})
	if err == nil {
		p := s1.NewPublisher(16)
		for i := range 50 {
			if err = p.Publish(ctx, testJob("contoso.onmicrosoft.com", "imp1", i+2, i)); err != nil {
				break
			}
		}
		if err == nil {
			_, err = p.Flush(ctx)
		}
		if err == nil {
			err = s1.PutOutcome(ctx, "k1", Outcome{Status: StatusCreated, AssignmentID: "a1"})
		}
	}
	nc1.Close()
	e1.Shutdown()
	if err != nil {
		t.Fatal(err)
	}

	e2 := startServer(t, dir)
	s2, err := Open(ctx, connect(t, e2), Config{})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s2.PendingTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := pending["contoso.onmicrosoft.com"]; got != 50 {
		t.Fatalf("after restart: %d jobs pending, want 50 (%v)", got, pending)
	}
	o, ok, err := s2.Outcome(ctx, "k1")
	if err != nil || !ok || o.AssignmentID != "a1" {
		t.Fatalf("after restart: outcome = %+v, %v, %v", o, ok, err)
	}
}

func TestServerLoggerLevels(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *serverLogger)
		want string
	}{
		{"notice", func(l *serverLogger) { l.Noticef("n %d", 1) }, "level=INFO msg=\"n 1\""},
		{"warn", func(l *serverLogger) { l.Warnf("w %d", 2) }, "level=WARN msg=\"w 2\""},
		{"error", func(l *serverLogger) { l.Errorf("e %d", 3) }, "level=ERROR msg=\"e 3\""},
		{"debug", func(l *serverLogger) { l.Debugf("d %d", 4) }, "level=DEBUG msg=\"d 4\""},
		{"trace", func(l *serverLogger) { l.Tracef("t %d", 5) }, "level=DEBUG-4 msg=\"t 5\""},
		{"fatal", func(l *serverLogger) { l.Fatalf("f %d", 6) }, "level=ERROR msg=\"f 6\" component=nats-server fatal=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: levelTrace})))
			tt.log(l)
			if !strings.Contains(buf.String(), tt.want) {
				t.Fatalf("log = %q, want it to contain %q", buf.String(), tt.want)
			}
		})
	}
	l := newServerLogger(slog.New(slog.DiscardHandler))
	l.Fatalf("first")
	l.Fatalf("second")
	if l.fatal() != "first" {
		t.Fatalf("fatal() = %q, want the first fatal message", l.fatal())
	}
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestEmbeddedDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir)
	_, err := StartEmbedded(EmbeddedConfig{DataDir: dir, Port: -1})
	if !errors.Is(err, ErrDataDirLocked) || !errors.Is(err, ErrEmbeddedStart) {
		t.Fatalf("second server on one DataDir: %v, want ErrDataDirLocked", err)
	}
	// The first is unharmed; after it stops the directory is free again.
	nc := connect(t, first)
	if _, err := Open(testCtx(t), nc, Config{}); err != nil {
		t.Fatalf("first server after the refused second: %v", err)
	}
	nc.Close()
	first.Shutdown()
	second := startServer(t, dir)
	second.Shutdown()
}
