package natsembed_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/natsembed"
)

// TestRequiresCredentials: a client without the data dir's credentials,
// or with other ones, can neither connect nor publish; one with them can.
func TestRequiresCredentials(t *testing.T) {
	s := natstest.Embedded(t, natsembed.Config{})
	if nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Fatalf("connect without credentials: %v, want an authorization error", err)
	}
	other, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := other.PublicKey()
	if nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect(), nats.Nkey(pub, other.Sign)); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Fatalf("connect with another key: %v, want an authorization error", err)
	}

	nc := natstest.Connect(t, s)
	if nc.ConnectedServerId() != s.Server().ID() {
		t.Fatalf("connected to %s, want %s", nc.ConnectedServerId(), s.Server().ID())
	}
	sub, err := nc.SubscribeSync("hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "world" {
		t.Fatalf("round trip: %v %v", m, err)
	}
}

// TestCredentialsFile: created once, mode 0600, kept across restarts, a
// file other users may read is refused, and no error quotes the seed.
func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	s, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	path := filepath.Join(dir, "bulkassign.nkey")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials: %v, mode %v; want 0600", err, fi.Mode())
	}
	seed, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(seed), "SU") {
		t.Fatalf("credentials %v: want an NKey user seed", err)
	}
	// A restart keeps them: a client of the old server's directory
	// connects to the new one.
	s = natstest.Embedded(t, natsembed.Config{DataDir: dir})
	if again, _ := os.ReadFile(path); string(again) != string(seed) {
		t.Fatal("credentials changed on restart")
	}
	natstest.Connect(t, s).Close()

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = natsembed.Connect(dir, s.ClientURL(), nats.NoReconnect())
	if err == nil || !strings.Contains(err.Error(), "other users") {
		t.Fatalf("connect with group-readable credentials: %v, want a refusal", err)
	}
	if err := os.WriteFile(path, []byte("SUnot-a-seed"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = natsembed.Connect(dir, s.ClientURL(), nats.NoReconnect())
	if err == nil || strings.Contains(err.Error(), "SUnot") || strings.Contains(err.Error(), string(seed[:10])) {
		t.Fatalf("connect with a damaged seed: %v, want an error that does not quote it", err)
	}
}

// TestConnectRefusesStranger: a server that does not own the data dir is
// refused before anything is sent to it, whether it has no
// authentication at all or is another data dir's server.
func TestConnectRefusesStranger(t *testing.T) {
	owner := natstest.Embedded(t, natsembed.Config{})
	plain := natstest.Plain(t)
	other := natstest.Embedded(t, natsembed.Config{})
	for name, url := range map[string]string{"unauthenticated": plain, "other data dir": other.ClientURL()} {
		t.Run(name, func(t *testing.T) {
			nc, err := natsembed.Connect(owner.DataDir(), url, nats.NoReconnect())
			if err == nil {
				nc.Close()
				t.Fatalf("connected to a stranger at %s", url)
			}
			var ne *natsembed.NotOwnerError
			if !errors.Is(err, natsembed.ErrNotOwner) || !errors.As(err, &ne) {
				t.Fatalf("err = %v, want a NotOwnerError", err)
			}
			want := "the NATS server at " + strings.TrimPrefix(url, "nats://") + " does not own data dir " + owner.DataDir()
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %q, want it to say %q", err, want)
			}
		})
	}
	// Without an owner file there is nothing to prove against.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bulkassign.nkey"), mustSeed(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if nc, err := natsembed.Connect(dir, plain, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("connected with no owner file")
	}
}

func mustSeed(t *testing.T) []byte {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{}, seed...)
}

// TestReconnectChecksOwner: a connection that reconnects follows its
// owner's restart (a new server id, recorded in the owner file), but never
// reconnects to a stranger that took the port in between.
func TestReconnectChecksOwner(t *testing.T) {
	dir := t.TempDir()
	first, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()
	port := first.Server().Addr().(*net.TCPAddr).Port
	var attempts atomic.Int64
	nc, err := first.Connect(nats.MaxReconnects(-1), nats.CustomReconnectDelay(func(int) time.Duration {
		attempts.Add(1)
		return 20 * time.Millisecond
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	firstID := nc.ConnectedServerId()
	first.Shutdown()

	stranger := natstest.Embedded(t, natsembed.Config{Port: port})
	from := attempts.Load()
	waitFor(t, "reconnect attempts against the stranger", func() bool { return attempts.Load() >= from+5 })
	if nc.IsConnected() {
		t.Fatalf("reconnected to the stranger %s", nc.ConnectedServerId())
	}
	stranger.Shutdown()

	second := natstest.Embedded(t, natsembed.Config{DataDir: dir, Port: port})
	waitFor(t, "reconnect to the restarted owner", nc.IsConnected)
	if id := nc.ConnectedServerId(); id != second.Server().ID() || id == firstID {
		t.Fatalf("reconnected to %s, want the restarted owner %s", id, second.Server().ID())
	}
}

// TestJoin: another process's server is joined at its recorded address;
// the joined connection closes when the owner stops (it never waits for a
// server that is gone); a free directory has nothing to join.
func TestJoin(t *testing.T) {
	dir := t.TempDir()
	owner, err := natsembed.Start(natsembed.Config{DataDir: dir, Command: "bulkassign run"})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Shutdown()
	closed := make(chan struct{})
	nc, o, err := natsembed.Join(ctx(t), dir, "", 5*time.Second, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if o.Command != "bulkassign run" || nc.ConnectedServerId() != owner.Server().ID() {
		t.Fatalf("joined %+v at %s", o, nc.ConnectedServerId())
	}
	owner.Shutdown()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("joined connection still open 10 s after its owner stopped")
	}

	if _, _, err := natsembed.Join(ctx(t), dir, "", 5*time.Second); !errors.Is(err, natsembed.ErrNoOwner) {
		t.Fatalf("join a free directory: %v, want ErrNoOwner", err)
	}
}

// TestAttach: with no owner, Attach starts a server; with one, it joins
// it; pointed at a stranger's port, it refuses.
func TestAttach(t *testing.T) {
	dir := t.TempDir()
	own, nc, err := natsembed.Attach(ctx(t), natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Shutdown()
	defer nc.Close()
	if own == nil || nc.ConnectedServerId() != own.Server().ID() {
		t.Fatalf("Attach on a free directory: server %v", own)
	}

	joined, nc2, err := natsembed.Attach(ctx(t), natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if joined != nil || nc2.ConnectedServerId() != own.Server().ID() {
		t.Fatalf("Attach on an owned directory started %v, connected to %s", joined, nc2.ConnectedServerId())
	}

	stranger := natstest.Embedded(t, natsembed.Config{})
	port := stranger.Server().Addr().(*net.TCPAddr).Port
	start := time.Now()
	_, _, err = natsembed.Attach(ctx(t), natsembed.Config{DataDir: dir, Port: port})
	if !errors.Is(err, natsembed.ErrNotOwner) {
		t.Fatalf("Attach pointed at a stranger: %v, want ErrNotOwner", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %s: it should not wait for the stranger to change", d)
	}
}

// TestStartWhenFree waits, saying who owns the directory, until the owner
// stops, then starts; a cancelled context ends the wait.
func TestStartWhenFree(t *testing.T) {
	dir := t.TempDir()
	owner, err := natsembed.Start(natsembed.Config{DataDir: dir, Command: "bulkassign run"})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Shutdown()
	waiting := make(chan natsembed.Owner, 100)
	type started struct {
		s   *natsembed.Server
		err error
	}
	done := make(chan started, 1)
	go func() {
		s, err := natsembed.StartWhenFree(context.Background(), natsembed.Config{DataDir: dir}, func(o natsembed.Owner) {
			select {
			case waiting <- o:
			default:
			}
		})
		done <- started{s, err}
	}()
	o := <-waiting
	if o.PID != os.Getpid() || o.Command != "bulkassign run" {
		t.Fatalf("waiting for %+v, want this process's bulkassign run", o)
	}
	select {
	case r := <-done:
		t.Fatalf("started while the owner runs: %v", r.err)
	default:
	}
	owner.Shutdown()
	var r started
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("did not start within 10 s of the owner stopping")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.s.Shutdown()

	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := natsembed.StartWhenFree(cctx, natsembed.Config{DataDir: dir}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("StartWhenFree with a cancelled context on an owned directory: %v", err)
	}
}
