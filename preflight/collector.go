package preflight

import (
	"context"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Collector is an ingest.Sink that keeps the first job of each tenant as
// its [Target] and ignores everything else: run it as the sink of the
// validation pass.
type Collector struct {
	seen    map[string]bool
	targets []Target
}

// Job records j's policy as its tenant's target if the tenant has none yet.
func (c *Collector) Job(_ context.Context, j jobs.Job) error {
	if c.seen[j.Tenant] {
		return nil
	}
	k, err := graph.LookupKind(j.Kind)
	if err != nil {
		return err
	}
	if c.seen == nil {
		c.seen = make(map[string]bool)
	}
	c.seen[j.Tenant] = true
	c.targets = append(c.targets, Target{Tenant: j.Tenant, Kind: k, APIVersion: j.APIVersion, PolicyID: j.PolicyID})
	return nil
}

// Result ignores invalid and duplicate rows.
func (c *Collector) Result(context.Context, jobs.Result) error { return nil }

// Targets returns one target per tenant, in the order tenants first appear.
func (c *Collector) Targets() []Target { return c.targets }
