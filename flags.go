package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bulkassign/bulkassign/redact"
)

// environment is what a command gets from the process: streams, the
// environment lookup (for flag twins) and the hard-stop context.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// hard is cancelled on a second signal: abort in-flight work at once.
	hard context.Context
	// envPrefix replaces BULKASSIGN_ in the flags' environment twins when
	// set: sim uses BULKASSIGN_SIM_ so that it never reads the worker's
	// variables.
	envPrefix string
	// legacyTwins names the flags whose BULKASSIGN_<NAME> twin is still
	// read when envPrefix is set (the prefixed twin wins): sim's --listen
	// and --log-* kept theirs when sim got its own prefix.
	legacyTwins map[string]bool
	// secrets are masked in everything written to stdout and stderr: the
	// credentials from the environment, and those in URL flags once parsed.
	secrets *redact.Set
}

// newFlagSet returns a flag set whose usage shows the command's synopsis.
func newFlagSet(name, argsUsage, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: bulkassign %s [flags] %s\n\n%s\n\nFlags (each has an environment twin BULKASSIGN_<NAME>):\n", name, argsUsage, summary)
		fs.PrintDefaults()
	}
	return fs
}

// envName is the environment twin of a flag: --write-limit → BULKASSIGN_WRITE_LIMIT.
func envName(flagName string) string {
	return "BULKASSIGN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// twin is the environment twin parse reads for a flag: envName, with
// envPrefix in place of BULKASSIGN_ when set.
func (e *environment) twin(flagName string) string {
	if e.envPrefix == "" {
		return envName(flagName)
	}
	return e.envPrefix + strings.TrimPrefix(envName(flagName), "BULKASSIGN_")
}

// parse applies the environment twins, then the command line (which wins).
// Flags may come before, between and after the positional arguments
// ("report IMPORT --format json"); after "--" everything is positional.
// --help prints usage, with each flag's default as the command set it, and
// exits 0. The credentials in URL flags are added to e.secrets.
func (e *environment) parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(e.stderr)
	// A command may change a default after registering the flag (serve
	// logs at info): --help shows the value in effect before the
	// environment and the command line apply.
	fs.VisitAll(func(f *flag.Flag) { f.DefValue = f.Value.String() })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := e.getenv(e.twin(f.Name))
		if v == "" && e.legacyTwins[f.Name] {
			v = e.getenv(envName(f.Name))
		}
		if v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errUsage, e.twin(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return &exitError{code: exitOK}
			}
			return &exitError{code: exitUsage}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	// Leave exactly the positional arguments in fs.Args().
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return &exitError{code: exitUsage}
	}
	if e.secrets != nil {
		fs.VisitAll(func(f *flag.Flag) { e.secrets.Add(redact.URLSecrets(f.Value.String())...) })
	}
	return nil
}

// wantArgs checks that the command got between min and max positional
// arguments; what says which, for the error ("one FILE (or - for …)").
func wantArgs(fs *flag.FlagSet, min, max int, what string) error {
	if n := fs.NArg(); n < min || n > max {
		fs.Usage()
		return &exitError{code: exitUsage, err: fmt.Errorf("%s takes %s", fs.Name(), what)}
	}
	return nil
}
