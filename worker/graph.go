package worker

import (
	"context"

	"github.com/bulkassign/bulkassign/graph"
)

// Graph is the part of *graph.Client the worker uses. Every error is
// expected to be a *graph.Error (errors.Is against graph's sentinels).
type Graph interface {
	Create(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, a graph.Assignment) (graph.Assignment, error)
	List(ctx context.Context, tenant, version string, k *graph.Kind, policyID string) ([]graph.Assignment, error)
	Assign(ctx context.Context, tenant, version string, k *graph.Kind, policyID string, set []graph.Assignment) ([]graph.Assignment, error)
	Delete(ctx context.Context, tenant, version string, k *graph.Kind, policyID, assignmentID string) error
}

// graphCall runs fn holding one of the Concurrency slots.
func (w *Worker) graphCall(ctx context.Context, fn func() error) error {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.sem }()
	return fn()
}
