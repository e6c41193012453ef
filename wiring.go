package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/time/rate"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphsim"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
	"github.com/bulkassign/bulkassign/natsembed"
	"github.com/bulkassign/bulkassign/service"
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
	// consumerStorage is where the server keeps tenant consumers' state.
	consumerStorage string
	// intentsMaxAge is set by commands that run workers: past their job
	// deadline.
	intentsMaxAge time.Duration
	// command is the command's name, recorded as the data dir's owner.
	command string
}

func (o *natsOptions) register(fs *flag.FlagSet) {
	o.command = fs.Name()
	fs.StringVar(&o.url, "nats-url", "", "NATS server or cluster URL; empty: the embedded nats-server of --data-dir")
	fs.StringVar(&o.dataDir, "data-dir", "./bulkassign-data", "directory of the embedded server: its JetStream store, credentials (bulkassign.nkey) and address (bulkassign.server.json)")
	fs.StringVar(&o.host, "nats-host", "127.0.0.1", "listen address of the embedded server (only clients with the credentials in --data-dir can connect)")
	fs.IntVar(&o.port, "nats-port", 0, "listen port of the embedded server; 0 (the default) or -1: a random free port, recorded in --data-dir, where other commands given --data-dir find it. When another process owns --data-dir, its server is reached on this port instead of the recorded one")
	fs.IntVar(&o.replicas, "replicas", 1, "JetStream replicas of bulkassign's streams and buckets (3 on a 3-node cluster); never lowers a store's")
	fs.DurationVar(&o.ackWait, "ack-wait", 30*time.Second, "how long a job held by a worker that died stays invisible before it is delivered again")
	fs.StringVar(&o.consumerStorage, "consumer-storage", string(jobs.ConsumerMemory), "where NATS keeps each tenant consumer's delivery state: memory (the default; recreated after a server restart, delivering the queued jobs again, none written twice) or file (survives restarts, costs a file rewrite per acknowledgement); the jobs themselves are always on disk")
}

// open connects to NATS and opens the store: provisioning it, for the
// commands that run workers (run, serve, demo, retry --wait), which own
// --data-dir and wait while another process does (saying so on stderr);
// looking it up otherwise (status, report, ingest, retry), joining the
// process that owns --data-dir or running its server for their own
// duration.
func (o *natsOptions) open(ctx context.Context, stderr io.Writer, log *slog.Logger, provision bool) (*service.Backend, error) {
	cfg := service.BackendConfig{
		URL:       o.url,
		Embedded:  o.embedded(log),
		Provision: provision,
		Store:     jobs.Config{Replicas: o.replicas, AckWait: o.ackWait, IntentsMaxAge: o.intentsMaxAge, ConsumerStorage: jobs.ConsumerStorage(o.consumerStorage), Logger: log},
		Logger:    log,
	}
	wait := &dataDirWait{w: stderr, dir: o.dataDir, every: rate.Sometimes{First: 1, Interval: 30 * time.Second}}
	if provision && o.url == "" {
		cfg.OnWait = wait.waiting
	}
	b, err := service.OpenBackend(ctx, cfg)
	if err == nil {
		wait.done()
	}
	return b, err
}

// embedded is the embedded server's configuration.
func (o *natsOptions) embedded(log *slog.Logger) natsembed.Config {
	return natsembed.Config{DataDir: o.dataDir, Host: o.host, Port: o.port, Command: "bulkassign " + o.command, Logger: log}
}

// dataDirWait tells the user that the command waits for a data dir another
// process owns: at once, then every 30 s, and when it is free.
type dataDirWait struct {
	w      io.Writer
	dir    string
	every  rate.Sometimes
	waited bool
}

func (d *dataDirWait) waiting(o natsembed.Owner) {
	d.waited = true
	d.every.Do(func() {
		fmt.Fprintf(d.w, "bulkassign: data dir %s is in use by %s; waiting for it to finish…\n", d.dir, o)
	})
}

func (d *dataDirWait) done() {
	if d.waited {
		fmt.Fprintf(d.w, "bulkassign: data dir %s is free; continuing\n", d.dir)
	}
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
			cfg.TenantHeader = graphsim.TenantHeader
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

// hosts names, for messages, Graph's host and the identity provider's
// (empty with a static token, which needs none). Neither carries
// credentials.
func (o *graphOptions) hosts(env *environment) (graphHost, identityHost string) {
	cloud, _ := graph.ParseCloud(o.cloud) // client reports a bad one
	host := func(raw string) string {
		if u, err := neturl.Parse(raw); err == nil {
			return u.Host
		}
		return ""
	}
	graphHost = host(cmp.Or(o.graphURL, cloud.GraphURL()))
	if env.getenv("BULKASSIGN_GRAPH_TOKEN") == "" {
		identityHost = host(graph.AuthorityHost(cloud))
	}
	return graphHost, identityHost
}

// workerOptions are the worker's tuning flags.
type workerOptions struct {
	concurrency        int
	writeLimit         int
	writeWindow        time.Duration
	devicesWriteLimit  int
	devicesWriteWindow time.Duration
	jobDeadline        time.Duration
	drainTimeout       time.Duration
	stallTimeout       time.Duration
}

func (o *workerOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.concurrency, "concurrency", 64, "Graph requests in flight at once, across tenants")
	fs.IntVar(&o.writeLimit, "write-limit", 100, "writes per --write-window per tenant in each Intune service but devices (Intune: 100 per 20 s per app per tenant and service)")
	fs.DurationVar(&o.writeWindow, "write-window", 20*time.Second, "window of --write-limit")
	fs.IntVar(&o.devicesWriteLimit, "write-limit-devices", 200, "writes per --write-window-devices per tenant in the Intune devices service: scripts and health scripts (Intune: 200 per 20 s per app per tenant)")
	fs.DurationVar(&o.devicesWriteWindow, "write-window-devices", 20*time.Second, "window of --write-limit-devices")
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
		Concurrency:        o.concurrency,
		WriteLimit:         o.writeLimit,
		WriteWindow:        o.writeWindow,
		DevicesWriteLimit:  o.devicesWriteLimit,
		DevicesWriteWindow: o.devicesWriteWindow,
		JobDeadline:        o.jobDeadline,
		DrainTimeout:       o.drainTimeout,
		StallTimeout:       o.stallTimeout,
		Logger:             log,
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

// isTerminal reports whether w is a terminal (for the live progress bar),
// looking through a redacting writer.
func isTerminal(w any) bool {
	if u, ok := w.(interface{ Unwrap() io.Writer }); ok {
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// openBackend builds the logger, opens NATS and the store for look-up
// (the start of every command that reads or enqueues) and an importer on
// it, whose publishes in flight maxInFlight bounds (0: the default).
func openBackend(ctx context.Context, env *environment, o *natsOptions, logs *logOptions, maxInFlight int) (*service.Backend, *imports.Importer, error) {
	log, err := logs.logger(env)
	if err != nil {
		return nil, nil, err
	}
	b, err := o.open(ctx, env.stderr, log, false)
	if err != nil {
		return nil, nil, err
	}
	importer, err := imports.New(b.Store, imports.Config{MaxInFlight: maxInFlight, Logger: log})
	if err != nil {
		b.Close()
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return b, importer, nil
}

// lookupImport finds an import by id: an id that is malformed or names no
// import is a usage error (exit 2), any other failure (the store not
// answering) a runtime error (exit 1).
func lookupImport(ctx context.Context, store *jobs.Store, id string) (jobs.Import, error) {
	imp, err := store.Import(ctx, id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return imp, &exitError{code: exitUsage, err: fmt.Errorf("no import %q", id)}
	case errors.Is(err, jobs.ErrInvalidImportID):
		return imp, &exitError{code: exitUsage, err: fmt.Errorf("import %q: %w", id, err)}
	case err != nil:
		return imp, fmt.Errorf("import %q: %w", id, err)
	}
	return imp, nil
}
