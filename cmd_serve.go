package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/bulkassign/bulkassign/metrics"
	"github.com/bulkassign/bulkassign/worker"
)

func cmdServe(ctx context.Context, env *environment, args []string) error {
	var (
		nats        natsOptions
		graphOpts   graphOptions
		work        workerOptions
		logs        logOptions
		metricsAddr string
		subject     string
		ing         ingestOptions
	)
	fs := newFlagSet("serve", "", "Run workers against NATS until stopped: every import enqueued by bulkassign ingest (or retry) is processed.\nServes /metrics, /healthz and /readyz. SIGINT/SIGTERM drains (--drain-timeout); a second signal stops at once.")
	nats.register(fs)
	graphOpts.register(fs)
	work.register(fs)
	logs.register(fs)
	fs.StringVar(&metricsAddr, "metrics-addr", ":9090", "address of /metrics, /healthz and /readyz (empty: none)")
	fs.StringVar(&subject, "submit-subject", "bulkassign.submit", "NATS subject answering queue messages (one JSON object, or an array, with the CSV column names) with an import id; empty: none")
	fs.StringVar(&ing.tenant, "tenant", "", "tenant (GUID or domain) for queue messages without tenant_id")
	logs.level = "info"
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 0, "no arguments"); err != nil {
		return err
	}
	log, err := logs.logger(env)
	if err != nil {
		return err
	}
	m, reg, err := newMetrics()
	if err != nil {
		return err
	}
	client, err := graphOpts.client(env, m.InstrumentTransport)
	if err != nil {
		return err
	}
	nats.intentsMaxAge = work.intentsMaxAge()
	b, err := nats.open(ctx, env.stderr, log, provision)
	if err != nil {
		return err
	}
	defer b.close()
	m.WatchQueueDepth(b.store.PendingTenants)
	w, err := worker.New(b.store, client, work.config(log, m))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	// Workers drain on the soft stop; the hard stop aborts them at once.
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var wg sync.WaitGroup
	if metricsAddr != "" {
		ready := func(context.Context) error {
			if !b.nc.IsConnected() {
				return errors.New("not connected to NATS")
			}
			return w.Stalled()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := metrics.Serve(workCtx, metricsAddr, metrics.Handler(reg, ready), log); err != nil {
				log.Error("metrics server", slog.Any("error", err))
			}
		}()
	}
	if subject != "" {
		sub := &submitter{store: b.store, m: m, log: log, opts: ing.options("")}
		qs, err := sub.subscribe(workCtx, b.nc, subject)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subject, err)
		}
		defer func() { _ = qs.Unsubscribe() }()
	}
	log.Info("serving", slog.String("version", version), slog.String("submit_subject", subject))
	err = runWorker(workCtx, env.hard, w)
	stopWork()
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// runWorker runs w until soft ends (then it drains) and aborts it at once
// when hard ends first.
func runWorker(soft, hard context.Context, w *worker.Worker) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-hard.Done():
			w.Abort()
		case <-done:
		}
	}()
	return w.Run(soft)
}
