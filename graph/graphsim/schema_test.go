package graphsim

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
)

var (
	sharedSpec   = flag.String("shared-spec", "../../../shared/graph-spec", "shared/graph-spec (by default beside the checkout)")
	updateSchema = flag.Bool("update-schema", false, "rewrite schema.json from -shared-spec")
)

// deriveSchema builds schema.json from the shared metadata: property names
// from the current type mappings (typemap-2026-08-names.json, which knows
// what the 2021 beta CSDL lacks, e.g. deviceConfigurationAssignment.intent),
// target base types from each version's CSDL extract.
func deriveSchema(t *testing.T, dir string) []byte {
	t.Helper()
	read := func(name string, v any) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	type names struct {
		Properties []string `json:"properties"`
	}
	var typemap map[string]json.RawMessage
	read("typemap-2026-08-names.json", &typemap)
	csdl := map[string]string{graph.V1: "v1.0-assignments.json", graph.Beta: "beta-2021-07-assignments.json"}
	out := schema{Versions: map[string]versionSchema{}}
	for v, file := range csdl {
		var tm struct {
			AssignmentEntities map[string]names    `json:"assignmentEntities"`
			Targets            map[string]names    `json:"targets"`
			Enums              map[string][]string `json:"enums"`
		}
		if err := json.Unmarshal(typemap[v], &tm); err != nil {
			t.Fatalf("typemap %s: %v", v, err)
		}
		var extract struct {
			Types map[string]struct {
				BaseType *string `json:"baseType"`
			} `json:"types"`
		}
		read(file, &extract)
		vs := versionSchema{Entities: map[string][]string{}, Targets: map[string][]string{}, Enums: tm.Enums}
		for name, e := range tm.AssignmentEntities {
			vs.Entities[name] = slices.Sorted(slices.Values(e.Properties))
		}
		for name := range tm.Targets {
			var props []string
			for cur := name; cur != ""; {
				own, ok := tm.Targets[cur]
				if !ok {
					t.Fatalf("%s: base type %s of %s has no property names", v, cur, name)
				}
				props = append(props, own.Properties...)
				ty, ok := extract.Types[cur]
				if !ok {
					t.Fatalf("%s: %s lacks target type %s", v, file, cur)
				}
				cur = ""
				if ty.BaseType != nil {
					cur = *ty.BaseType
				}
			}
			slices.Sort(props)
			vs.Targets[name] = props
		}
		out.Versions[v] = vs
	}
	b, err := json.MarshalIndent(struct {
		Comment  string                   `json:"_comment"`
		Versions map[string]versionSchema `json:"versions"`
	}{
		"Derived from shared/graph-spec: per version, the property names of each assignment entity (typemap-2026-08-names.json, " +
			"assignmentEntities; id is implied), of each target type with its base types' (typemap targets, base types from " +
			"v1.0-assignments.json / beta-2021-07-assignments.json), and the enums of the type mappings. " +
			"Regenerate: go test ./graph/graphsim -run TestSchemaMatchesShared -update-schema",
		out.Versions,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestSchemaMatchesShared re-derives schema.json from shared/graph-spec
// when it is found (and rewrites it with -update-schema).
func TestSchemaMatchesShared(t *testing.T) {
	if _, err := os.Stat(*sharedSpec); os.IsNotExist(err) {
		t.Skipf("%s not found (set -shared-spec)", *sharedSpec)
	}
	want := deriveSchema(t, *sharedSpec)
	if *updateSchema {
		if err := os.WriteFile("schema.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(schemaJSON, want) && !*updateSchema {
		t.Errorf("schema.json differs from what %s gives; run with -update-schema", *sharedSpec)
	}
}

// TestSchemaCoversRegistry checks that the metadata knows every registry
// kind's assignment type in each version the kind exists in, and every
// modelled target type: otherwise the simulator could not tell which
// properties Graph shows.
func TestSchemaCoversRegistry(t *testing.T) {
	t.Parallel()
	for _, k := range graph.Kinds() {
		for _, v := range k.Versions {
			props, ok := metadata.entityProps(v, typeName(k.AssignmentType))
			if !ok || !slices.Contains(props, "target") {
				t.Errorf("%s %s: assignment type %s: %v %v", k.Name, v, k.AssignmentType, props, ok)
			}
			for _, tt := range k.Targets {
				if _, ok := metadata.targetProps(v, typeName(tt.ODataType())); !ok {
					t.Errorf("%s %s: target %s unknown", k.Name, v, tt)
				}
			}
		}
	}
}

// TestSchemaVersions pins the facts the simulator's fidelity rests on, as
// the metadata states them.
func TestSchemaVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, version, entity string
		target                string
		want                  []string
	}{
		{"v1.0 configuration: target only", graph.V1, "deviceConfigurationAssignment", "", []string{"target"}},
		{"beta configuration: intent and source", graph.Beta, "deviceConfigurationAssignment", "", []string{"intent", "source", "sourceId", "target"}},
		{"v1.0 app: intent and settings, no source", graph.V1, "mobileAppAssignment", "", []string{"intent", "settings", "target"}},
		{"beta app", graph.Beta, "mobileAppAssignment", "", []string{"intent", "settings", "source", "sourceId", "target"}},
		{"beta script: no source", graph.Beta, "deviceManagementScriptAssignment", "", []string{"target"}},
		{"v1.0 group target: no filter", graph.V1, "", "groupAssignmentTarget", []string{"groupId"}},
		{"v1.0 exclusion inherits groupId", graph.V1, "", "exclusionGroupAssignmentTarget", []string{"groupId"}},
		{"beta group target: filter", graph.Beta, "", "groupAssignmentTarget", []string{propFilterID, propFilterType, "groupId"}},
		{"beta all devices: filter only", graph.Beta, "", "allDevicesAssignmentTarget", []string{propFilterID, propFilterType}},
		{"v1.0 all devices: nothing", graph.V1, "", "allDevicesAssignmentTarget", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var ok bool
			if tt.entity != "" {
				got, ok = metadata.entityProps(tt.version, tt.entity)
			} else {
				got, ok = metadata.targetProps(tt.version, tt.target)
			}
			if !ok || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v (%v), want %v", got, ok, tt.want)
			}
		})
	}
	if !metadata.inEnum(graph.Beta, "deviceAndAppManagementAssignmentSource", sourcePolicy) || metadata.inEnum(graph.V1, "deviceAndAppManagementAssignmentSource", sourcePolicy) {
		t.Error("the source enum must exist in beta only")
	}
}
