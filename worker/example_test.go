package worker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/natsembed"
	"github.com/bulkassign/bulkassign/worker"
)

// Example runs the whole pipeline on one machine: an embedded NATS
// server, the Graph simulator, two jobs, and a worker until every row has
// its result. In production the Graph client points at Graph with real
// tokens and Run's context is cancelled by SIGINT/SIGTERM.
func Example() {
	dir, _ := os.MkdirTemp("", "bulkassign-example")
	defer os.RemoveAll(dir)
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	ctx := context.Background()
	store, err := jobs.Provision(ctx, nc, jobs.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}

	sim := httptest.NewServer(graphtest.New(graphtest.Config{}).Handler())
	defer sim.Close()
	client, err := graph.NewClient(graph.Config{BaseURL: sim.URL, Tokens: graph.StaticToken("token"), TenantHeader: graphtest.TenantHeader})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	// Two rows: two groups assigned to one device configuration.
	pub := store.NewPublisher(0)
	for i, group := range []string{"0f6b3a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"} {
		j := jobs.Job{
			ImportID: "example", Row: i + 2, Tenant: "contoso.onmicrosoft.com",
			Kind: "deviceConfigurations", PolicyID: "8d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
			Target: graph.TargetGroup, GroupID: group, APIVersion: graph.V1,
		}
		j.Key = j.ComputeKey()
		_ = pub.Publish(ctx, j)
	}
	if _, err := pub.Flush(ctx); err != nil {
		fmt.Println(err)
		return
	}

	w, err := worker.New(store, client, worker.Config{DiscoverInterval: 100 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	var results []jobs.Result
	for deadline := time.Now().Add(30 * time.Second); len(results) < 2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		results, _ = store.Results(ctx, "example")
	}
	stop() // graceful: Run returns once in-flight work is recorded
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	for _, r := range results {
		fmt.Printf("row %d: %s %s\n", r.Row, r.Status, r.AssignmentID)
	}
	// Output:
	// row 2: created 8d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a_0f6b3a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b
	// row 3: created 8d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a_1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d
}
