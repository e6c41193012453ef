package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker"
)

// waitImport blocks until every row of imp has a result (see
// imports.Importer.Wait), showing progress and, when this process runs the
// workers, the tenants that wait (waiting; nil otherwise).
func waitImport(ctx context.Context, env *environment, importer *imports.Importer, imp jobs.Import, quiet bool, waiting func() []worker.TenantState) error {
	p := newProgress(env.stderr, imp.Rows, quiet || !isTerminal(env.stderr), quiet, waiting)
	defer p.stop()
	return importer.Wait(ctx, imp, p.update)
}

// progress shows how far an import is: a live bar on a terminal, a plain
// line every few seconds otherwise, nothing when quiet. When the workers
// run in this process it also says which tenants wait, and why.
type progress struct {
	w       io.Writer
	total   int
	plain   bool
	start   time.Time
	waiting func() []worker.TenantState // nil: workers run elsewhere
	mu      sync.Mutex
	counts  imports.Counts
	stopc   chan struct{}
	wg      sync.WaitGroup
}

func newProgress(w io.Writer, total int, plain, quiet bool, waiting func() []worker.TenantState) *progress {
	p := &progress{w: w, total: total, plain: plain, start: time.Now(), waiting: waiting, stopc: make(chan struct{})}
	if quiet {
		return p
	}
	every := 200 * time.Millisecond
	if plain {
		every = 5 * time.Second
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.draw(false)
			case <-p.stopc:
				p.draw(true)
				return
			}
		}
	}()
	return p
}

// update records the rows counted so far.
func (p *progress) update(c imports.Counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = c
}

func (p *progress) stop() {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	p.wg.Wait()
}

func (p *progress) draw(final bool) {
	p.mu.Lock()
	c := p.counts
	p.mu.Unlock()
	done, failed, invalid := c.Done(), c[contract.StatusFailed], c[contract.StatusInvalid]
	line := progressLine(done, failed, invalid, p.total, time.Since(p.start))
	if p.waiting != nil && !final {
		if ws := waitingLine(p.waiting(), time.Now()); ws != "" {
			line += "; waiting: " + ws
		}
	}
	if p.plain {
		fmt.Fprintln(p.w, line)
		return
	}
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = done * width / p.total
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s%s", bar, line, end)
}

// progressLine renders done/total, failed, invalid, rate and ETA.
func progressLine(done, failed, invalid, total int, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "–"
	if rate > 0 && done < total {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	} else if done >= total {
		eta = "0s"
	}
	return fmt.Sprintf("%d/%d done, %d failed, %d invalid, %.1f rows/s, ETA %s", done, total, failed, invalid, rate, eta)
}

// maxWaitingShown bounds the tenants named in a progress line.
const maxWaitingShown = 3

// waitingLine renders the tenants that wait, e.g. "contoso.onmicrosoft.com:
// throttled, retry in 12s"; "" when none does.
func waitingLine(states []worker.TenantState, now time.Time) string {
	var parts []string
	for i, st := range states {
		if i == maxWaitingShown {
			parts = append(parts, fmt.Sprintf("%d more", len(states)-i))
			break
		}
		parts = append(parts, st.Tenant+": "+st.Describe(now))
	}
	return strings.Join(parts, "; ")
}
