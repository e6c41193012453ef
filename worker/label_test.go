package worker

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// labelSinks are the functions whose arguments become metric labels.
var labelSinks = map[string]bool{"handBack": true, "failed": true, "nak": true, "JobAttempt": true, "StoreError": true}

// TestLabelsAreConstants: the worker reports outcomes and store operations
// only through package label's constants (which metrics accepts: see
// label.TestEveryConstantListed and metrics.TestEveryWorkerLabelAccepted),
// never as a string written in place, which would compile (the types are
// strings) and be counted as "other".
func TestLabelsAreConstants(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var sinks int
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var written []ast.Expr // expressions that become a label
			switch n := n.(type) {
			case *ast.CallExpr:
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					if labelSinks[fn.Name] {
						sinks++
						written = n.Args
					}
				case *ast.SelectorExpr:
					if labelSinks[fn.Sel.Name] {
						sinks++
						written = n.Args
					}
					if x, ok := fn.X.(*ast.Ident); ok && x.Name == "label" {
						t.Errorf("%s: conversion to label.%s: use a constant of package label", fset.Position(n.Pos()), fn.Sel.Name)
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && (k.Name == "label" || k.Name == "op") {
					written = []ast.Expr{n.Value}
				}
			case *ast.CompositeLit:
				if typ, ok := n.Type.(*ast.Ident); ok && typ.Name == "call" && len(n.Elts) > 0 {
					written = n.Elts[:1]
				}
			}
			for _, e := range written {
				if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					t.Errorf("%s: label %s written in place: use a constant of package label", fset.Position(lit.Pos()), lit.Value)
				}
			}
			return true
		})
	}
	if sinks < 20 {
		t.Fatalf("found %d calls that report a label; the scan is broken", sinks)
	}
}

// TestStatusOutcome: a verdict that settles a row reports the row's status
// as its outcome, one that metrics accepts.
func TestStatusOutcome(t *testing.T) {
	t.Parallel()
	statuses := []jobs.Status{jobs.StatusCreated, jobs.StatusExisting, jobs.StatusDuplicate,
		jobs.StatusFailed, jobs.StatusInvalid, jobs.StatusConflict}
	for _, s := range statuses {
		o := statusOutcome(s)
		if string(o) != string(s) {
			t.Errorf("statusOutcome(%s) = %s, want %s", s, o, s)
		}
		if !slices.Contains(label.Outcomes(), o) {
			t.Errorf("statusOutcome(%s) = %s is not in label.Outcomes()", s, o)
		}
	}
}
