package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphsim"
)

// simOptions configure the Graph simulator (sim and demo).
type simOptions struct {
	window      time.Duration
	appWrites   int
	retryAfter  string
	faultRate   float64
	resetAfter  float64
	resetBefore float64
	throttle    float64
	latency     time.Duration
	seed        int64
}

// simDefaults are the simulator flags' defaults of sim: Intune's limits,
// no faults.
func simDefaults() simOptions {
	return simOptions{window: 20 * time.Second, appWrites: 100, retryAfter: "seconds", seed: 1}
}

// register adds the simulator flags, named prefix+name, with def's values
// as defaults (so that --help shows what the command really uses).
func (o *simOptions) register(fs *flag.FlagSet, prefix string, def simOptions) {
	fs.DurationVar(&o.window, prefix+"window", def.window, "simulator: throttling window")
	fs.IntVar(&o.appWrites, prefix+"write-limit", def.appWrites, "simulator: writes per window per app per tenant (the tenant limit is twice that)")
	fs.StringVar(&o.retryAfter, prefix+"retry-after", def.retryAfter, "simulator: Retry-After on 429: seconds, fractional, date or absent")
	fs.Float64Var(&o.faultRate, prefix+"fault-rate", def.faultRate, "simulator: fraction of writes answered 503/504")
	fs.Float64Var(&o.resetAfter, prefix+"reset-after-rate", def.resetAfter, "simulator: fraction of writes applied and then the connection reset")
	fs.Float64Var(&o.resetBefore, prefix+"reset-before-rate", def.resetBefore, "simulator: fraction of writes whose connection is reset before applying")
	fs.Float64Var(&o.throttle, prefix+"throttle-rate", def.throttle, "simulator: fraction of writes answered 429 at random")
	fs.DurationVar(&o.latency, prefix+"latency", def.latency, "simulator: added latency per request (with jitter of half as much)")
	fs.Int64Var(&o.seed, prefix+"seed", def.seed, "simulator: random seed of fault choices")
}

func (o *simOptions) config(log *slog.Logger) (graphsim.Config, error) {
	modes := map[string]graphsim.RetryAfterMode{
		"seconds": graphsim.RetryAfterSeconds, "fractional": graphsim.RetryAfterFractional,
		"date": graphsim.RetryAfterDate, "absent": graphsim.RetryAfterAbsent,
	}
	mode, ok := modes[o.retryAfter]
	if !ok {
		return graphsim.Config{}, fmt.Errorf("%w: retry-after %q (seconds, fractional, date or absent)", errUsage, o.retryAfter)
	}
	cfg := graphsim.Config{
		Window:             o.window,
		AppWriteLimit:      o.appWrites,
		TenantWriteLimit:   2 * o.appWrites,
		AppRequestLimit:    10 * o.appWrites,
		TenantRequestLimit: 20 * o.appWrites,
		RetryAfter:         mode,
		FaultRate:          o.faultRate,
		ResetAfterRate:     o.resetAfter,
		ResetBeforeRate:    o.resetBefore,
		ThrottleRate:       o.throttle,
		RetryAfterMin:      time.Second,
		RetryAfterMax:      3 * time.Second,
		Latency:            o.latency,
		Jitter:             o.latency / 2,
		Seed:               o.seed,
		Logger:             log,
	}
	if err := cfg.Validate(); err != nil { // e.g. --fault-rate 2: refused, not a panic in New
		return graphsim.Config{}, fmt.Errorf("%w: simulator flags: %v", errUsage, err)
	}
	return cfg, nil
}

// startSim serves a simulator on addr until ctx is done; it returns the
// base URL and a function that waits for the server to stop.
func startSim(ctx context.Context, addr string, cfg graphsim.Config, log *slog.Logger) (string, *graphsim.Server, func() error, error) {
	sim := graphsim.New(cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: listen %s: %v", errUsage, addr, err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil {
			log.Warn("simulator shutdown", slog.Any("error", err))
		}
	}()
	wait := func() error {
		<-stopped
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return "http://" + ln.Addr().String(), sim, wait, nil
}

// simEnvPrefix is the prefix of sim's environment twins
// (BULKASSIGN_SIM_WRITE_LIMIT, the same names as demo's --sim-* flags): a
// BULKASSIGN_WRITE_LIMIT meant for the worker never throttles the
// simulator.
const simEnvPrefix = "BULKASSIGN_SIM_"

func cmdSim(ctx context.Context, env *environment, args []string) error {
	var (
		o      simOptions
		logs   logOptions
		listen string
	)
	const summary = "Serve the Graph simulator (assignments for every registry kind, groups, assignment filters and named\n" +
		"policies per tenant, Intune-like throttling, faults) until stopped. Point bulkassign at it with --graph-url\n" +
		"and BULKASSIGN_GRAPH_TOKEN=anything. Set tenants up through its JSON admin API: POST /_sim/tenants/{tenant}/groups,\n" +
		"/filters, /policies or /assignments; GET /_sim/tenants/{tenant}/assignments?kind=K&policyId=P; GET /_sim/stats;\n" +
		"POST /_sim/reset."
	fs := newFlagSet("sim", "", summary)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bulkassign sim [flags]\n\n%s\n\nFlags (each has an environment twin %s<NAME>; the worker's BULKASSIGN_<NAME> are not read):\n", summary, simEnvPrefix)
		fs.PrintDefaults()
	}
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "listen address")
	o.register(fs, "", simDefaults())
	logs.register(fs)
	simEnv := *env
	simEnv.envPrefix = simEnvPrefix
	if err := simEnv.parse(fs, args); err != nil {
		return err
	}
	log, err := logs.logger(env)
	if err != nil {
		return err
	}
	cfg, err := o.config(log)
	if err != nil {
		return err
	}
	url, _, wait, err := startSim(ctx, listen, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Graph simulator listening on %s (Ctrl-C to stop)\n", url)
	return wait()
}
