package ingest

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collector is a Sink keeping what it receives, in order.
type collector struct {
	jobs    []jobs.Job
	results []jobs.Result
}

func (c *collector) Job(_ context.Context, j jobs.Job) error {
	c.jobs = append(c.jobs, j)
	return nil
}

func (c *collector) Result(_ context.Context, r jobs.Result) error {
	c.results = append(c.results, r)
	return nil
}
