package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// nilStore and nilGraph satisfy New for unit tests of pure tenant logic
// that never touch NATS or Graph; every method fails.
type nilStore struct{}

var errUnused = errors.New("not used in this test")

func (nilStore) TenantConsumer(context.Context, string) (jetstream.Consumer, error) {
	return nil, errUnused
}
func (nilStore) PendingTenants(context.Context) (map[string]uint64, error) { return nil, errUnused }
func (nilStore) Outcome(context.Context, string) (jobs.Outcome, bool, error) {
	return jobs.Outcome{}, false, errUnused
}
func (nilStore) PutOutcome(context.Context, string, jobs.Outcome) error { return errUnused }
func (nilStore) Intent(context.Context, string) (jobs.Intent, bool, error) {
	return jobs.Intent{}, false, errUnused
}
func (nilStore) PutIntent(context.Context, string, jobs.Intent) error { return errUnused }
func (nilStore) DeleteIntent(context.Context, string) error           { return errUnused }
func (nilStore) Acquire(context.Context, string, string, time.Duration) (*jobs.Lease, error) {
	return nil, errUnused
}
func (nilStore) AcquireWait(context.Context, string, string, time.Duration, time.Duration) (*jobs.Lease, error) {
	return nil, errUnused
}
func (nilStore) PutResult(context.Context, jobs.Result) error            { return errUnused }
func (nilStore) DeadLetter(context.Context, jetstream.Msg, string) error { return errUnused }

type nilGraph struct{}

func (nilGraph) Create(context.Context, string, string, *graph.Kind, string, graph.Assignment) (graph.Assignment, error) {
	return graph.Assignment{}, errUnused
}
func (nilGraph) List(context.Context, string, string, *graph.Kind, string) ([]graph.Assignment, error) {
	return nil, errUnused
}
func (nilGraph) Assign(context.Context, string, string, *graph.Kind, string, []graph.Assignment) ([]graph.Assignment, error) {
	return nil, errUnused
}

var graphErr429 = graph.Error{Class: graph.ClassThrottled, Op: "create", StatusCode: 429, RetryAfter: 2 * time.Second, HasRetryAfter: true}
