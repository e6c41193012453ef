package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// progress shows how far an import is: a live bar on a terminal, a plain
// line every few seconds otherwise, nothing when quiet.
type progress struct {
	w       io.Writer
	total   int
	plain   bool
	start   time.Time
	mu      sync.Mutex
	done    int
	failed  int
	invalid int
	stopc   chan struct{}
	wg      sync.WaitGroup
}

func newProgress(w io.Writer, total int, plain, quiet bool) *progress {
	p := &progress{w: w, total: total, plain: plain, start: time.Now(), stopc: make(chan struct{})}
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

func (p *progress) add(s jobs.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	switch s {
	case jobs.StatusFailed:
		p.failed++
	case jobs.StatusInvalid:
		p.invalid++
	}
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
	done, failed, invalid := p.done, p.failed, p.invalid
	p.mu.Unlock()
	line := progressLine(done, failed, invalid, p.total, time.Since(p.start))
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
