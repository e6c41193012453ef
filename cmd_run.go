package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/preflight"
	"github.com/bulkassign/bulkassign/service"
	"github.com/bulkassign/bulkassign/worker"
)

// runFlags are run's flags (demo reuses them).
type runFlags struct {
	nats    natsOptions
	graph   graphOptions
	work    workerOptions
	ing     ingestOptions
	log     logOptions
	report  string
	format  string
	metrics string
	quiet   bool
	// connectDeadline bounds the preflight of an unreachable tenant.
	connectDeadline time.Duration
}

func cmdRun(ctx context.Context, env *environment, args []string) error {
	f, file, err := parseRun(env, args)
	if err != nil {
		return err
	}
	log, err := f.log.logger(env)
	if err != nil {
		return err
	}
	src, err := openSource(env, file)
	if err != nil {
		return err
	}
	defer src.cleanup()
	if f.report == "" {
		f.report = defaultReportPath(src.name, f.format)
	}
	return runPipeline(ctx, env, f, src, log)
}

// parseRun reads run's flags and its FILE argument.
func parseRun(env *environment, args []string) (*runFlags, string, error) {
	var f runFlags
	fs := newFlagSet("run", "FILE|-", "Validate FILE, resolve the group, filter and policy names its rows give in each row's tenant, enqueue it,\n"+
		"process every row (add or remove) against Graph and write the per-row report: plan and apply in one step.\n"+
		"Run it again after a crash to finish the rest; run it again after it finished to check (rows report existing).")
	f.ing.register(fs, true)
	f.register(fs, "FILE")
	if err := env.parse(fs, args); err != nil {
		return nil, "", err
	}
	if err := wantArgs(fs, 1, 1, "one FILE (or - for standard input)"); err != nil {
		return nil, "", err
	}
	return &f, fs.Arg(0), nil
}

// register registers the flags of a command that processes an import in
// this process (run, apply): every run flag but the ingest ones; input
// names its argument in --report's help.
func (f *runFlags) register(fs *flag.FlagSet, input string) {
	f.nats.register(fs)
	f.graph.register(fs)
	f.work.register(fs)
	f.log.register(fs)
	fs.StringVar(&f.report, "report", "", "report file (default "+input+".report.csv; - for standard output)")
	fs.StringVar(&f.format, "format", "csv", "report format: csv or json")
	fs.StringVar(&f.metrics, "metrics-addr", "", "serve /metrics, /healthz and /readyz on this address while running (e.g. :9090)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress output")
	fs.DurationVar(&f.connectDeadline, "connect-deadline", 2*time.Minute, "before enqueueing, how long a tenant's Graph or identity provider may stay unreachable (retried meanwhile)\nbefore its rows are reported failed (graph_unreachable, identity_unreachable)")
}

func defaultReportPath(name, format string) string {
	if name == "-" {
		name = "stdin"
	}
	return name + ".report." + format
}

// runPipeline is run's body: backend, enqueue, workers, wait, report.
func runPipeline(ctx context.Context, env *environment, f *runFlags, src *source, log *slog.Logger) error {
	if err := imports.CheckFormat(f.format); err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	p, err := openPipeline(ctx, env, &f.nats, &f.graph, &f.work, f.metrics, f.ing.maxInFlight, log)
	if err != nil {
		return err
	}
	defer p.close()
	return p.run(ctx, env, f, src)
}

// run resolves the names of src's rows, checks its tenants (preflight),
// enqueues it, processes it and writes the report.
func (p *pipeline) run(ctx context.Context, env *environment, f *runFlags, src *source) error {
	names, err := f.ing.resolver(p.client, p.log)
	if err != nil {
		return err
	}
	imp, err := createImport(ctx, env, p.svc.Importer(), src, &f.ing, names, p.preflight(env, f))
	if err != nil {
		return err
	}
	if !f.quiet {
		fmt.Fprintf(env.stderr, "import %s: %d rows (%d jobs, %d invalid, %d duplicate)\n", imp.ID, imp.Rows, imp.Jobs, imp.Invalid, imp.Duplicates)
	}
	return p.process(ctx, env, imp, f.report, f.format, f.quiet)
}

// preflight returns the check of run's tenants: one token and one read
// each, as many at once as --concurrency, unreachable ones retried for up
// to --connect-deadline. It says on stderr which tenants fail and, unless
// quiet, which wait.
func (p *pipeline) preflight(env *environment, f *runFlags) checkFunc {
	cfg := preflight.Config{
		ConnectDeadline: f.connectDeadline,
		Concurrency:     f.work.concurrency,
		GraphHost:       p.graphHost,
		IdentityHost:    p.identityHost,
		Logger:          p.log,
	}
	if !f.quiet {
		cfg.OnWait = func(tenant string, err error, until time.Time) {
			fmt.Fprintf(env.stderr, "preflight: tenant %s: %v; trying again until %s (--connect-deadline)\n", tenant, err, until.Format(time.TimeOnly))
		}
	}
	return func(ctx context.Context, targets []preflight.Target) ([]preflight.Verdict, error) {
		verdicts, err := preflight.Check(ctx, p.client, targets, cfg)
		for _, v := range verdicts {
			if !v.OK() {
				fmt.Fprintf(env.stderr, "preflight: tenant %s fails (%s), its rows are reported failed: %s\n", v.Tenant, v.Code, v.Message)
			}
		}
		return verdicts, err
	}
}

// pipeline is a service run in this process for one import (run, retry
// --wait, demo): it stops when the store cannot make progress.
type pipeline struct {
	b      *service.Backend
	svc    *service.Service
	client *graph.Client
	log    *slog.Logger
	// graphHost and identityHost name the endpoints in messages.
	graphHost, identityHost string
}

// openPipeline opens the store (provisioning it) and builds the service,
// serving metrics on metricsAddr (if set) while it runs; maxInFlight
// bounds its publishes (0: the default).
func openPipeline(ctx context.Context, env *environment, n *natsOptions, g *graphOptions, work *workerOptions, metricsAddr string, maxInFlight int, log *slog.Logger) (*pipeline, error) {
	m, reg, err := newMetrics()
	if err != nil {
		return nil, err
	}
	client, err := g.client(env, m.InstrumentTransport)
	if err != nil {
		return nil, err
	}
	n.intentsMaxAge = work.intentsMaxAge()
	b, err := n.open(ctx, env.stderr, log, true)
	if err != nil {
		return nil, err
	}
	wcfg := work.config(log, m)
	wcfg.StopOnStall = true
	svc, err := service.New(service.Config{
		Backend: b, Graph: client, Worker: wcfg, Imports: imports.Config{MaxInFlight: maxInFlight, Logger: log},
		MetricsAddr: metricsAddr, Metrics: m, Gatherer: reg, Logger: log,
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	p := &pipeline{b: b, svc: svc, client: client, log: log}
	p.graphHost, p.identityHost = g.hosts(env)
	return p, nil
}

// close closes the store if the service did not run (it closes it when it
// does).
func (p *pipeline) close() { p.b.Close() }

// process runs the service until every row of imp has a result, then
// writes the report and returns the exit status as finishReport does. A
// soft stop drains the workers; a hard stop (second signal) aborts them.
// When the job store cannot make progress for --stall-timeout, the service
// stops and process returns that error (exit 1): a later run finishes the
// import.
func (p *pipeline) process(ctx context.Context, env *environment, imp jobs.Import, report, format string, quiet bool) error {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	stopAbort := context.AfterFunc(env.hard, p.svc.Abort)
	defer stopAbort()
	// The wait ends early when the service stops by itself.
	waitCtx, endWait := context.WithCancel(ctx)
	defer endWait()
	var runErr error
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		runErr = p.svc.Run(runCtx)
		endWait()
	}()
	err := waitImport(waitCtx, env, p.svc.Importer(), imp, quiet, p.svc.Waiting)
	if err == nil {
		err = finishReport(context.WithoutCancel(ctx), env, p.svc.Importer(), imp, report, format)
	}
	stop()
	<-ran
	switch {
	case errors.Is(runErr, worker.ErrStalled):
		return fmt.Errorf("%w\nnothing recorded so far is lost: once the cause is fixed, running the command again finishes the import", runErr)
	case runErr != nil:
		return runErr
	}
	return err
}

// finishReport writes the report and the summary, and returns the exit
// status: 0 when every row is created/existing/duplicate/removed/absent, 1
// otherwise (failed, invalid, conflict). The summary goes to stdout, or to stderr
// when the report does (path "-"), so that stdout is exactly the report.
func finishReport(ctx context.Context, env *environment, importer *imports.Importer, imp jobs.Import, path, format string) error {
	p, err := writeReport(ctx, env, importer, imp, path, format)
	if err != nil {
		return err
	}
	if path == "-" {
		fmt.Fprintf(env.stderr, "import %s: %d rows: %s\n", imp.ID, len(p.Results), p.Counts)
	} else {
		fmt.Fprintf(env.stdout, "import %s: %d rows: %s\nreport: %s\n", imp.ID, len(p.Results), p.Counts, path)
	}
	if !p.Counts.OK() {
		return &exitError{code: exitFailed}
	}
	return nil
}

// writeReport writes the report of imp to path (standard output for "-"),
// through a temporary file renamed into place, and returns where imp
// stands.
func writeReport(ctx context.Context, env *environment, importer *imports.Importer, imp jobs.Import, path, format string) (imports.Progress, error) {
	if path == "-" {
		return importer.Report(ctx, imp, env.stdout, format)
	}
	var p imports.Progress
	err := writeFile(path, 0o666, func(w io.Writer) error {
		var err error
		p, err = importer.Report(ctx, imp, w, format)
		return err
	})
	if err != nil {
		return p, fmt.Errorf("write report: %w", err)
	}
	return p, nil
}

// writeFile writes path through a temporary file beside it renamed into
// place, so that a reader never sees half a file; perm is the new file's
// mode before the umask.
func writeFile(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
