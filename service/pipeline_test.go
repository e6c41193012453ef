package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/worker"
)

// stormRow is one row of the storm's file.
type stormRow struct{ tenant, kind, policy, group, intent, version string }

// stormRows returns tenants×perTenant distinct rows across create kinds
// (deviceConfigurations, configurationPolicies) and merge kinds
// (deviceCompliancePolicies, mobileApps), two policies of each per tenant.
func stormRows(tenants, perTenant int) []stormRow {
	id := func(parts ...int) string {
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", parts[0], parts[1]*1_000_000+parts[2])
	}
	var rows []stormRow
	for t := range tenants {
		for i := range perTenant {
			r := stormRow{tenant: id(0xabc, t, 0), group: id(0xdef, t, i)}
			switch i % 10 {
			case 6, 7:
				r.kind, r.version = "configurationPolicies", "beta"
			case 8:
				r.kind = "deviceCompliancePolicies"
			case 9:
				r.kind, r.intent = "mobileApps", "required"
			default:
				r.kind = "deviceConfigurations"
			}
			r.policy = id(len(r.kind), t, i%2)
			rows = append(rows, r)
		}
	}
	return rows
}

// stormCSV is the CSV of rows.
func stormCSV(rows []stormRow) []byte {
	var b bytes.Buffer
	b.WriteString("tenant_id,kind,policy_id,target,group_id,intent,api_version\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,group,%s,%s,%s\n", r.tenant, r.kind, r.policy, r.group, r.intent, r.version)
	}
	return b.Bytes()
}

// TestThrottleStorm (run's 429 storm, through the library): 30% of writes
// answered 429 with Retry-After 1–3 s, on top of window throttling, for an
// import created through the service's importer: every row is created
// once, no tenant went over its window, and no write came before a
// Retry-After ran out.
func TestThrottleStorm(t *testing.T) {
	cfg := graphtest.Config{Window: time.Second, AppWriteLimit: 60, TenantWriteLimit: 120, AppRequestLimit: 600, TenantRequestLimit: 1200,
		ThrottleRate: 0.3, RetryAfterMin: time.Second, RetryAfterMax: 3 * time.Second,
		// Writes already on the wire when a 429 comes back cannot honour it:
		// those sent within EarlyGrace of it are not counted as early.
		EarlyGrace: 100 * time.Millisecond}
	sim := graphtest.Start(t, cfg)
	a := startReplica(t, natstest.Plain(t), sim, worker.Config{WriteLimit: 60, WriteWindow: time.Second})
	rows := stormRows(3, 40)
	data := stormCSV(rows)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	im := a.svc.Importer()
	imp, err := im.Create(ctx, imports.Spec{Name: "storm.csv"}, imports.NewCSV(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, ingest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Wait(ctx, imp, nil); err != nil {
		t.Fatal(err)
	}
	p, err := im.Progress(ctx, imp)
	if err != nil {
		t.Fatal(err)
	}
	if p.Counts[contract.StatusCreated] != len(rows) || !p.Counts.OK() {
		t.Fatalf("counts %v, want %d created", p.Counts, len(rows))
	}
	for _, r := range rows {
		n := 0
		for _, got := range sim.Assignments(r.tenant, r.kind, r.policy) {
			if strings.EqualFold(got.Target.GroupID, r.group) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s %s %s: group %s assigned %d times, want 1", r.tenant, r.kind, r.policy, r.group, n)
		}
	}
	st := sim.Stats()
	if st.Throttled == 0 {
		t.Fatal("the storm throttled nothing: the test tests nothing")
	}
	if st.EarlyWrites != 0 {
		t.Errorf("%d writes before their tenant's Retry-After ran out", st.EarlyWrites)
	}
	for tenant, n := range sim.MaxWritesInWindow() {
		if n > cfg.AppWriteLimit {
			t.Errorf("tenant %s: %d writes in one window, limit %d", tenant, n, cfg.AppWriteLimit)
		}
	}
}
