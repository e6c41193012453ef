package worker

import (
	"context"
	"strings"
	"time"
)

// discoverLoop starts a runner for every tenant with waiting jobs, and
// watches the store's health, every DiscoverInterval, until rc.soft is
// done (nil) or, with StopOnStall, the store stalls (the *StallError).
func (w *Worker) discoverLoop(rc *runCtx) *StallError {
	ticker := time.NewTicker(w.cfg.DiscoverInterval)
	defer ticker.Stop()
	for {
		w.discover(rc)
		if rc.soft.Err() != nil {
			return nil
		}
		w.probe(rc)
		if st := w.watchHealth(); st != nil && w.cfg.StopOnStall {
			return st
		}
		select {
		case <-rc.soft.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// discover starts runners for tenants that have jobs and none running.
func (w *Worker) discover(rc *runCtx) {
	ctx, cancel := context.WithTimeout(rc.soft, 5*time.Second)
	defer cancel()
	pending, err := w.store.PendingTenants(ctx)
	if err != nil {
		if rc.soft.Err() == nil {
			w.logInfra("discover tenants", err)
		}
		return
	}
	for name, n := range pending {
		if n == 0 {
			continue
		}
		t := w.tenant(name)
		t.mu.Lock()
		start := !t.running
		t.running = true
		t.mu.Unlock()
		if start {
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() {
					t.mu.Lock()
					t.running = false
					t.mu.Unlock()
				}()
				newRunner(w, t).run(rc)
			}()
		}
	}
}

// tenant returns the state of a tenant, creating it. Tenant state (rate,
// gate, breaker) outlives runners: a runner that exits when idle and is
// started again finds its tenant as it was.
func (w *Worker) tenant(name string) *tenant {
	key := strings.ToLower(name)
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.tenants[key]
	if t == nil {
		t = newTenant(w, key)
		w.tenants[key] = t
	}
	return t
}
