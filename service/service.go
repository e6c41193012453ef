package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkassign/bulkassign/events"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
	"github.com/bulkassign/bulkassign/worker"
)

// Config configures a [Service]. Backend and Graph are required; every
// other field has a default, filled in by [New].
type Config struct {
	// Backend is the store, connection and embedded server the service
	// runs on. Run closes it at its end (steps 5 and 6 of the stop).
	Backend *Backend
	// Graph is what the workers write with (a *graph.Client).
	Graph worker.Graph
	// Worker configures the workers. Its Logger and Metrics default to
	// the service's. With StopOnStall, Run ends when the store cannot
	// make progress, closing the connection at once, and returns the
	// *[worker.StallError]. Default: worker's defaults.
	Worker worker.Config
	// Imports configures the importer the intakes create imports with
	// (its Logger defaults to the service's). Default: imports' defaults.
	Imports imports.Config
	// SubmitSubject is the NATS subject whose messages become imports
	// (one JSON object or an array, see [imports.Message]), answered with
	// a [SubmitReply]; queue group "bulkassign" shares them among
	// replicas. Default empty: no queue intake.
	SubmitSubject string
	// Ingest are the options queue messages are read with (the default
	// tenant, also that of requests without tenant_id). Default: none.
	Ingest ingest.Options
	// RequestsSubject is the subject (wildcards allowed) of the durable
	// queue intake: a JetStream stream captures its messages, import
	// requests ([imports.Request]), so that they wait for a serve, and the
	// replicas share them through one durable consumer; each becomes
	// exactly one import and is answered with a [contract.Receipt]: to its
	// reply subject, and on bulkassign.receipts.<request_id>. Refused
	// requests are copied to the stream BULKASSIGN_DEADLETTER. Default
	// empty: no durable intake.
	RequestsSubject string
	// Intake configures the durable intake's streams and consumer (its
	// Subject is RequestsSubject; its Replicas default to the store's).
	// Default: jobs' defaults.
	Intake jobs.IntakeConfig
	// RequestMaxBytes bounds a request's body. Default
	// [imports.MaxRequestBytes] (4 MiB).
	RequestMaxBytes int
	// ReceiptTimeout bounds how long a request sent with a reply subject
	// waits for its receipt before it is told where the receipt will be
	// published. Default 2 min.
	ReceiptTimeout time.Duration
	// HandOffTimeout bounds how long a stopping intake waits for a live
	// replica to answer a request it hands over. Default 30 s.
	HandOffTimeout time.Duration
	// Events publishes the started and finished events of every import of
	// the store, whatever created it (see package events); one replica
	// publishes each. Default false.
	Events bool
	// EventInterval is how often unfinished imports are checked for their
	// finished event. Default 1 s.
	EventInterval time.Duration
	// Webhook, when its URL is set, also POSTs every event this replica
	// publishes (Events only). Its Logger defaults to the service's.
	// Default: none.
	Webhook events.WebhookConfig
	// MetricsAddr is the address of /metrics, /healthz and /readyz (e.g.
	// ":9090"). Default empty: none, unless MetricsListener is set.
	MetricsAddr string
	// MetricsListener, when set, is used instead of listening on
	// MetricsAddr; Run closes it. Default nil.
	MetricsListener net.Listener
	// HTTPListener, when set, is the listener of the service's HTTP API
	// server ("serve --http-addr"), serving the handler HTTP builds; Run
	// closes it. Default nil: no API server.
	HTTPListener net.Listener
	// HTTP builds the API server's handler from the service (its
	// importer, its workers' waiting tenants), in New. Required with
	// HTTPListener.
	HTTP func(*Service) (http.Handler, error)
	// Metrics receives the measurements of the workers and intakes.
	// Default nil: none.
	Metrics *metrics.Metrics
	// Gatherer is what /metrics exposes. Default: an empty registry.
	Gatherer prometheus.Gatherer
	// Logger receives the service's log. Default: discard.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.HandOffTimeout = cmp.Or(c.HandOffTimeout, 30*time.Second)
	c.RequestMaxBytes = cmp.Or(c.RequestMaxBytes, imports.MaxRequestBytes)
	c.ReceiptTimeout = cmp.Or(c.ReceiptTimeout, 2*time.Minute)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.Worker.Logger = cmp.Or(c.Worker.Logger, c.Logger)
	c.Imports.Logger = cmp.Or(c.Imports.Logger, c.Logger)
	if c.Worker.Metrics == nil && c.Metrics != nil {
		c.Worker.Metrics = c.Metrics
	}
	if c.Gatherer == nil {
		c.Gatherer = prometheus.NewRegistry()
	}
	return c
}

// validate reports every invalid field at once.
func (c Config) validate() error {
	var errs []error
	if c.Backend == nil || c.Backend.Store == nil || c.Backend.Conn == nil {
		errs = append(errs, errors.New("no backend"))
	}
	if c.Graph == nil {
		errs = append(errs, errors.New("no Graph client"))
	}
	if c.HTTPListener != nil && c.HTTP == nil {
		errs = append(errs, errors.New("an HTTP listener without a handler"))
	}
	if c.RequestMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("request max bytes %d: want > 0", c.RequestMaxBytes))
	}
	if c.ReceiptTimeout <= 0 {
		errs = append(errs, fmt.Errorf("receipt timeout %s: want > 0", c.ReceiptTimeout))
	}
	if c.HandOffTimeout <= 0 {
		errs = append(errs, fmt.Errorf("hand-off timeout %s: want > 0", c.HandOffTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("service config: %w", err)
	}
	return nil
}

// ErrShuttingDown is what readiness reports from the start of the stop.
var ErrShuttingDown = errors.New("shutting down")

// Service is bulkassign's long-running process. Create it with [New] and
// run it once with [Service.Run].
type Service struct {
	cfg      Config
	backend  *Backend
	worker   *worker.Worker
	importer *imports.Importer
	submit   *submitIntake     // nil without a queue intake
	requests *requestIntake    // nil without a durable intake
	events   *events.Publisher // nil without events
	webhook  *events.Webhook   // nil without a webhook
	api      http.Handler      // nil without an API server
	log      *slog.Logger

	// hard ends on Abort: it cancels enqueues and writes in flight.
	hard     context.Context
	abort    context.CancelFunc
	started  atomic.Bool // intakes and workers run
	draining atomic.Bool
	ran      atomic.Bool
}

// New builds a Service: the workers, the importer and the intakes, not
// started yet.
func New(cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := cfg.Backend
	if cfg.Worker.StopOnStall {
		// Requests still waiting on a store that stalled (final writes,
		// lease renewals) would each wait for their timeout: closing the
		// connection ends them at once.
		cfg.Worker.OnStall = func(*worker.StallError) { b.Conn.Close() }
	}
	w, err := worker.New(b.Store, cfg.Graph, cfg.Worker)
	if err != nil {
		return nil, err
	}
	im, err := imports.New(b.Store, cfg.Imports)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics != nil {
		cfg.Metrics.WatchQueueDepth(b.Store.PendingTenants)
	}
	s := &Service{cfg: cfg, backend: b, worker: w, importer: im, log: cfg.Logger}
	s.hard, s.abort = context.WithCancel(context.Background())
	if cfg.SubmitSubject != "" {
		s.submit = &submitIntake{
			subject: cfg.SubmitSubject, nc: b.Conn, importer: im, opts: cfg.Ingest, m: cfg.Metrics, log: cfg.Logger,
			handOffTimeout: cfg.HandOffTimeout, ctx: s.hard,
		}
	}
	if cfg.Events {
		if cfg.Webhook.URL != "" {
			wc := cfg.Webhook
			wc.Logger = cmp.Or(wc.Logger, cfg.Logger)
			if s.webhook, err = events.NewWebhook(wc); err != nil {
				return nil, err
			}
		}
		s.events, err = events.New(events.Config{Store: b.Store, Conn: b.Conn, Interval: cfg.EventInterval, Webhook: s.webhook, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
	}
	if cfg.RequestsSubject != "" {
		ic := cfg.Intake
		ic.Subject = cfg.RequestsSubject
		ic.Replicas = cmp.Or(ic.Replicas, b.Store.Config().Replicas)
		s.requests = &requestIntake{
			cfg: ic, js: b.Store.JetStream(), nc: b.Conn, importer: im, m: cfg.Metrics, log: cfg.Logger, ctx: s.hard,
			opts: imports.RequestOptions{MaxBytes: cfg.RequestMaxBytes, Tenant: cfg.Ingest.Tenant}, timeout: cfg.ReceiptTimeout,
		}
	}
	if cfg.HTTPListener != nil {
		if s.api, err = cfg.HTTP(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Importer returns the importer on the service's store: how "run" creates
// its import.
func (s *Service) Importer() *imports.Importer { return s.importer }

// Waiting returns the tenants whose jobs wait, and why (see
// [worker.Worker.Waiting]).
func (s *Service) Waiting() []worker.TenantState { return s.worker.Waiting() }

// Ready returns nil while the service takes work: started, connected to
// NATS, the store making progress, not stopping. It is what /readyz
// reports.
func (s *Service) Ready(context.Context) error {
	switch {
	case !s.started.Load():
		return errors.New("starting")
	case s.draining.Load():
		return ErrShuttingDown
	case !s.backend.Conn.IsConnected():
		return errors.New("not connected to NATS")
	}
	return s.worker.Stalled()
}

// Abort is the hard stop: enqueues and Graph writes in flight are
// cancelled at once and Run stops without waiting for them. Safe to call
// at any time and more than once.
func (s *Service) Abort() {
	s.abort()
	s.worker.Abort()
}

// Run starts the intakes, the workers and the operational HTTP server and
// runs until ctx ends, then stops in the order of the package
// documentation and returns. It returns nil after a stop, the
// *[worker.StallError] when the store stalled (Config.Worker.StopOnStall),
// and an error of the queue intake's subscription at once. A Service runs
// once.
func (s *Service) Run(ctx context.Context) error {
	if s.ran.Swap(true) {
		return errors.New("service: Run called twice")
	}
	defer s.abort()
	defer s.backend.Close() // steps 5 and 6
	if ln := s.cfg.HTTPListener; ln != nil {
		defer ln.Close() // when Run ends before the API server serves it
	}
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	httpDone := s.serveHTTP(httpCtx)
	if s.submit != nil || s.requests != nil {
		s.recover(ctx)
	}
	if s.submit != nil {
		if err := s.submit.start(); err != nil {
			stopHTTP()
			<-httpDone
			return err
		}
		defer s.submit.close() // step 4
	}
	if s.requests != nil {
		if err := s.requests.start(ctx); err != nil {
			stopHTTP()
			<-httpDone
			return err
		}
		defer s.requests.close() // step 4
	}

	stopEvents := s.runEvents(ctx)
	defer stopEvents() // step 4

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	workDone := make(chan error, 1)
	go func() { workDone <- s.worker.Run(workCtx) }()
	stopAPI := s.serveAPI()
	defer stopAPI()
	s.started.Store(true)
	var workErr error
	select {
	case <-ctx.Done():
	case workErr = <-workDone: // stalled
		workDone = nil
	}

	s.draining.Store(true) // step 1
	stopAPI()
	if s.submit != nil {
		s.submit.stopTaking()
	}
	if s.requests != nil {
		s.requests.stopTaking()
	}
	stopWork() // step 2
	if workDone != nil {
		workErr = <-workDone
	}
	stopHTTP() // step 3
	<-httpDone
	if errors.Is(workErr, context.Canceled) {
		workErr = nil
	}
	return workErr
}

// runEvents starts the events publisher and the webhook, if any, until
// the returned function is called (it waits for them to stop).
func (s *Service) runEvents(ctx context.Context) (stop func()) {
	if s.events == nil {
		return func() {}
	}
	evCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.events.Run(evCtx); err != nil {
			s.log.Error("import events stopped", slog.Any("error", err))
		}
	})
	if s.webhook != nil {
		wg.Go(func() { s.webhook.Run(evCtx) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// recover completes the imports whose enqueue a crash interrupted.
func (s *Service) recover(ctx context.Context) {
	n, err := s.importer.Recover(ctx)
	if n > 0 {
		s.log.InfoContext(ctx, "completed imports interrupted while they were enqueued", slog.Int("imports", n))
	}
	if err != nil {
		s.log.ErrorContext(ctx, "complete imports interrupted while they were enqueued", slog.Any("error", err))
	}
}

// serveHTTP starts the operational HTTP server, if any, until ctx ends;
// the returned channel is closed when it stopped. A server that cannot
// listen is logged: the service runs without it.
func (s *Service) serveHTTP(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if s.cfg.MetricsListener == nil && s.cfg.MetricsAddr == "" {
		close(done)
		return done
	}
	h := metrics.Handler(s.cfg.Gatherer, s.Ready)
	go func() {
		defer close(done)
		var err error
		if s.cfg.MetricsListener != nil {
			err = metrics.ServeListener(ctx, s.cfg.MetricsListener, h, s.log)
		} else {
			err = metrics.Serve(ctx, s.cfg.MetricsAddr, h, s.log)
		}
		if err != nil {
			s.log.Error("metrics server", slog.Any("error", err))
		}
	}()
	return done
}
