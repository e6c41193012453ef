package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/service"
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
	b, err := nats.open(ctx, env.stderr, log, true)
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := service.New(service.Config{
		Backend: b, Graph: client, Worker: work.config(log, m), Imports: imports.Config{Logger: log},
		SubmitSubject: subject, Ingest: ing.options(), MetricsAddr: metricsAddr, Metrics: m, Gatherer: reg, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// The first signal stops the service in order (see package service);
	// the second aborts what is in flight.
	stopAbort := context.AfterFunc(env.hard, svc.Abort)
	defer stopAbort()
	log.Info("serving", slog.String("version", version), slog.String("submit_subject", subject))
	return svc.Run(ctx)
}
