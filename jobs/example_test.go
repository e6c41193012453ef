package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/natsembed"
)

// Start an embedded server, provision the store, enqueue a job, record its
// result and read the report back.
func ExampleProvision() {
	dir, err := os.MkdirTemp("", "bulkassign-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	srv, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown() // last: after the connection is closed
	nc, err := srv.Connect()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := jobs.Provision(ctx, nc, jobs.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}

	j := jobs.Job{
		ImportID: "20261122T143501-3fa9c2", Row: 2,
		Tenant: "contoso.onmicrosoft.com", Kind: "deviceConfigurations",
		PolicyID: "11111111-2222-3333-4444-555555555555",
		Target:   graph.TargetGroup, GroupID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		APIVersion: graph.V1,
	}
	j.Key = j.ComputeKey()
	p := store.NewPublisher(64)
	if err := p.Publish(ctx, j); err != nil {
		fmt.Println(err)
		return
	}
	stats, err := p.Flush(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	pending, _ := store.PendingTenants(ctx)
	fmt.Println("acked:", stats.Acked, "pending:", pending)

	if err := store.PutResult(ctx, jobs.ResultFor(j, jobs.StatusCreated)); err != nil {
		fmt.Println(err)
		return
	}
	results, _ := store.Results(ctx, j.ImportID)
	for _, r := range results {
		fmt.Println("row", r.Row, r.Status)
	}
	// Output:
	// acked: 1 pending: map[contoso.onmicrosoft.com:1]
	// row 2 created
}

// Take a per-policy lock that other processes respect, and give it back.
func ExampleStore_Acquire() {
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

	lease, err := store.Acquire(ctx, "merge/contoso.onmicrosoft.com/policy-1", "worker-a", 30*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = store.Acquire(ctx, "merge/contoso.onmicrosoft.com/policy-1", "worker-b", 30*time.Second)
	fmt.Println("worker-b held out:", errors.Is(err, jobs.ErrHeld))
	fmt.Println("release:", lease.Release(ctx))
	// Output:
	// worker-b held out: true
	// release: <nil>
}
