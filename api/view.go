package api

import (
	"math"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/worker"
)

// view is where the import of p stands at now: its counts, rate, ETA, and
// its tenants that have jobs queued (pending, by tenant as
// jobs.Store.PendingTenants names them) with what the workers do for them
// (waiting, see worker.Worker.Waiting).
func view(p imports.Progress, pending map[string]uint64, waiting []worker.TenantState, now time.Time) contract.ImportView {
	imp := p.Import
	v := contract.ImportView{
		ID: imp.ID, Name: imp.Name, Source: imp.Source, CreatedAt: imp.Created.UTC(),
		Rows: imp.Rows, Done: len(p.Results), Counts: map[contract.Status]int{},
		State: p.State(), Missing: p.Missing, Tenants: []contract.TenantView{},
	}
	for _, s := range contract.Statuses() {
		v.Counts[s] = 0
	}
	for s, n := range p.Counts {
		v.Counts[s] = n
	}
	v.Finished = imp.Enqueued && p.Missing == 0 && len(p.Results) >= imp.Rows
	if v.Finished {
		var last time.Time
		for _, r := range p.Results {
			if r.At.After(last) {
				last = r.At
			}
		}
		last = last.UTC()
		v.FinishedAt = &last
		if d := last.Sub(imp.Created).Seconds(); d > 0 {
			v.RateRowsPerSecond = round(float64(v.Done)/d, 100)
		}
		zero := 0.0
		v.ETASeconds = &zero
	}
	// The rates of a running import, and of its tenants, over the last
	// RateWindow.
	from := imp.Created
	if w := now.Add(-contract.RateWindow); w.After(from) {
		from = w
	}
	n, perTenant := 0, map[string]int{}
	for _, r := range p.Results {
		if !r.At.Before(from) {
			n++
			perTenant[strings.ToLower(r.Tenant)]++
		}
	}
	d := now.Sub(from).Seconds()
	if !v.Finished && d > 0 {
		v.RateRowsPerSecond = round(float64(n)/d, 100)
		if v.RateRowsPerSecond > 0 && p.Missing == 0 {
			eta := round(float64(imp.Rows-v.Done)/v.RateRowsPerSecond, 10)
			v.ETASeconds = &eta
		}
	}

	states := map[string]worker.TenantState{}
	for _, st := range waiting {
		states[strings.ToLower(st.Tenant)] = st
	}
	queued := map[string]uint64{}
	for t, n := range pending {
		queued[strings.ToLower(t)] += n
	}
	for _, t := range imp.Tenants {
		key := strings.ToLower(t)
		n := queued[key]
		if n == 0 {
			continue
		}
		tv := contract.TenantView{Tenant: t, Pending: int(n), State: contract.TenantRunning}
		if d > 0 {
			tv.RateRowsPerSecond = round(float64(perTenant[key])/d, 100)
		}
		if st, ok := states[key]; ok {
			tv.State = contract.TenantPaused
			if st.Reason == worker.WaitThrottled {
				tv.State = contract.TenantThrottled
			}
			tv.Reason = st.Describe(now)
			if !st.Until.IsZero() {
				until := st.Until.UTC()
				tv.Until = &until
			}
		}
		v.Tenants = append(v.Tenants, tv)
	}
	return v
}

// round rounds x to 1/per.
func round(x, per float64) float64 { return math.Round(x*per) / per }
