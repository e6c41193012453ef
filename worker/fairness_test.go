package worker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
)

// TestFairness: one tenant with 5,000 rows and 50 tenants with 20 rows
// each, against Intune's 100 writes per 20 s. Each small tenant's ideal is
// 20 rows at 5/s = 4 s; every one must finish within 8 s of the start,
// while the big tenant keeps writing at its own ceiling meanwhile.
func TestFairness(t *testing.T) {
	if testing.Short() {
		t.Skip("fairness takes ~15s")
	}
	b := setup(t, opts{sim: graphtest.Config{}, jobs: jobs.Config{AckWait: 30 * time.Second}})
	big := guid("tenant/fair/big")
	js := makeJobs(spec{importID: "big", tenant: big, kind: "deviceConfigurations", policies: 10, rows: 5000})
	small := make([]string, 50)
	for i := range small {
		small[i] = guid(fmt.Sprintf("tenant/fair/small/%d", i))
		js = append(js, makeJobs(spec{importID: "small", tenant: small[i], kind: "deviceConfigurations", rows: 20, firstRow: 2 + i*100})...)
	}
	// The big tenant's rows are published first: a FIFO worker would do
	// them all before any small tenant.
	b.publish(js)

	w := b.newWorker(Config{}, nil) // production defaults: 64 / 4 / 100 per 20 s
	start := time.Now()
	stop := b.run(w)
	rs := b.waitResults("small", 50*20, 30*time.Second)
	smallDone := time.Since(start)
	bigAt := b.sim.Stats()
	stop()

	finish := map[string]time.Duration{}
	for _, r := range rs {
		if r.Status != jobs.StatusCreated {
			t.Fatalf("small tenant row %d: %s %s", r.Row, r.Status, r.ErrorMessage)
		}
		finish[r.Tenant] = max(finish[r.Tenant], r.At.Sub(start))
	}
	times := make([]time.Duration, 0, len(finish))
	for _, d := range finish {
		times = append(times, d)
	}
	slices.Sort(times)
	t.Logf("small tenants finished: first %s, median %s, last %s (ideal 4s, bound 8s)",
		times[0].Round(time.Millisecond), times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	for tenant, d := range finish {
		if d > 8*time.Second {
			t.Errorf("small tenant %s finished after %s, more than twice its ideal 4s", tenant, d.Round(time.Millisecond))
		}
	}

	// The big tenant wrote at its ceiling meanwhile: 1 + 4.95/s.
	bigRS, err := b.store.Results(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	// Its steady rate from its first write to its last before the small
	// tenants were done: the ceiling is 4.95/s ((100-1)/20s).
	var first, last time.Time
	bigCreated := 0
	for _, r := range bigRS {
		if r.Status != jobs.StatusCreated || r.At.Sub(start) > smallDone {
			continue
		}
		bigCreated++
		if first.IsZero() || r.At.Before(first) {
			first = r.At
		}
		if r.At.After(last) {
			last = r.At
		}
	}
	if bigCreated < 10 {
		t.Fatalf("big tenant wrote only %d rows while the small tenants ran", bigCreated)
	}
	steady := float64(bigCreated-1) / last.Sub(first).Seconds()
	t.Logf("big tenant: %d rows created in the first %s, steady %.2f/s (ceiling 4.95/s); simulator %d writes, %d throttled",
		bigCreated, smallDone.Round(time.Millisecond), steady, bigAt.Writes, bigAt.Throttled)
	if steady < 0.8*4.95 {
		t.Errorf("big tenant wrote at %.2f/s, less than 80%% of its ceiling 4.95/s", steady)
	}
	if bigAt.Throttled != 0 {
		t.Errorf("%d writes throttled: a tenant exceeded 100 per 20 s", bigAt.Throttled)
	}
	for tenant, n := range b.sim.MaxWritesInWindow() {
		if n > 100 {
			t.Errorf("tenant %s: %d writes in one 20s window", tenant, n)
		}
	}
}
