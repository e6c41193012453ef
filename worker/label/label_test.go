package label

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// declared returns the string constants label.go declares, by type name:
// what a reader adds when they add a label.
func declared(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "label.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			typ, ok := vs.Type.(*ast.Ident)
			if !ok {
				t.Fatalf("constant %s has no type: every label must be typed", vs.Names[0])
			}
			for i, name := range vs.Names {
				v, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				if out[typ.Name] == nil {
					out[typ.Name] = map[string]string{}
				}
				out[typ.Name][name.Name] = v
			}
		}
	}
	return out
}

// TestEveryConstantListed: a constant added without adding it to Outcomes
// or StoreOps would be counted as "other" by metrics; values are unique.
func TestEveryConstantListed(t *testing.T) {
	t.Parallel()
	consts := declared(t)
	tests := []struct {
		typ    string
		listed []string
	}{
		{"Outcome", asStrings(Outcomes())},
		{"StoreOp", asStrings(StoreOps())},
	}
	for _, tt := range tests {
		if len(consts[tt.typ]) == 0 {
			t.Fatalf("no %s constants found in label.go", tt.typ)
		}
		for name, v := range consts[tt.typ] {
			if !slices.Contains(tt.listed, v) {
				t.Errorf("%s %s = %q is not listed by %ss()", tt.typ, name, v, tt.typ)
			}
		}
		if len(tt.listed) != len(consts[tt.typ]) {
			t.Errorf("%ss() lists %d values, label.go declares %d %s constants (a duplicate?)",
				tt.typ, len(tt.listed), len(consts[tt.typ]), tt.typ)
		}
		seen := map[string]bool{}
		for _, v := range tt.listed {
			if seen[v] {
				t.Errorf("%ss() lists %q twice", tt.typ, v)
			}
			seen[v] = true
		}
	}
}

func asStrings[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}
