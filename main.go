// Command bulkassign creates Microsoft Intune assignments in bulk through
// Microsoft Graph: CSV files are validated and enqueued as jobs in NATS
// JetStream, rate-limited workers write them to Graph exactly once, and
// every row gets a result in a report.
//
// Run "bulkassign help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/redact"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes (a public contract).
const (
	exitOK      = 0 // every row created, existing or duplicate
	exitFailed  = 1 // some row failed or in conflict (or invalid with --skip-invalid), or a runtime error
	exitUsage   = 2 // bad input or usage
	exitStopped = 130
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

func commands() []command {
	return []command{
		{"run", "ingest a CSV file, process it to the end and write the report", cmdRun},
		{"validate", "check a CSV file without enqueueing anything", cmdValidate},
		{"plan", "resolve names and show what a CSV file would change in Graph, without writing", cmdPlan},
		{"apply", "apply a plan file: write exactly its create and remove rows and report them", cmdApply},
		{"ingest", "enqueue a CSV file as an import in a running NATS", cmdIngest},
		{"serve", "run workers (and metrics) against NATS until stopped", cmdServe},
		{"status", "show imports and their progress", cmdStatus},
		{"report", "write the per-row report of an import", cmdReport},
		{"retry", "re-enqueue the failed rows of an import", cmdRetry},
		{"undo", "remove exactly the assignments an import created, as a new import", cmdUndo},
		{"demo", "run the whole pipeline against the built-in Graph simulator", cmdDemo},
		{"sim", "serve the Graph simulator over HTTP", cmdSim},
		{"version", "print the version", cmdVersion},
	}
}

func main() {
	os.Exit(realMain(context.Background(), os.Args[1:], &environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// realMain runs one command and returns the process exit code. Cancelling
// ctx is a soft stop, like the first signal.
func realMain(ctx context.Context, args []string, env *environment) int {
	// Credentials never reach the output, whatever prints them: those of
	// the environment from here on, those in URL flags once parsed.
	env.secrets = &redact.Set{}
	for _, name := range []string{"BULKASSIGN_GRAPH_TOKEN", graph.EnvClientSecret, graph.EnvCertificatePassword} {
		env.secrets.Add(env.getenv(name))
	}
	env.stdout, env.stderr = env.secrets.Writer(env.stdout), env.secrets.Writer(env.stderr)
	stdout, stderr := env.stdout, env.stderr
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "bulkassign: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}

	// First SIGINT/SIGTERM: soft stop (drain). Second: hard stop.
	soft, stopSoft := context.WithCancel(ctx)
	defer stopSoft()
	hard, stopHard := context.WithCancel(context.Background())
	defer stopHard()
	env.hard = hard
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "bulkassign: stopping (draining in-flight work; signal again to stop at once)")
			stopSoft()
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "bulkassign: stopping now")
			stopHard()
		case <-done:
		}
	}()

	err := cmd.run(soft, env, args[1:])
	return exitCode(stderr, cmd.name, err)
}

// exitCode prints err (if any) and maps it to an exit code.
func exitCode(stderr io.Writer, name string, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "bulkassign %s: %v\n", name, ee.err)
		}
		return ee.code
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "bulkassign %s: %v\n", name, err)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "bulkassign %s: stopped before the end; run it again to finish\n", name)
		return exitStopped
	default:
		fmt.Fprintf(stderr, "bulkassign %s: %v\n", name, err)
		return exitFailed
	}
}

// errUsage marks errors that are the caller's (bad flags, bad input).
var errUsage = errors.New("usage")

// exitError carries an explicit exit code; err may be nil when the command
// already printed what went wrong.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usage(w io.Writer) {
	fmt.Fprintf(w, "bulkassign %s — create Microsoft Intune assignments in bulk through Microsoft Graph\n\nUsage: bulkassign COMMAND [flags] [args]\n\nCommands:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nEvery flag has an environment twin: --write-limit is BULKASSIGN_WRITE_LIMIT.\nRun \"bulkassign COMMAND --help\" for a command's flags.\n\nExit codes: 0 all rows created/existing/duplicate; 1 some row failed (or invalid with --skip-invalid) or a runtime error; 2 bad input or usage; 130 stopped by a signal before the end.\n")
}

func cmdVersion(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet("version", "", "print the version")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "bulkassign %s\n", version)
	return nil
}
