package api

import (
	"errors"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker"
)

// TestViewRunning: a running import's rate counts the results of the last
// RateWindow, its ETA is the rows left at that rate, and its tenants with
// jobs queued show running, throttled or paused with the reason; a tenant
// without queued jobs is left out.
func TestViewRunning(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	imp := jobs.Import{ID: "imp", Created: now.Add(-5 * time.Minute), Rows: 100, Enqueued: true,
		Tenants: []string{"a.onmicrosoft.com", "b.onmicrosoft.com", "c.onmicrosoft.com", "d.onmicrosoft.com"}}
	var results []jobs.Result
	for i := range 40 {
		at := now.Add(-4 * time.Minute) // long ago: not in the rate
		if i >= 10 {
			at = now.Add(-time.Duration(i-9) * 500 * time.Millisecond) // 30 in the last 15 s
		}
		st := jobs.StatusCreated
		if i%10 == 0 {
			st = jobs.StatusFailed
		}
		// Tenant a's rows of the last 15 s: 20 (i = 10…29); b's: 10.
		tenant := "a.onmicrosoft.com"
		if i >= 30 {
			tenant = "B.onmicrosoft.com"
		}
		results = append(results, jobs.Result{Row: i + 2, Status: st, At: at, Tenant: tenant})
	}
	p := imports.Progress{Import: imp, ImportProgress: jobs.ImportProgress{Results: results, Waiting: true}, Counts: imports.CountResults(results)}
	pending := map[string]uint64{"a.onmicrosoft.com": 7, "b.onmicrosoft.com": 3, "C.onmicrosoft.com": 2, "other.onmicrosoft.com": 9}
	waiting := []worker.TenantState{
		{Tenant: "b.onmicrosoft.com", Reason: worker.WaitThrottled, Until: now.Add(12 * time.Second)},
		{Tenant: "c.onmicrosoft.com", Reason: worker.WaitBlocked, Detail: "tenant_unauthorized", Until: now.Add(time.Minute)},
		{Tenant: "d.onmicrosoft.com", Reason: worker.WaitThrottled, Until: now.Add(time.Second)},
	}
	v := view(p, pending, waiting, now)
	if v.State != "running" || v.Finished || v.FinishedAt != nil || v.Done != 40 || v.Counts[contract.StatusCreated] != 36 || v.Counts[contract.StatusFailed] != 4 ||
		v.Counts[contract.StatusAbsent] != 0 || len(v.Counts) != len(contract.Statuses()) {
		t.Errorf("view %+v", v)
	}
	if v.RateRowsPerSecond != 1 || v.ETASeconds == nil || *v.ETASeconds != 60 {
		t.Errorf("rate %v, eta %v; want 1 row/s (30 in the last 30 s) and 60 s for 60 rows", v.RateRowsPerSecond, v.ETASeconds)
	}
	until := now.Add(12 * time.Second)
	want := []contract.TenantView{
		{Tenant: "a.onmicrosoft.com", Pending: 7, State: contract.TenantRunning, RateRowsPerSecond: 0.67},
		{Tenant: "b.onmicrosoft.com", Pending: 3, State: contract.TenantThrottled, Reason: "throttled, retry in 12s", Until: &until, RateRowsPerSecond: 0.33},
		{Tenant: "c.onmicrosoft.com", Pending: 2, State: contract.TenantPaused, Reason: "blocked (tenant_unauthorized), rows fail for 1m0s"},
	}
	if len(v.Tenants) != len(want) {
		t.Fatalf("tenants %+v, want %+v", v.Tenants, want)
	}
	for i, w := range want {
		g := v.Tenants[i]
		if g.Tenant != w.Tenant || g.Pending != w.Pending || g.State != w.State || g.Reason != w.Reason || g.RateRowsPerSecond != w.RateRowsPerSecond || (w.Until != nil && (g.Until == nil || !g.Until.Equal(*w.Until))) {
			t.Errorf("tenant %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestViewFinishedAndMissing: a finished import's rate is over its whole
// life, up to its last result, with ETA 0; an import with rows missing is
// not finished and has no ETA; a young import without results has rate 0
// and no ETA.
func TestViewFinishedAndMissing(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	created := now.Add(-time.Hour)
	imp := jobs.Import{ID: "imp", Created: created, Rows: 20, Enqueued: true, Tenants: []string{"a"}}
	var results []jobs.Result
	for i := range 20 {
		results = append(results, jobs.Result{Row: i + 2, Status: jobs.StatusCreated, At: created.Add(time.Duration(i+1) * time.Second)})
	}
	p := imports.Progress{Import: imp, ImportProgress: jobs.ImportProgress{Results: results}, Counts: imports.CountResults(results)}
	v := view(p, nil, nil, now)
	if !v.Finished || v.State != "done" || v.FinishedAt == nil || !v.FinishedAt.Equal(created.Add(20*time.Second)) ||
		v.RateRowsPerSecond != 1 || v.ETASeconds == nil || *v.ETASeconds != 0 {
		t.Errorf("finished: %+v (finished_at %v, eta %v)", v, v.FinishedAt, v.ETASeconds)
	}

	p.Results = results[:15]
	p.Counts = imports.CountResults(p.Results)
	p.Missing = 5
	v = view(p, nil, nil, now)
	var me *imports.MissingError
	if v.Finished || v.FinishedAt != nil || v.ETASeconds != nil || v.Missing != 5 || v.State != "5 rows missing" || !errors.As(p.Err(), &me) {
		t.Errorf("missing: %+v", v)
	}

	young := imports.Progress{Import: jobs.Import{ID: "y", Created: now, Rows: 3, Enqueued: true}, ImportProgress: jobs.ImportProgress{Waiting: true}, Counts: imports.Counts{}}
	v = view(young, nil, nil, now)
	if v.RateRowsPerSecond != 0 || v.ETASeconds != nil || v.Finished || len(v.Tenants) != 0 || v.Tenants == nil {
		t.Errorf("young: %+v", v)
	}
}

// TestCheckExposure: loopback addresses pass without a token; anything
// else needs a token or the explicit insecure switch.
func TestCheckExposure(t *testing.T) {
	for _, tt := range []struct {
		addr            string
		token, insecure bool
		ok              bool
	}{
		{"", false, false, true},
		{"127.0.0.1:8080", false, false, true},
		{"127.1.2.3:0", false, false, true},
		{"[::1]:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{":8080", false, false, false},
		{"0.0.0.0:8080", false, false, false},
		{"[::]:8080", false, false, false},
		{"10.0.0.5:8080", false, false, false},
		{"example.com:8080", false, false, false},
		{"127.0.0.1", false, false, false}, // no port: not an address
		{"0.0.0.0:8080", true, false, true},
		{"0.0.0.0:8080", false, true, true},
	} {
		err := CheckExposure(tt.addr, tt.token, tt.insecure)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrExposed)) {
			t.Errorf("CheckExposure(%q, token %v, insecure %v) = %v, want ok %v", tt.addr, tt.token, tt.insecure, err, tt.ok)
		}
	}
}
