package metrics

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden")

// TestExpositionGolden pins the /metrics exposition (names, help, types,
// labels, buckets and values) for a fixed set of calls. Only bulkassign_
// lines are compared, sorted, so the order of families does not matter.
// Run with -update after an intended change and review the diff.
func TestExpositionGolden(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	const (
		contoso  = "contoso.onmicrosoft.com"
		fabrikam = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	)
	m.RowFinished(contoso, "deviceConfiguration", "created")
	m.RowFinished(contoso, "deviceConfiguration", "created")
	m.RowFinished(contoso, "configurationPolicy", "existing")
	m.RowFinished(fabrikam, "deviceCompliancePolicy", "failed")
	m.RowFinished(fabrikam, "mobileApp", "invalid")
	m.JobAttempt(contoso, "created")
	m.JobAttempt(contoso, "created")
	m.JobAttempt(contoso, "throttled")
	m.JobAttempt(contoso, "reconciled")
	m.JobAttempt(fabrikam, "forbidden")
	m.Throttled(contoso, 10*time.Second, true)
	m.Throttled(contoso, 0, false)
	m.SetTenantRate(contoso, 2.5)
	m.SetTenantRate(fabrikam, 5)
	m.SetTenantPaused(contoso, true)
	m.SetTenantPaused(fabrikam, false)
	m.SetTenantBlocked(fabrikam, true)
	m.InFlight(3)
	m.InFlight(-1)
	m.MalformedMessage("queue")
	m.MalformedMessage("job")
	m.DeadLettered()
	m.Redelivered(contoso)
	m.Panic()
	m.ObserveJobDuration(contoso, 2*time.Second)
	m.ObserveJobDuration(fabrikam, 20*time.Minute)
	m.StoreError("fetch")
	m.StoreError("fetch")
	m.StoreError("result")
	m.StoreError("no-such-operation")
	m.SetStoreHealthy(false)
	m.WatchQueueDepth(func(context.Context) (map[string]uint64, error) {
		return map[string]uint64{contoso: 40, fabrikam: 0}, nil
	})

	var lines []string
	for line := range strings.Lines(scrape(t, reg)) {
		if strings.HasPrefix(line, "bulkassign_") ||
			strings.HasPrefix(line, "# HELP bulkassign_") || strings.HasPrefix(line, "# TYPE bulkassign_") {
			lines = append(lines, line)
		}
	}
	slices.Sort(lines)
	got := strings.Join(lines, "")

	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s (run go test ./metrics -run Golden -update and review):\n--- got\n%s", path, got)
	}
}
