package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
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
// --help prints usage and returns errHelp, which exits 0.
func (e *environment) parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(e.stderr)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := e.getenv(e.twin(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errUsage, e.twin(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: exitOK}
		}
		return &exitError{code: exitUsage}
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
