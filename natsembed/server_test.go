package natsembed_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/internal/syncbuf"
	"github.com/bulkassign/bulkassign/natsembed"
)

func TestStartRequiresDataDir(t *testing.T) {
	_, err := natsembed.Start(natsembed.Config{})
	if !errors.Is(err, natsembed.ErrStart) || !strings.Contains(err.Error(), "DataDir") {
		t.Fatalf("err = %v, want ErrStart about DataDir", err)
	}
}

func TestStartBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	var logs syncbuf.Buffer
	start := time.Now()
	dir := t.TempDir()
	s, err := natsembed.Start(natsembed.Config{
		DataDir: dir, Port: port, StartTimeout: 20 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err == nil {
		s.Shutdown()
		t.Fatal("Start on a busy port succeeded")
	}
	// We are still running (Fatalf did not exit), the error says why, and
	// it came from the server's fatal report, not from the timeout.
	if !errors.Is(err, natsembed.ErrStart) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("err = %v, want ErrStart naming port %d", err, port)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failure took %s: it waited for the timeout instead of the fatal report", d)
	}
	if !strings.Contains(logs.String(), "fatal=true") {
		t.Fatalf("fatal message not logged; log:\n%s", logs.String())
	}
	// The failed start released the directory and left no owner behind.
	if _, err := natsembed.ReadOwner(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("owner file after a failed start: %v", err)
	}
	natstest.Embedded(t, natsembed.Config{DataDir: dir})
}

func TestShutdownTwice(t *testing.T) {
	dir := t.TempDir()
	s, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q", s.ClientURL())
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(s.Shutdown)
	}
	wg.Wait()
	s.Shutdown()
	if s.Server().Running() {
		t.Fatal("server still running after Shutdown")
	}
	if _, err := natsembed.Connect(dir, s.ClientURL(), nats.NoReconnect()); err == nil {
		t.Fatal("connected to a server that was shut down")
	}
	if _, err := natsembed.ReadOwner(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("owner file after Shutdown: %v, want it removed", err)
	}
}

// TestRandomPortsAndOwnerFile: by default two directories get two servers
// on two random ports, each recorded with its id in its owner file.
func TestRandomPortsAndOwnerFile(t *testing.T) {
	a := natstest.Embedded(t, natsembed.Config{Command: "bulkassign test"})
	b := natstest.Embedded(t, natsembed.Config{})
	if a.ClientURL() == b.ClientURL() {
		t.Fatalf("two servers on one URL %s", a.ClientURL())
	}
	for _, s := range []*natsembed.Server{a, b} {
		if p := s.Server().Addr().(*net.TCPAddr).Port; p == 4222 || !strings.HasSuffix(s.ClientURL(), ":"+strconv.Itoa(p)) {
			t.Errorf("URL %s, port %d: want the random port", s.ClientURL(), p)
		}
	}
	o, err := natsembed.ReadOwner(a.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if o.PID != os.Getpid() || o.Command != "bulkassign test" || o.URL != a.ClientURL() ||
		o.ServerID != a.Server().ID() || o.Started.IsZero() {
		t.Fatalf("owner file %+v, server %s at %s", o, a.Server().ID(), a.ClientURL())
	}
	if got := o.String(); got != "bulkassign test (pid "+strconv.Itoa(os.Getpid())+")" {
		t.Errorf("Owner.String() = %q", got)
	}
	fi, err := os.Stat(filepath.Join(a.DataDir(), "bulkassign.server.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("owner file: %v, mode %v; want 0600", err, fi.Mode())
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	first, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()
	_, err = natsembed.Start(natsembed.Config{DataDir: dir})
	if !errors.Is(err, natsembed.ErrDataDirLocked) || !errors.Is(err, natsembed.ErrStart) {
		t.Fatalf("second server on one DataDir: %v, want ErrDataDirLocked", err)
	}
	// The first is unharmed and still recorded; after it stops the
	// directory is free again.
	nc := natstest.Connect(t, first)
	if err := nc.Publish("x", nil); err != nil || nc.Flush() != nil {
		t.Fatalf("first server after the refused second: %v", err)
	}
	if o, err := natsembed.ReadOwner(dir); err != nil || o.ServerID != first.Server().ID() {
		t.Fatalf("owner file after the refused second: %+v, %v", o, err)
	}
	nc.Close()
	first.Shutdown()
	natstest.Embedded(t, natsembed.Config{DataDir: dir})
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctx is a test context bounded to 30 s.
func ctx(t *testing.T) context.Context { return natstest.Context(t) }

// TestMaxPayload: the embedded server takes messages of up to 8 MiB (an
// import request of 10,000 assignments fits), and a larger publish fails
// at the client with a clear error.
func TestMaxPayload(t *testing.T) {
	s := natstest.Embedded(t, natsembed.Config{})
	nc := natstest.Connect(t, s)
	if got := nc.MaxPayload(); got != natsembed.DefaultMaxPayload {
		t.Fatalf("max payload %d, want %d", got, natsembed.DefaultMaxPayload)
	}
	sub, err := nc.SubscribeSync("big")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("big", make([]byte, 5<<20)); err != nil {
		t.Fatalf("5 MiB: %v", err)
	}
	if msg, err := sub.NextMsg(10 * time.Second); err != nil || len(msg.Data) != 5<<20 {
		t.Fatalf("5 MiB not delivered: %v", err)
	}
	if err := nc.Publish("big", make([]byte, natsembed.DefaultMaxPayload+1)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("over the limit: %v, want nats.ErrMaxPayload", err)
	}
}
