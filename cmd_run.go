package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/metrics"
	"github.com/bulkassign/bulkassign/preflight"
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
	fs := newFlagSet("run", "FILE|-", "Validate FILE, enqueue it, process every row against Graph and write the per-row report.\nRun it again after a crash to finish the rest; run it again after it finished to check (rows report existing).")
	f.nats.register(fs)
	f.graph.register(fs)
	f.work.register(fs)
	f.ing.register(fs, true)
	f.log.register(fs)
	fs.StringVar(&f.report, "report", "", "report file (default FILE.report.csv; - for standard output)")
	fs.StringVar(&f.format, "format", "csv", "report format: csv or json")
	fs.StringVar(&f.metrics, "metrics-addr", "", "serve /metrics, /healthz and /readyz on this address while running (e.g. :9090)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress output")
	fs.DurationVar(&f.connectDeadline, "connect-deadline", 2*time.Minute, "before enqueueing, how long a tenant's Graph or identity provider may stay unreachable (retried meanwhile)\nbefore its rows are reported failed (graph_unreachable, identity_unreachable)")
	if err := env.parse(fs, args); err != nil {
		return nil, "", err
	}
	if err := wantArgs(fs, 1, 1, "one FILE (or - for standard input)"); err != nil {
		return nil, "", err
	}
	return &f, fs.Arg(0), nil
}

func defaultReportPath(name, format string) string {
	if name == "-" {
		name = "stdin"
	}
	return name + ".report." + format
}

// runPipeline is run's body: backend, enqueue, workers, wait, report.
func runPipeline(ctx context.Context, env *environment, f *runFlags, src *source, log *slog.Logger) error {
	if f.format != "csv" && f.format != "json" {
		return fmt.Errorf("%w: --format %q (csv or json)", errUsage, f.format)
	}
	p, err := openPipeline(ctx, env, &f.nats, &f.graph, &f.work, log)
	if err != nil {
		return err
	}
	defer p.close()
	return p.run(ctx, env, f, src)
}

// run checks the tenants of src (preflight), enqueues it, processes it and
// writes the report.
func (p *pipeline) run(ctx context.Context, env *environment, f *runFlags, src *source) error {
	imp, err := enqueue(ctx, env, p.b, src, &f.ing, p.preflight(env, f))
	if err != nil {
		return err
	}
	if !f.quiet {
		fmt.Fprintf(env.stderr, "import %s: %d rows (%d jobs, %d invalid, %d duplicate)\n", imp.ID, imp.Rows, imp.Jobs, imp.Invalid, imp.Duplicates)
	}
	return p.process(ctx, env, imp, f.metrics, f.report, f.format, f.quiet)
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

// pipeline is what processing an import in this process needs: the store,
// the Graph client, metrics and the worker's settings.
type pipeline struct {
	b      *backend
	client *graph.Client
	m      *metrics.Metrics
	reg    *prometheus.Registry
	work   *workerOptions
	log    *slog.Logger
	// graphHost and identityHost name the endpoints in messages.
	graphHost, identityHost string
}

func openPipeline(ctx context.Context, env *environment, n *natsOptions, g *graphOptions, work *workerOptions, log *slog.Logger) (*pipeline, error) {
	m, reg, err := newMetrics()
	if err != nil {
		return nil, err
	}
	client, err := g.client(env, m.InstrumentTransport)
	if err != nil {
		return nil, err
	}
	n.intentsMaxAge = work.intentsMaxAge()
	b, err := n.open(ctx, env.stderr, log, provision)
	if err != nil {
		return nil, err
	}
	m.WatchQueueDepth(b.store.PendingTenants)
	p := &pipeline{b: b, client: client, m: m, reg: reg, work: work, log: log}
	p.graphHost, p.identityHost = g.hosts(env)
	return p, nil
}

func (p *pipeline) close() { p.b.close() }

// process runs workers in this process until every row of imp has a
// result (serving metrics on metricsAddr if set), then writes the report
// and returns the exit status as finishReport does. A soft stop drains the
// workers; a hard stop (second signal) aborts them. When the job store
// cannot make progress for --stall-timeout, the workers stop and process
// returns that error (exit 1): a later run finishes the import.
func (p *pipeline) process(ctx context.Context, env *environment, imp jobs.Import, metricsAddr, report, format string, quiet bool) error {
	cfg := p.work.config(p.log, p.m)
	// A store that cannot make progress ends the run. Requests still
	// waiting on it (final writes, lease renewals) would each wait for
	// their timeout: closing the connection ends them at once.
	cfg.StopOnStall = true
	cfg.OnStall = func(*worker.StallError) { p.b.nc.Close() }
	w, err := worker.New(p.b.store, p.client, cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// The workers' context ends when the import is done or on a soft stop;
	// the wait ends early when the workers stop by themselves.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	waitCtx, stopWait := context.WithCancelCause(ctx)
	defer stopWait(nil)
	var wg sync.WaitGroup
	var workErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		workErr = runWorker(workCtx, env.hard, w)
		if workErr != nil {
			stopWait(workErr)
		}
	}()
	if metricsAddr != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := metrics.Serve(workCtx, metricsAddr, metrics.Handler(p.reg, nil), p.log); err != nil {
				p.log.Error("metrics server", slog.Any("error", err))
			}
		}()
	}
	waitErr := waitImport(waitCtx, env, p.b.store, imp, quiet, w.Waiting)
	stopWork()
	wg.Wait()
	switch {
	case errors.Is(workErr, worker.ErrStalled):
		return fmt.Errorf("%w\nnothing recorded so far is lost: once the cause is fixed, running the command again finishes the import", workErr)
	case workErr != nil && !errors.Is(workErr, context.Canceled):
		return workErr
	case waitErr != nil:
		return waitErr
	}
	return finishReport(context.WithoutCancel(ctx), env, p.b.store, imp, report, format, quiet)
}

// missingCheckInterval is how often waitImport checks that the rows still
// without a result can get one.
const missingCheckInterval = 5 * time.Second

// waitImport blocks until every row of imp has a result, showing progress
// and, when this process runs the workers, the tenants that wait (waiting,
// nil otherwise). It fails (exit 1) when rows lack a result that can no longer come: no
// job of the import's tenants is queued any more.
func waitImport(ctx context.Context, env *environment, store *jobs.Store, imp jobs.Import, quiet bool, waiting func() []worker.TenantState) error {
	p := newProgress(env.stderr, imp.Rows, quiet || !isTerminal(env.stderr), quiet, waiting)
	defer p.stop()
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	complete := make(chan struct{})
	var once sync.Once
	seen := 0
	errc := make(chan error, 1)
	go func() {
		errc <- store.WatchResults(watchCtx, imp.ID, func(r jobs.Result) {
			seen++
			p.add(r.Status)
			if seen >= imp.Rows {
				once.Do(func() { close(complete) })
			}
		})
	}()
	if imp.Rows == 0 {
		once.Do(func() { close(complete) })
	}
	check := time.NewTicker(missingCheckInterval)
	defer check.Stop()
	for {
		select {
		case <-complete:
			cancel()
			<-errc
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch results: %w", err)
		case <-ctx.Done():
			cancel()
			<-errc
			return ctx.Err()
		case <-check.C:
			if err := checkMissing(ctx, store, imp); err != nil {
				cancel()
				<-errc
				return err
			}
		}
	}
}

// checkMissing returns an error naming the rows of imp that lack a result
// which can no longer come, or nil. A failing read is not an error here:
// the workers' stall detection reports a store that cannot make progress.
func checkMissing(ctx context.Context, store *jobs.Store, imp jobs.Import) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	prog, err := store.Progress(ctx, imp)
	if err != nil || prog.Missing == 0 {
		return nil
	}
	return &exitError{code: exitFailed, err: errors.New(missingText(imp, prog))}
}

// missingText names the rows of imp that have no result and will get none.
func missingText(imp jobs.Import, prog jobs.ImportProgress) string {
	rows := "rows " + prog.MissingRows.Format(20)
	if prog.MissingRows.Len() == 0 {
		rows = "the import does not record which rows"
	}
	return fmt.Sprintf("import %s: %d of %d rows have no result and will get none (no job of theirs is left in the queue; "+
		"their results or jobs were lost, e.g. in a damaged block of the store): %s. "+
		"Run the same file again to redo them: rows already written are recognised, not written twice",
		imp.ID, prog.Missing, imp.Rows, rows)
}

// finishReport writes the report and the summary, and returns the exit
// status: 0 when every row is created/existing/duplicate/removed/absent, 1
// otherwise (failed, invalid, conflict). The summary goes to stdout, or to stderr
// when the report does (path "-"), so that stdout is exactly the report.
func finishReport(ctx context.Context, env *environment, store *jobs.Store, imp jobs.Import, path, format string, quiet bool) error {
	results, err := store.Results(ctx, imp.ID)
	if err != nil {
		return err
	}
	if err := writeReportFile(env, path, format, results); err != nil {
		return err
	}
	counts := map[jobs.Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	var parts []string
	for _, s := range []jobs.Status{jobs.StatusCreated, jobs.StatusExisting, jobs.StatusDuplicate, jobs.StatusFailed, jobs.StatusInvalid, jobs.StatusConflict,
		jobs.StatusRemoved, jobs.StatusAbsent} {
		parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
	}
	if path == "-" {
		fmt.Fprintf(env.stderr, "import %s: %d rows: %s\n", imp.ID, len(results), strings.Join(parts, ", "))
	} else {
		fmt.Fprintf(env.stdout, "import %s: %d rows: %s\nreport: %s\n", imp.ID, len(results), strings.Join(parts, ", "), path)
	}
	if counts[jobs.StatusFailed] > 0 || counts[jobs.StatusInvalid] > 0 || counts[jobs.StatusConflict] > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}

func writeReportFile(env *environment, path, format string, results []jobs.Result) error {
	if path == "-" {
		return jobs.WriteReport(env.stdout, format, results)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := jobs.WriteReport(f, format, results); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write report: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write report: %w", err)
	}
	return os.Rename(tmp, path)
}
