package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
)

func cmdIngest(ctx context.Context, env *environment, args []string) error {
	var (
		nats  natsOptions
		g     graphOptions
		ing   ingestOptions
		logs  logOptions
		wait  bool
		quiet bool
	)
	fs := newFlagSet("ingest", "FILE|-", "Validate FILE, resolve the group, filter and policy names its rows give in each row's tenant (this needs\n"+
		"Graph credentials, as run does), and enqueue it as an import in NATS; workers (bulkassign serve) process it.\n"+
		"With --wait, follow it until every row has a result (exit as run does).")
	nats.register(fs)
	g.register(fs)
	ing.register(fs, true)
	logs.register(fs)
	fs.BoolVar(&wait, "wait", false, "wait until every row has a result, showing progress")
	fs.BoolVar(&quiet, "quiet", false, "no progress output")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one FILE (or - for standard input)"); err != nil {
		return err
	}
	log, err := logs.logger(env)
	if err != nil {
		return err
	}
	names, closeNames, err := ingestNames(env, &g, &ing, log)
	if err != nil {
		return err
	}
	defer closeNames()
	src, err := openSource(env, fs.Arg(0))
	if err != nil {
		return err
	}
	defer src.cleanup()
	b, importer, err := openBackend(ctx, env, &nats, &logs, ing.maxInFlight)
	if err != nil {
		return err
	}
	defer b.Close()
	if wait && b.Server != nil {
		// This process runs the data dir's server: no worker can reach it,
		// so waiting makes sense only when no row needs one.
		n, err := validJobs(ctx, src, &ing)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("--wait: no bulkassign serve or run is using data dir %s, so nothing would process the rows; start `bulkassign serve` first, or use `bulkassign run`", nats.dataDir)
		}
	}
	imp, err := createImport(ctx, env, importer, src, &ing, names, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "import %s: %d rows enqueued (%d jobs, %d invalid, %d duplicate)\n", imp.ID, imp.Rows, imp.Jobs, imp.Invalid, imp.Duplicates)
	if !wait {
		return nil
	}
	if err := waitImport(ctx, env, importer, imp, quiet, nil); err != nil {
		return err
	}
	return finishReport(context.WithoutCancel(ctx), env, importer, imp, defaultReportPath(src.name, "csv"), "csv")
}

// ingestNames returns how ingest resolves names: in Graph when the
// process has Graph credentials (BULKASSIGN_GRAPH_TOKEN or AZURE_*), and
// otherwise by refusing every row that gives one, saying how to give it
// access. The function returned releases the Graph client.
func ingestNames(env *environment, g *graphOptions, ing *ingestOptions, log *slog.Logger) (imports.Names, func(), error) {
	cloud, err := graph.ParseCloud(g.cloud)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --cloud: %v", errUsage, err)
	}
	if env.getenv("BULKASSIGN_GRAPH_TOKEN") == "" {
		if _, err := graph.CredentialFromEnv(cloud, nil); err != nil {
			return noGraph{why: err}, func() {}, nil
		}
	}
	client, err := g.client(env, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := ing.resolver(client, log)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return res, client.Close, nil
}

// noGraph refuses names: the command has no Graph credentials to look them
// up with (why says what is missing). Each named row is invalid.
type noGraph struct{ why error }

// Resolve implements imports.Names: a row error on the row's first name.
func (n noGraph) Resolve(_ context.Context, j jobs.Job) (jobs.Job, error) {
	col, idCol := contract.ColFilterName, contract.ColFilter
	switch {
	case j.PolicyID == "" && j.PolicyName != "":
		col, idCol = contract.ColPolicyName, contract.ColPolicy
	case j.GroupID == "" && j.GroupName != "":
		col, idCol = contract.ColGroupName, contract.ColGroup
	}
	return j, &ingest.RowError{Column: col, Reason: fmt.Sprintf("names are looked up in Graph, and this command has no Graph access (%v): "+
		"set BULKASSIGN_GRAPH_TOKEN, or %s, %s and %s (or %s) for the app, with --cloud or --graph-url for the endpoint; or give %s",
		n.why, graph.EnvTenantID, graph.EnvClientID, graph.EnvClientSecret, graph.EnvCertificatePath, idCol)}
}

// validJobs counts the rows of src that would become jobs (enqueue prints
// the invalid ones later).
func validJobs(ctx context.Context, src *source, o *ingestOptions) (int, error) {
	f, err := src.open()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errUsage, err)
	}
	defer f.Close()
	opts := o.options()
	opts.AllowUnresolved = true
	sum, err := ingest.Validate(ctx, f, opts)
	if err != nil && !errors.Is(err, ingest.ErrInvalidRows) {
		return 0, err
	}
	return sum.Valid, nil
}
