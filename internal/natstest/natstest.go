// Package natstest starts the NATS servers bulkassign's tests run against,
// each stopped in t.Cleanup: the embedded server on a temporary data
// directory ([Embedded], [Connect]), a plain JetStream server without
// authentication standing in for an external NATS ([Plain]), and a
// JetStream cluster on loopback ([Cluster]). Package storetest opens a
// store on them for the packages above jobs (package jobs's own tests use
// this package, so it cannot import jobs).
package natstest

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/natsembed"
)

// Context is a context that ends after 30 s (or at the end of the test),
// so that a hung call fails its test instead of the whole run.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Embedded starts an embedded server with cfg, on a new temporary data
// directory and a random port unless cfg says otherwise; it is shut down
// in t.Cleanup.
func Embedded(t testing.TB, cfg natsembed.Config) *natsembed.Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	s, err := natsembed.Start(cfg)
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Connect connects to s with its data directory's credentials; the
// connection is closed in t.Cleanup (before s is shut down).
func Connect(t testing.TB, s *natsembed.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := s.Connect(opts...)
	if err != nil {
		t.Fatalf("connect to embedded NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Plain starts a JetStream nats-server on a random loopback port without
// authentication, like an external NATS a user points --nats-url at, and
// returns its URL.
func Plain(t testing.TB) string {
	t.Helper()
	return PlainAt(t, t.TempDir()).ClientURL()
}

// PlainAt is [Plain] with its JetStream store in dir, so that a test can
// stop it, damage its files and start it again on the same store. Its
// Shutdown may be called before t.Cleanup's.
func PlainAt(t testing.TB, dir string) *server.Server {
	t.Helper()
	return start(t, &server.Options{ServerName: "plain", StoreDir: dir})
}

// Cluster starts an n-node JetStream cluster on loopback, every node
// routed to every other, waits until it can hold an n-replica stream, and
// returns a URL listing every node.
func Cluster(t testing.TB, n int) string {
	t.Helper()
	// A JetStream cluster needs its routes configured up front, so the
	// route ports are chosen before any node starts.
	var routes []*url.URL
	for _, port := range freePorts(t, n) {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	}
	var urls []string
	for i, r := range routes {
		port, _ := strconv.Atoi(r.Port())
		s := start(t, &server.Options{
			ServerName: "n" + strconv.Itoa(i+1),
			Cluster:    server.ClusterOpts{Name: "bulkassign-test", Host: "127.0.0.1", Port: port},
			Routes:     routes,
		})
		urls = append(urls, s.ClientURL())
	}
	all := strings.Join(urls, ",")
	waitJetStream(t, all, n)
	return all
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// start starts a JetStream server with opts on a random loopback port and
// opts.StoreDir (default: a temporary one), shut down in t.Cleanup.
func start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.JetStream, opts.NoSigs = true, true
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server %s: %v", opts.ServerName, err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-server %s not ready", opts.ServerName)
	}
	return s
}

// waitJetStream waits until an R=n stream can be created on url (a
// JetStream leader is elected and every node takes part), then deletes it.
func waitJetStream(t testing.TB, url string, n int) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "natstest_ready", Replicas: n, Storage: jetstream.MemoryStorage})
		if err == nil {
			err = js.DeleteStream(ctx, "natstest_ready")
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster of %d not ready: %v", n, err)
		}
		time.Sleep(100 * time.Millisecond) // no event says "ready": poll until the deadline
	}
}

// Topology lists every stream on nc's server (KV buckets' streams
// included), sorted, each as NAME:R<replicas>:<max age>, e.g.
// "BULKASSIGN_JOBS:R3:0s KV_bulkassign_intents:R3:720h0m0s": compare two
// to see whether anything changed them.
func Topology(t testing.TB, nc *nats.Conn) string {
	t.Helper()
	ctx := Context(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		c := info.Config
		out = append(out, c.Name+":R"+strconv.Itoa(c.Replicas)+":"+c.MaxAge.String())
	}
	if err := l.Err(); err != nil {
		t.Fatalf("list streams: %v", err)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
