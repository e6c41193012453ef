package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"strings"

	"github.com/bulkassign/bulkassign/api"
	"github.com/bulkassign/bulkassign/events"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/resolve"
	"github.com/bulkassign/bulkassign/service"
	"github.com/bulkassign/bulkassign/web"
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
		http        httpOptions
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
	http.register(fs)
	logs.level = "info"
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 0, "no arguments"); err != nil {
		return err
	}
	token, err := http.check(env)
	if err != nil {
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
	ln, err := http.listen()
	if err != nil {
		return err
	}
	// One pace of name lookups per tenant for every import of the service;
	// one resolver (one cache) per import.
	reads, err := resolve.NewReads(resolve.ReadConfig{})
	if err != nil {
		return err
	}
	names := func() (imports.Names, error) {
		return resolve.New(resolve.Config{Lookup: client, Reads: reads, Logger: log})
	}
	svc, err := service.New(service.Config{
		Backend: b, Graph: client, Worker: work.config(log, m), Imports: imports.Config{Logger: log, Names: names},
		SubmitSubject: subject, RequestsSubject: requests, Events: true, Webhook: hook, Ingest: ing.options(), MetricsAddr: metricsAddr, Metrics: m, Gatherer: reg, Logger: log,
		HTTPListener: ln, HTTP: func(s *service.Service) (nethttp.Handler, error) {
			return api.New(api.Config{Importer: s.Importer(), Store: b.Store, Waiting: s.Waiting, Graph: client, Reads: reads, Ingest: ing.options(), Token: token, Page: web.Handler(), Logger: log})
		},
	})
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// The first signal stops the service in order (see package service);
	// the second aborts what is in flight.
	stopAbort := context.AfterFunc(env.hard, svc.Abort)
	defer stopAbort()
	log.Info("serving", slog.String("version", version), slog.String("submit_subject", subject), slog.String("requests_subject", requests))
	return svc.Run(ctx)
}

// minTokenLen is the shortest HTTP API token serve accepts.
const minTokenLen = 16

// httpOptions are serve's HTTP API flags.
type httpOptions struct {
	addr           string
	token          string
	tokenFile      string
	insecureNoAuth bool
}

func (o *httpOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "http-addr", "127.0.0.1:8080", "address of the HTTP API (/v1/…; empty: none). Beyond loopback it needs --api-token or --api-token-file (or --insecure-no-auth)")
	fs.StringVar(&o.token, "api-token", "", "bearer token the HTTP API wants on every /v1 request (prefer --api-token-file or the environment twin: a flag shows in the process list)")
	fs.StringVar(&o.tokenFile, "api-token-file", "", "file holding the HTTP API's bearer token (surrounding white space ignored)")
	fs.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "serve the HTTP API beyond loopback without a token: anyone who reaches it can create, retry and undo imports")
}

// check returns the API token (from --api-token or --api-token-file),
// masked in everything the command writes from here on, and refuses an
// API reachable beyond loopback without one (see api.CheckExposure).
func (o *httpOptions) check(env *environment) (string, error) {
	token := o.token
	if o.tokenFile != "" {
		if token != "" {
			return "", fmt.Errorf("%w: --api-token and --api-token-file: give one", errUsage)
		}
		data, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return "", fmt.Errorf("%w: --api-token-file: %v", errUsage, err)
		}
		if token = strings.TrimSpace(string(data)); token == "" {
			return "", fmt.Errorf("%w: --api-token-file %s is empty", errUsage, o.tokenFile)
		}
	}
	if token != "" && len(token) < minTokenLen {
		return "", fmt.Errorf("%w: the HTTP API token is %d characters long; use at least %d (e.g. openssl rand -hex 32)", errUsage, len(token), minTokenLen)
	}
	env.secrets.Add(token)
	if err := api.CheckExposure(o.addr, token != "", o.insecureNoAuth); err != nil {
		return "", fmt.Errorf("%w: --http-addr: %v", errUsage, err)
	}
	return token, nil
}

// listen opens the HTTP API's listener; nil without --http-addr.
func (o *httpOptions) listen() (net.Listener, error) {
	if o.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP API: %w", err)
	}
	return ln, nil
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
