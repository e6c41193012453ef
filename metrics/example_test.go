package metrics_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulkassign/bulkassign/metrics"
)

// New registers every collector on a registry the caller owns; the recording
// methods then update them.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	m.RowFinished("contoso.onmicrosoft.com", "deviceConfiguration", "created")
	m.RowFinished("contoso.onmicrosoft.com", "deviceConfiguration", "created")
	m.Throttled("contoso.onmicrosoft.com", 10*time.Second, true)

	// Read one family back through the registry.
	n, err := testutil.GatherAndCount(reg, "bulkassign_rows_total")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rows series:", n)
	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "bulkassign_rows_total", "bulkassign_throttled_total":
			for _, s := range mf.GetMetric() {
				fmt.Println(mf.GetName(), s.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// rows series: 1
	// bulkassign_rows_total 2
	// bulkassign_throttled_total 1
}

// A nil *Metrics records nothing, so components run without metrics.
func ExampleMetrics_nil() {
	var m *metrics.Metrics
	m.RowFinished("contoso.onmicrosoft.com", "deviceConfiguration", "created")
	m.InFlight(1)
	fmt.Println("no panic")
	// Output: no panic
}

// WatchQueueDepth reads the depth at scrape time; here from a fixed map, in
// bulkassign from the jobs stream (jobs.Store.PendingTenants).
func ExampleMetrics_WatchQueueDepth() {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	m.WatchQueueDepth(func(ctx context.Context) (map[string]uint64, error) {
		return map[string]uint64{"contoso.onmicrosoft.com": 12}, nil
	})
	n, err := testutil.GatherAndCount(reg, "bulkassign_queue_depth")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tenants with depth:", n)
	// Output: tenants with depth: 1
}

// Handler serves /metrics, /healthz and /readyz; Serve runs it with
// timeouts until the context ends.
func ExampleHandler() {
	reg := prometheus.NewRegistry()
	ready := func(ctx context.Context) error { return nil } // e.g. NATS connected, streams present
	srv := httptest.NewServer(metrics.Handler(reg, ready))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}
