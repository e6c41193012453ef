package metrics

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The deploy/ files are checked here because they name this package's
// metrics: an alert or panel on a misspelled or removed metric never fires
// and never draws. promtool (make deploy-check) checks their PromQL syntax.

const deployDir = "../deploy"

var metricRef = regexp.MustCompile(`\bbulkassign_[a-z0-9_]+`)

// knownMetricNames returns every sample name New's collectors expose,
// including the _bucket, _sum and _count series of histograms.
func knownMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	m, reg := newTest(t)
	exerciseAll(t, m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]bool)
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		}
	}
	return names
}

// alertExprs extracts alert names and their expr from a Prometheus rules
// file, line by line (no YAML dependency): "- alert: X" starts a rule,
// "expr: ..." is inline or a block scalar (| or >) indented below it.
func alertExprs(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		exprs       = make(map[string]string)
		alert       string
		blockIndent = -1 // indentation of the expr: key while in a block scalar
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if blockIndent >= 0 {
			if trimmed == "" || indent > blockIndent {
				exprs[alert] += " " + trimmed
				continue
			}
			blockIndent = -1
		}
		switch {
		case strings.HasPrefix(trimmed, "- alert:"):
			alert = strings.TrimSpace(strings.TrimPrefix(trimmed, "- alert:"))
			if _, dup := exprs[alert]; dup {
				t.Errorf("%s: alert %s defined twice", path, alert)
			}
			exprs[alert] = ""
		case strings.HasPrefix(trimmed, "expr:"):
			if alert == "" {
				t.Fatalf("%s: expr before any alert: %q", path, line)
			}
			rest := strings.TrimSpace(strings.TrimPrefix(trimmed, "expr:"))
			if strings.HasPrefix(rest, "|") || strings.HasPrefix(rest, ">") {
				blockIndent = indent
				continue
			}
			exprs[alert] = rest
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exprs
}

// checkRefs fails for every bulkassign_ name in expr that is not known, and
// for an expr that names no metric at all.
func checkRefs(t *testing.T, where, expr string, known map[string]bool) []string {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	if len(refs) == 0 && !strings.Contains(expr, `up{job="bulkassign"}`) {
		t.Errorf("%s: expr names no bulkassign metric: %s", where, expr)
	}
	for _, r := range refs {
		if !known[r] {
			t.Errorf("%s: unknown metric %s in %s", where, r, expr)
		}
	}
	return refs
}

func TestAlertsReferenceRegisteredMetrics(t *testing.T) {
	t.Parallel()
	known := knownMetricNames(t)
	exprs := alertExprs(t, filepath.Join(deployDir, "alerts.yaml"))
	for _, name := range []string{
		"BulkassignTenantBlocked", "BulkassignThrottlingHigh", "BulkassignFailedRows",
		"BulkassignDeadLetters", "BulkassignQueueStuck", "BulkassignDown", "BulkassignStoreStalled",
	} {
		if _, ok := exprs[name]; !ok {
			t.Errorf("alerts.yaml lacks alert %s", name)
		}
	}
	for name, expr := range exprs {
		if strings.TrimSpace(expr) == "" {
			t.Errorf("alert %s has no expr", name)
			continue
		}
		checkRefs(t, "alert "+name, expr, known)
	}
}

func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	known := knownMetricNames(t)
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string            `json:"title"`
		UID    string            `json:"uid"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard lacks title, uid or panels")
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	used := make(map[string]bool)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				for _, r := range checkRefs(t, "panel "+toString(v["refId"]), e, known) {
					used[r] = true
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	for _, want := range []string{
		"bulkassign_rows_total", "bulkassign_throttled_total", "bulkassign_job_attempts_total",
		"bulkassign_tenant_write_rate", "bulkassign_queue_depth", "bulkassign_tenant_blocked",
		"bulkassign_graph_request_duration_seconds_bucket", "bulkassign_inflight_jobs",
	} {
		if !used[want] {
			t.Errorf("dashboard has no panel on %s", want)
		}
	}
}

func toString(v any) string { s, _ := v.(string); return s }

// TestDeploymentContracts checks the promises deploy/ makes that code
// relies on: the grace period outlasts the drain, probes hit this
// package's endpoints, secrets come from outside.
func TestDeploymentContracts(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(deployDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	dep := read("kubernetes/deployment.yaml")
	drain := durationAfter(t, dep, `name: BULKASSIGN_DRAIN_TIMEOUT\s+value: "?([0-9a-z]+)"?`)
	grace := durationAfter(t, dep, `terminationGracePeriodSeconds: ([0-9]+)`+"\n") // seconds
	if grace <= drain+10*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the drain timeout %v with margin", grace, drain)
	}
	for _, want := range []string{
		"replicas: 2", "path: /readyz", "path: /healthz", "containerPort: 9090",
		"runAsNonRoot: true", "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false",
		"name: bulkassign-azure", `value: "3"`, // R3 against the 3-node cluster
		"containerPort: 8080", "name: BULKASSIGN_HTTP_ADDR", "name: bulkassign-api", // the API beyond loopback, with its token
	} {
		if !strings.Contains(dep, want) {
			t.Errorf("deployment.yaml lacks %q", want)
		}
	}
	if strings.Contains(dep, "AZURE_CLIENT_SECRET\n") || regexp.MustCompile(`name: AZURE_`).MatchString(dep) {
		t.Error("deployment.yaml sets an AZURE_ variable inline; they come from the Secret")
	}

	compose := read("compose.yaml")
	for _, want := range []string{"nats:2.11-alpine", `"-js", "-sd", "/data"`, "BULKASSIGN_NATS_URL: nats://nats:4222",
		`BULKASSIGN_METRICS_ADDR: ":9090"`, `BULKASSIGN_HTTP_ADDR: ":8080"`, "path: ./azure.env", "./alerts.yaml:"} {
		if !strings.Contains(compose, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}
	for line := range strings.Lines(compose) {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "AZURE_") || strings.Contains(l, "AZURE_CLIENT_SECRET:") {
			t.Errorf("compose.yaml sets a credential inline: %q", l)
		}
	}
	composeDrain := durationAfter(t, compose, `BULKASSIGN_DRAIN_TIMEOUT: ([0-9a-z]+)`)
	stop := durationAfter(t, compose, `stop_grace_period: ([0-9a-z]+)`)
	if stop <= composeDrain {
		t.Errorf("compose stop_grace_period %v must exceed the drain timeout %v", stop, composeDrain)
	}

	for _, name := range []string{"kubernetes/secret.example.yaml", "azure.env.example"} {
		for line := range strings.Lines(read(name)) {
			l := strings.TrimSpace(line)
			if strings.HasPrefix(l, "#") || !strings.Contains(l, "AZURE_") {
				continue
			}
			_, v, ok := strings.Cut(l, "=")
			if !ok {
				_, v, _ = strings.Cut(l, ":")
			}
			v = strings.Trim(strings.TrimSpace(v), `"`)
			if v != "" && v != "00000000-0000-0000-0000-000000000000" && v != "REPLACE_ME" && v != "replace-me" {
				t.Errorf("%s: %q is not a placeholder", name, l)
			}
		}
	}

	docker := read("Dockerfile")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-X main.version=${VERSION}`, ":nonroot",
		`ENTRYPOINT ["/bulkassign"]`, `CMD ["serve"]`, "EXPOSE 9090 4222"} {
		if !strings.Contains(docker, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// durationAfter returns the duration captured by re's first group; a bare
// number is seconds.
func durationAfter(t *testing.T, s, re string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s", re)
	}
	v := m[1]
	if strings.Trim(v, "0123456789") == "" {
		v += "s"
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", re, err)
	}
	return d
}
