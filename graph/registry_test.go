package graph

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The seed documents (shared/seeds, copied to testdata/seeds) and the spec
// extract (testdata/spec-assignments.json, derived from shared/graph-spec)
// are the evidence the registry is checked against.

// sharedDir is where a checkout keeps shared/ (beside the repository).
const sharedDir = "../../shared"

var (
	// seedPostLine is a documented "POST /deviceManagement/…" request line.
	seedPostLine = regexp.MustCompile(`(?m)^POST (/device(?:App)?Management/\S+)\s*$`)
	// seedExample is a documented example: POST URL, headers, blank line,
	// JSON body, end of code block.
	seedExample = regexp.MustCompile("(?s)POST https://graph\\.microsoft\\.com/\\S*?/(device(?:App)?Management/\\S+?)/assignments\\n.*?\\n\\n(\\{.*?\\})\\n```")
	// idSegment is a path template's key segment.
	idSegment = regexp.MustCompile(`\{[A-Za-z0-9]+\}`)
)

func readSeeds(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/seeds/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed files: %v", err)
	}
	out := make(map[string]string)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

// TestSeedCopiesMatchShared keeps testdata/seeds honest: when shared/ is
// beside the checkout, the copies must be byte-identical to it.
func TestSeedCopiesMatchShared(t *testing.T) {
	t.Parallel()
	shared, err := filepath.Glob(filepath.Join(sharedDir, "seeds", "*.txt"))
	if err != nil || len(shared) == 0 {
		t.Skip("shared/seeds not beside the checkout; testdata copies are used as they are")
	}
	copies := readSeeds(t)
	if len(copies) != len(shared) {
		t.Errorf("%d seed copies, %d shared seeds", len(copies), len(shared))
	}
	for _, f := range shared {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if copies[filepath.Base(f)] != string(want) {
			t.Errorf("testdata/seeds/%s differs from %s", filepath.Base(f), f)
		}
	}
}

// seedPaths returns every documented POST path, with the "/$ref" of seed
// 003 removed: GRAPH.md treats it as a doc error (the seed's own example
// posts to …/assignments).
func seedPaths(t *testing.T) map[string][]string {
	t.Helper()
	out := make(map[string][]string) // path template → seed files
	for name, text := range readSeeds(t) {
		for _, m := range seedPostLine.FindAllStringSubmatch(text, -1) {
			p := strings.TrimSuffix(m[1], "/$ref")
			out[p] = append(out[p], name)
		}
	}
	return out
}

// kindOfPath finds the registry kind of a path template
// "/{root}/{collection}/{xId}/{subPath}/assignments".
func kindOfPath(t *testing.T, p string) *Kind {
	t.Helper()
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) < 4 || segs[len(segs)-1] != "assignments" || !idSegment.MatchString(segs[2]) {
		t.Fatalf("unexpected seed path %q", p)
	}
	name := strings.Join(append([]string{segs[1]}, segs[3:len(segs)-1]...), "/")
	k, err := LookupKind(name)
	if err != nil {
		t.Fatalf("seed path %q: %v", p, err)
	}
	if k.Root != segs[0] {
		t.Fatalf("seed path %q: kind %s has root %s", p, k.Name, k.Root)
	}
	return k
}

func TestRegistryCoversSeedPaths(t *testing.T) {
	t.Parallel()
	paths := seedPaths(t)
	// Seed 001 lists eight paths (deviceConfigurations and seven nested
	// certificate profiles), seed 000 deviceConfigurations again, seed 003
	// deviceEnrollmentConfigurations.
	if len(paths) != 9 {
		t.Fatalf("found %d distinct seed paths, want 9: %v", len(paths), paths)
	}
	const pid = validGUID + "_DefaultLimit"
	for p, seeds := range paths {
		k := kindOfPath(t, p)
		want := idSegment.ReplaceAllString(p, pid)
		got, err := k.AssignmentsPath(pid)
		if err != nil || got != want {
			t.Errorf("%v: kind %s: AssignmentsPath = %q, %v; want %q", seeds, k.Name, got, err, want)
		}
		if k.SubPath != "" && (k.Strategy != StrategyCreate || !k.HasVersion(Beta) || k.HasVersion(V1)) {
			t.Errorf("nested kind %s: strategy %s versions %v; the seed documents beta POST …/assignments", k.Name, k.Strategy, k.Versions)
		}
	}
}

// specExtract is testdata/spec-assignments.json.
type specExtract struct {
	Versions map[string][]specPath `json:"versions"`
}

type specPath struct {
	Path            string      `json:"path"`
	AssignmentsType string      `json:"assignmentsType"`
	Assign          *specAssign `json:"assign"`
}

// specAssign is an assign action as both the shared files and the extract
// write it.
type specAssign struct {
	Parameters []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"parameters"`
	ReturnType *string `json:"returnType"`
	DeclaredOn string  `json:"declaredOn"`
}

func readSpec(t *testing.T) specExtract {
	t.Helper()
	b, err := os.ReadFile("testdata/spec-assignments.json")
	if err != nil {
		t.Fatal(err)
	}
	var s specExtract
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Versions[V1]) == 0 || len(s.Versions[Beta]) == 0 {
		t.Fatal("spec extract lacks a version")
	}
	return s
}

// TestSpecExtractMatchesShared re-derives testdata/spec-assignments.json
// from shared/graph-spec when it is beside the checkout.
func TestSpecExtractMatchesShared(t *testing.T) {
	t.Parallel()
	files := map[string]string{V1: "v1.0-assignments.json", Beta: "beta-2021-07-assignments.json"}
	got := readSpec(t)
	for v, f := range files {
		b, err := os.ReadFile(filepath.Join(sharedDir, "graph-spec", f))
		if os.IsNotExist(err) {
			t.Skip("shared/graph-spec not beside the checkout")
		}
		if err != nil {
			t.Fatal(err)
		}
		var full struct {
			Paths []struct {
				Path        string `json:"path"`
				Assignments *struct {
					ElementType string `json:"elementType"`
				} `json:"assignments"`
				Assign json.RawMessage `json:"assign"`
			} `json:"paths"`
		}
		if err := json.Unmarshal(b, &full); err != nil {
			t.Fatal(err)
		}
		if len(full.Paths) != len(got.Versions[v]) {
			t.Fatalf("%s: %d paths in shared, %d in the extract", v, len(full.Paths), len(got.Versions[v]))
		}
		for i, p := range full.Paths {
			e := got.Versions[v][i]
			at := ""
			if p.Assignments != nil {
				at = p.Assignments.ElementType
			}
			if e.Path != p.Path || e.AssignmentsType != at || (len(p.Assign) > 0 && string(p.Assign) != "null") != (e.Assign != nil) {
				t.Errorf("%s: path %d: extract %+v, shared %s", v, i, e, p.Path)
				continue
			}
			if e.Assign == nil {
				continue
			}
			var a specAssign
			if err := json.Unmarshal(p.Assign, &a); err != nil {
				t.Fatal(err)
			}
			ea, _ := json.Marshal(e.Assign)
			sa, _ := json.Marshal(a)
			if !jsonEqual(t, ea, sa) {
				t.Errorf("%s %s: assign %s, shared %s", v, p.Path, ea, sa)
			}
		}
	}
}

// kindTemplate is the kind's policy path as the spec writes it.
func kindTemplate(k *Kind) string {
	p := "/" + k.Root + "/" + k.Collection + "/{id}"
	if k.SubPath != "" {
		p += "/" + k.SubPath
	}
	return p
}

func TestRegistryAgreesWithSpec(t *testing.T) {
	t.Parallel()
	spec := readSpec(t)
	index := map[string]map[string]specPath{}
	for v, paths := range spec.Versions {
		index[v] = map[string]specPath{}
		for _, p := range paths {
			index[v][p.Path] = p
		}
	}
	seeds := seedPaths(t)
	var notInSpec []string
	for _, k := range Kinds() {
		tpl := kindTemplate(k)
		inV1, okV1 := index[V1][tpl]
		inBeta, okBeta := index[Beta][tpl]
		if !okV1 && !okBeta {
			// Only the seed-documented nested certificate paths may be
			// missing from the 2021 beta metadata.
			seedTpl := "/" + k.Root + "/" + k.Collection + "/{deviceConfigurationId}/" + k.SubPath + "/assignments"
			if _, ok := seeds[seedTpl]; !ok {
				t.Errorf("kind %s: %s is neither in the spec nor in a seed", k.Name, tpl)
			}
			notInSpec = append(notInSpec, k.Name)
			continue
		}
		// The registry's versions are exactly where the spec has the path
		// (the v1.0 file is current; beta-only kinds are absent from it).
		if okV1 != k.HasVersion(V1) || okBeta != k.HasVersion(Beta) {
			t.Errorf("kind %s: versions %v; spec has v1.0=%v beta=%v", k.Name, k.Versions, okV1, okBeta)
		}
		for v, p := range map[string]specPath{V1: inV1, Beta: inBeta} {
			if p.Path == "" {
				continue
			}
			if want := "#microsoft.graph." + p.AssignmentsType; k.AssignmentType != want {
				t.Errorf("kind %s (%s): AssignmentType %s, spec %s", k.Name, v, k.AssignmentType, want)
			}
			if p.Assign == nil {
				if k.CanMerge() {
					t.Errorf("kind %s (%s): AssignKey %q but the spec has no assign action", k.Name, v, k.AssignKey)
				}
				continue
			}
			// The body key is the parameter typed as a collection of the
			// kind's assignment entity (not a legacy group assignment, not
			// Autopilot's deviceIds).
			wantKey := ""
			for _, prm := range p.Assign.Parameters {
				if prm.Type == "Collection("+p.AssignmentsType+")" {
					wantKey = prm.Name
				}
			}
			if k.AssignKey != wantKey {
				t.Errorf("kind %s (%s): AssignKey %q, spec %q", k.Name, v, k.AssignKey, wantKey)
			}
			if k.CanMerge() && k.AssignReturnsValue != (p.Assign.ReturnType != nil) {
				t.Errorf("kind %s (%s): AssignReturnsValue %v, spec returnType %v", k.Name, v, k.AssignReturnsValue, p.Assign.ReturnType)
			}
			if k.AssignCast != "" && k.AssignCast != "microsoft.graph."+p.Assign.DeclaredOn {
				t.Errorf("kind %s (%s): AssignCast %q, spec declares assign on %s", k.Name, v, k.AssignCast, p.Assign.DeclaredOn)
			}
		}
	}
	sort.Strings(notInSpec)
	want := []string{
		"deviceConfigurations/identityCertificate",
		"deviceConfigurations/identityCertificate/rootCertificate",
		"deviceConfigurations/rootCertificate",
	}
	if !slices.Equal(notInSpec, want) {
		t.Errorf("kinds missing from the spec = %v, want exactly the seed-only nested paths %v", notInSpec, want)
	}
}

func TestLookupKind(t *testing.T) {
	t.Parallel()
	tests := []struct{ given, want string }{
		{"deviceConfigurations", "deviceConfigurations"},
		{"DEVICECONFIGURATIONS", "deviceConfigurations"},
		{" /deviceManagement/deviceCompliancePolicies/ ", "deviceCompliancePolicies"},
		{"deviceAppManagement/mobileApps", "mobileApps"},
		{"deviceConfigurations/microsoft.graph.iosScepCertificateProfile/rootCertificate", "deviceConfigurations/microsoft.graph.iosScepCertificateProfile/rootCertificate"},
	}
	for _, tt := range tests {
		k, err := LookupKind(tt.given)
		if err != nil || k.Name != tt.want {
			t.Errorf("LookupKind(%q) = %v, %v; want %s", tt.given, k, err, tt.want)
		}
	}
	for _, bad := range []string{"", "devices", "deviceConfigurations/../mobileApps", "deviceManagement"} {
		if _, err := LookupKind(bad); err == nil {
			t.Errorf("LookupKind(%q) succeeded", bad)
		}
	}
	names := map[string]bool{}
	for _, k := range Kinds() {
		if names[strings.ToLower(k.Name)] {
			t.Errorf("duplicate kind %s", k.Name)
		}
		names[strings.ToLower(k.Name)] = true
		if k.Strategy == StrategyMerge && !k.CanMerge() {
			t.Errorf("kind %s: merge strategy without an /assign key", k.Name)
		}
	}
}

// seedExamples returns each seed's example request bodies with the kind
// name from the example's URL.
func seedExamples(t *testing.T) []struct{ seed, kind, body string } {
	t.Helper()
	var out []struct{ seed, kind, body string }
	for name, text := range readSeeds(t) {
		for _, m := range seedExample.FindAllStringSubmatch(text, -1) {
			segs := strings.Split(m[1], "/")
			kind := strings.Join(append([]string{segs[1]}, segs[3:]...), "/")
			out = append(out, struct{ seed, kind, body string }{name, kind, m[2]})
		}
	}
	if len(out) < 3 {
		t.Fatalf("found %d seed examples, want one per seed document (at least 3)", len(out))
	}
	return out
}

// TestSeedBodies compares the registry's bodies with the seeds' example
// request bodies as JSON values.
//
// The seeds' target is the abstract base type
// "microsoft.graph.deviceAndAppManagementAssignmentTarget", written without
// '#'. bulkassign never sends it (Validate refuses a target type it does
// not model, checked below), so no registry body can contain it verbatim.
// Two honest comparisons remain:
//
//  1. Shape: the registry's body for a field-less concrete target
//     (allDevices) must equal the seed body once the target's @odata.type is
//     replaced by the seed's, spelled with '#' — GRAPH.md's rule for the
//     '#' ("send it with '#'"; the seed docs write the same type both
//     ways). Any extra property (id, intent, source, filter fields), a
//     wrong assignment type or a missing '#' on it breaks this.
//  2. Round trip: ParseAssignment(seed body) keeps the unmodelled target as
//     given, and the merge path (AssignBody) re-sends it unchanged inside
//     the kind's body key, so existing assignments of types bulkassign does
//     not model survive a merge.
func TestSeedBodies(t *testing.T) {
	t.Parallel()
	for _, ex := range seedExamples(t) {
		k, err := LookupKind(ex.kind)
		if err != nil {
			t.Fatalf("%s: %v", ex.seed, err)
		}
		var seed map[string]any
		if err := json.Unmarshal([]byte(ex.body), &seed); err != nil {
			t.Fatalf("%s: %v", ex.seed, err)
		}
		seedTarget := seed["target"].(map[string]any)["@odata.type"].(string)

		// 1. Shape.
		body, err := k.Body(Assignment{Target: Target{Type: TargetAllDevices}}, Beta)
		if err != nil {
			t.Fatalf("%s: %v", ex.seed, err)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		got["target"].(map[string]any)["@odata.type"] = "#" + strings.TrimPrefix(seedTarget, "#")
		want := seed
		want["target"].(map[string]any)["@odata.type"] = "#" + strings.TrimPrefix(seedTarget, "#")
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !jsonEqual(t, gb, wb) {
			t.Errorf("%s (%s): registry body %s, seed body %s", ex.seed, k.Name, gb, wb)
		}

		// 2. Round trip.
		a, err := ParseAssignment([]byte(ex.body))
		if err != nil {
			t.Fatalf("%s: %v", ex.seed, err)
		}
		if a.ID != "" || a.Intent != "" || a.Target.GroupID != "" || a.Target.Type != TargetType(seedTarget) {
			t.Errorf("%s: parsed %+v", ex.seed, a)
		}
		if _, err := k.Body(a, Beta); err == nil {
			t.Errorf("%s: the abstract target type was accepted for sending", ex.seed)
		}
		if !k.CanMerge() {
			continue
		}
		ab, err := k.AssignBody([]Assignment{a}, Beta)
		if err != nil {
			t.Fatalf("%s: %v", ex.seed, err)
		}
		wantAssign, _ := json.Marshal(map[string][]json.RawMessage{k.AssignKey: {json.RawMessage(ex.body)}})
		if !jsonEqual(t, ab, wantAssign) {
			t.Errorf("%s: AssignBody %s, want %s", ex.seed, ab, wantAssign)
		}
	}
}

// TestSeedResponses: the seeds' 201 answers parse with their ids.
func TestSeedResponses(t *testing.T) {
	t.Parallel()
	resp := regexp.MustCompile("(?s)HTTP/1.1 201 Created\\n[^{]*(\\{.*?\\})\\n```")
	n := 0
	for name, text := range readSeeds(t) {
		for _, m := range resp.FindAllStringSubmatch(text, -1) {
			a, err := ParseAssignment([]byte(m[1]))
			if err != nil || ValidateGUID(a.ID) != nil || !bytes.Equal(a.Raw, []byte(m[1])) {
				t.Errorf("%s: ParseAssignment = %+v, %v", name, a, err)
			}
			n++
		}
	}
	if n < 3 {
		t.Errorf("found %d seed responses", n)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// TestKindServices: every kind names the Intune service its writes count
// against; scripts and health scripts are the devices service, with twice
// the write limit of the others (GRAPH.md "Throttling").
func TestKindServices(t *testing.T) {
	t.Parallel()
	var devices []string
	for _, k := range Kinds() {
		switch k.Service {
		case ServiceDeviceConfiguration, ServiceDeviceConfigV2, ServiceEnrollment, ServiceIntents, ServiceApps, ServiceManagedApps:
		case ServiceDevices:
			devices = append(devices, k.Name)
		default:
			t.Errorf("kind %s: service %q is not one of the Intune services", k.Name, k.Service)
		}
		if strings.HasPrefix(k.Name, "deviceConfigurations") && k.Service != ServiceDeviceConfiguration {
			t.Errorf("kind %s: service %q, want %q like deviceConfigurations", k.Name, k.Service, ServiceDeviceConfiguration)
		}
	}
	if want := []string{"deviceHealthScripts", "deviceManagementScripts"}; !slices.Equal(slices.Sorted(slices.Values(devices)), want) {
		t.Errorf("devices service kinds %v, want %v", devices, want)
	}
	if ServiceDevices.WriteLimit() != 200 || ServiceApps.WriteLimit() != 100 || ServiceDeviceConfiguration.WriteLimit() != 100 {
		t.Errorf("write limits: devices %d, apps %d, configuration %d; want 200, 100, 100",
			ServiceDevices.WriteLimit(), ServiceApps.WriteLimit(), ServiceDeviceConfiguration.WriteLimit())
	}
}
