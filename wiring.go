package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
	"github.com/bulkassign/bulkassign/worker"
)

// natsOptions selects an external NATS (--nats-url) or the embedded server.
type natsOptions struct {
	url      string
	dataDir  string
	host     string
	port     int
	replicas int
	ackWait  time.Duration
	// intentsMaxAge is set by commands that run workers: past their job
	// deadline.
	intentsMaxAge time.Duration
}

func (o *natsOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "nats-url", "", "NATS server or cluster URL; empty: start an embedded nats-server")
	fs.StringVar(&o.dataDir, "data-dir", "./bulkassign-data", "JetStream store directory of the embedded server")
	fs.StringVar(&o.host, "nats-host", "127.0.0.1", "listen address of the embedded server")
	fs.IntVar(&o.port, "nats-port", 4222, "listen port of the embedded server (-1: random)")
	fs.IntVar(&o.replicas, "replicas", 1, "JetStream replicas of bulkassign's streams and buckets (3 on a 3-node cluster)")
	fs.DurationVar(&o.ackWait, "ack-wait", 30*time.Second, "how long a job held by a worker that died stays invisible before it is delivered again")
}

// backend is an open connection to JetStream, and the embedded server if
// one was started.
type backend struct {
	emb    *jobs.Embedded
	nc     *nats.Conn
	closed chan struct{} // closed when nc is closed
	store  *jobs.Store
}

// open connects to NATS (starting the embedded server when no URL is given)
// and opens the store, creating or upgrading its topology.
func (o *natsOptions) open(ctx context.Context, log *slog.Logger) (*backend, error) {
	b := &backend{closed: make(chan struct{})}
	url, localDir := o.url, ""
	if url == "" {
		localDir = o.dataDir // our embedded server's, or the one that owns it
		emb, err := jobs.StartEmbedded(jobs.EmbeddedConfig{DataDir: o.dataDir, Host: o.host, Port: o.port, Logger: log})
		switch {
		case errors.Is(err, jobs.ErrDataDirLocked) && o.port > 0:
			// Another bulkassign (run, serve) owns this store: use its server.
			url = fmt.Sprintf("nats://%s", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
			log.Debug("data directory in use; connecting to its embedded server", slog.String("url", url))
		case err != nil:
			return nil, fmt.Errorf("start embedded NATS: %w", err)
		default:
			b.emb = emb
			url = emb.ClientURL()
			log.Debug("embedded NATS started", slog.String("url", url), slog.String("data_dir", o.dataDir))
		}
	}
	nc, err := nats.Connect(url,
		nats.Name("bulkassign"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURL(url), err)
	}
	b.nc = nc
	store, err := jobs.Open(ctx, nc, jobs.Config{Replicas: o.replicas, AckWait: o.ackWait, IntentsMaxAge: o.intentsMaxAge, Logger: log,
		LocalStoreDir: localDir})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("open JetStream store: %w", err)
	}
	b.store = store
	return b, nil
}

// close drains the connection, then stops the embedded server (last).
func (b *backend) close() {
	if b.nc != nil {
		// Drain flushes pending publishes and acks, then closes.
		if err := b.nc.Drain(); err == nil {
			select {
			case <-b.closed:
			case <-time.After(5 * time.Second):
			}
		}
		b.nc.Close()
	}
	if b.emb != nil {
		b.emb.Shutdown()
	}
}

// redactURL drops user info from a NATS URL before it is printed.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// graphOptions selects the Graph endpoint and credentials.
type graphOptions struct {
	cloud    string
	graphURL string
	timeout  time.Duration
}

func (o *graphOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.cloud, "cloud", "global", "national cloud: global, usgov, usgov-dod or china (picks the Graph and login hosts)")
	fs.StringVar(&o.graphURL, "graph-url", "", "Graph base URL override, without version (e.g. http://127.0.0.1:8080 for bulkassign sim)")
	fs.DurationVar(&o.timeout, "graph-timeout", 30*time.Second, "timeout of one Graph request")
}

// client builds the Graph client. BULKASSIGN_GRAPH_TOKEN selects a static
// bearer token (simulator, dry runs); otherwise azidentity reads AZURE_*.
func (o *graphOptions) client(env *environment, transport func(http.RoundTripper) http.RoundTripper) (*graph.Client, error) {
	cloud, err := graph.ParseCloud(o.cloud)
	if err != nil {
		return nil, fmt.Errorf("%w: --cloud: %v", errUsage, err)
	}
	cfg := graph.Config{BaseURL: o.graphURL, Cloud: cloud, Timeout: o.timeout, UserAgent: "bulkassign/" + version}
	if tok := env.getenv("BULKASSIGN_GRAPH_TOKEN"); tok != "" {
		cfg.Tokens = graph.StaticToken(tok)
		if o.graphURL != "" {
			// A static token names no tenant: tell the simulator in a header.
			cfg.TenantHeader = graphtest.TenantHeader
		}
	} else {
		cred, err := graph.CredentialFromEnv(cloud, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: Graph credentials: %v (or set BULKASSIGN_GRAPH_TOKEN)", errUsage, err)
		}
		cfg.Tokens = graph.NewCredentialTokens(cred, cloud)
	}
	if transport != nil {
		hc := graph.NewHTTPClient()
		hc.Transport = transport(hc.Transport)
		cfg.HTTPClient = hc
	}
	return graph.NewClient(cfg)
}

// workerOptions are the worker's tuning flags.
type workerOptions struct {
	concurrency  int
	writeLimit   int
	writeWindow  time.Duration
	jobDeadline  time.Duration
	drainTimeout time.Duration
	stallTimeout time.Duration
}

func (o *workerOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.concurrency, "concurrency", 64, "Graph requests in flight at once, across tenants")
	fs.IntVar(&o.writeLimit, "write-limit", 100, "writes per --write-window per tenant (Intune: 100 per 20 s per app per tenant)")
	fs.DurationVar(&o.writeWindow, "write-window", 20*time.Second, "window of --write-limit")
	fs.DurationVar(&o.jobDeadline, "job-deadline", 24*time.Hour, "give up retrying a throttled or failing row after this long (from enqueue)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Second, "on stop, how long in-flight writes may finish before they are handed back")
	fs.DurationVar(&o.stallTimeout, "stall-timeout", 2*time.Minute, "when one kind of job store (NATS) request has failed this long without a success, run/retry stop with an error (exit 1) and serve turns unready")
}

// intentsMaxAge keeps write intents for a week, or a day past the job
// deadline when that is longer.
func (o *workerOptions) intentsMaxAge() time.Duration {
	return max(7*24*time.Hour, o.jobDeadline+24*time.Hour)
}

func (o *workerOptions) config(log *slog.Logger, m *metrics.Metrics) worker.Config {
	cfg := worker.Config{
		Concurrency:  o.concurrency,
		WriteLimit:   o.writeLimit,
		WriteWindow:  o.writeWindow,
		JobDeadline:  o.jobDeadline,
		DrainTimeout: o.drainTimeout,
		StallTimeout: o.stallTimeout,
		Logger:       log,
	}
	if m != nil {
		cfg.Metrics = m
	}
	return cfg
}

// logOptions configures slog.
type logOptions struct {
	level  string
	format string
}

func (o *logOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.level, "log-level", "warn", "log level: debug, info, warn, error")
	fs.StringVar(&o.format, "log-format", "text", "log format: text or json")
}

func (o *logOptions) logger(env *environment) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q", errUsage, o.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch o.format {
	case "text":
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q (text or json)", errUsage, o.format)
}

// newMetrics builds the metrics on a fresh registry.
func newMetrics() (*metrics.Metrics, *prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := metrics.New(reg)
	if err != nil {
		return nil, nil, err
	}
	return m, reg, nil
}

// isTerminal reports whether w is a terminal (for the live progress bar).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// openBackend builds the logger and opens NATS and the store: the start of
// every command that works on an existing store.
func openBackend(ctx context.Context, env *environment, o *natsOptions, logs *logOptions) (*backend, *slog.Logger, error) {
	log, err := logs.logger(env)
	if err != nil {
		return nil, nil, err
	}
	b, err := o.open(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	return b, log, nil
}

// lookupImport finds an import by id; an unknown id is a usage error.
func lookupImport(ctx context.Context, store *jobs.Store, id string) (jobs.Import, error) {
	imp, err := store.Import(ctx, id)
	if err != nil {
		return imp, &exitError{code: exitUsage, err: fmt.Errorf("import %q: %w", id, err)}
	}
	return imp, nil
}
