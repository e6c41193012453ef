package main

import (
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// BenchmarkRun measures bulkassign's own cost per row: a whole run (validate,
// enqueue, workers, results, report) of 2,000 rows over 20 tenants against a
// simulator whose limits are far above what the run can reach, so Graph's
// throttling is not what is measured. Reports rows/s.
//
//	go test -run='^$' -bench=BenchmarkRun -benchtime=3x .
func BenchmarkRun(b *testing.B) {
	const tenants, perTenant = 20, 100
	unlimited := graphtest.Config{Window: time.Second, AppWriteLimit: 1 << 20, TenantWriteLimit: 1 << 20,
		AppRequestLimit: 1 << 20, TenantRequestLimit: 1 << 20}
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		e := newE2E(b, unlimited)
		path := e.writeCSV("bench.csv", genRows(uint64(100+i), tenants, perTenant))
		b.StartTimer()
		start := time.Now()
		code, out, errOut := e.run("run", "--write-limit", "1000000", "--write-window", "1s", "--concurrency", "128", path)
		elapsed += time.Since(start)
		if code != 0 {
			b.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if n := e.sim.Stats().CreatesApplied; n != tenants*perTenant {
			b.Fatalf("%d creates, want %d", n, tenants*perTenant)
		}
	}
	b.ReportMetric(float64(b.N*tenants*perTenant)/elapsed.Seconds(), "rows/s")
}
