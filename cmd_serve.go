package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/bulkassign/bulkassign/events"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
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
		requests    string
		hookURL     string
		hookSecret  string
		ing         ingestOptions
	)
	fs := newFlagSet("serve", "", "Run workers against NATS until stopped: every import enqueued by bulkassign ingest (or retry) is processed.\nServes /metrics, /healthz and /readyz. SIGINT/SIGTERM drains (--drain-timeout); a second signal stops at once.")
	nats.register(fs)
	graphOpts.register(fs)
	work.register(fs)
	logs.register(fs)
	fs.StringVar(&metricsAddr, "metrics-addr", ":9090", "address of /metrics, /healthz and /readyz (empty: none)")
	fs.StringVar(&subject, "submit-subject", "bulkassign.submit", "NATS subject answering queue messages (one JSON object, or an array, with the CSV column names) with an import id; empty: none")
	fs.StringVar(&requests, "requests-subject", "bulkassign.requests.>", "NATS subject (wildcards allowed) captured by the durable request stream "+jobs.RequestsStream+": import requests wait there for a serve and each becomes one import (see README, Running as a service); empty: none")
	fs.StringVar(&hookURL, "webhook-url", "", "URL POSTed every import's started and finished event (JSON, signed with --webhook-secret-file); empty: none")
	fs.StringVar(&hookSecret, "webhook-secret-file", "", "file holding the secret that signs webhook POSTs (header X-Bulkassign-Signature: sha256=<hex HMAC-SHA256 of the body>); required with --webhook-url")
	fs.StringVar(&ing.tenant, "tenant", "", "tenant (GUID or domain) for queue messages without tenant_id")
	logs.level = "info"
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 0, "no arguments"); err != nil {
		return err
	}
	hook, err := webhookConfig(env, hookURL, hookSecret)
	if err != nil {
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
		SubmitSubject: subject, RequestsSubject: requests, Events: true, Webhook: hook, Ingest: ing.options(), MetricsAddr: metricsAddr, Metrics: m, Gatherer: reg, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// The first signal stops the service in order (see package service);
	// the second aborts what is in flight.
	stopAbort := context.AfterFunc(env.hard, svc.Abort)
	defer stopAbort()
	log.Info("serving", slog.String("version", version), slog.String("submit_subject", subject), slog.String("requests_subject", requests))
	return svc.Run(ctx)
}

// webhookConfig reads the webhook's secret from secretFile; none without
// url. The secret is masked in everything the command writes.
func webhookConfig(env *environment, url, secretFile string) (events.WebhookConfig, error) {
	switch {
	case url == "" && secretFile == "":
		return events.WebhookConfig{}, nil
	case url == "" || secretFile == "":
		return events.WebhookConfig{}, fmt.Errorf("%w: --webhook-url and --webhook-secret-file go together", errUsage)
	}
	data, err := os.ReadFile(secretFile)
	if err != nil {
		return events.WebhookConfig{}, fmt.Errorf("%w: --webhook-secret-file: %w", errUsage, err)
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return events.WebhookConfig{}, fmt.Errorf("%w: --webhook-secret-file %s is empty", errUsage, secretFile)
	}
	if env.secrets != nil {
		env.secrets.Add(secret)
	}
	return events.WebhookConfig{URL: url, Secret: []byte(secret)}, nil
}
