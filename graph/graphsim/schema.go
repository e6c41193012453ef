package graphsim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// schemaJSON is the part of Graph's published metadata the simulator obeys:
// per API version, the property names of every assignment entity and of
// every assignment target type (with the properties of its base types), and
// the members of the enums involved. It is derived from shared/graph-spec
// (see TestSchemaMatchesShared, which re-derives it).
//
//go:embed schema.json
var schemaJSON []byte

// schema is schemaJSON decoded.
type schema struct {
	Versions map[string]versionSchema `json:"versions"`
}

// versionSchema is the metadata of one API version.
type versionSchema struct {
	// Entities maps an assignment entity type name (no namespace) to its
	// declared property names; "id" (from entity) is implied.
	Entities map[string][]string `json:"entities"`
	// Targets maps a target type name to its property names, those of its
	// base types included.
	Targets map[string][]string `json:"targets"`
	// Enums maps an enum type name to its members.
	Enums map[string][]string `json:"enums"`
}

// metadata is the decoded schema, read once; it is never modified.
var metadata = func() schema {
	var s schema
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		panic(fmt.Sprintf("graphsim: schema.json: %v", err))
	}
	return s
}()

// graphNS is the namespace prefix of Graph type names.
const graphNS = "#microsoft.graph."

// typeName strips '#' and the namespace from a Graph type name.
func typeName(odataType string) string {
	return strings.TrimPrefix(strings.TrimPrefix(odataType, "#"), "microsoft.graph.")
}

// entityProps returns the property names an assignment entity has in
// version v (ok false when the type does not exist there).
func (s schema) entityProps(v, entity string) ([]string, bool) {
	p, ok := s.Versions[v].Entities[entity]
	return p, ok
}

// targetProps returns the property names a target type has in version v,
// inherited ones included (ok false for a type the metadata lacks).
func (s schema) targetProps(v, target string) ([]string, bool) {
	p, ok := s.Versions[v].Targets[target]
	return p, ok
}

// inEnum reports whether member belongs to enum in version v.
func (s schema) inEnum(v, enum, member string) bool {
	return slices.Contains(s.Versions[v].Enums[enum], member)
}
