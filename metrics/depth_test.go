package metrics

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWatchQueueDepth(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)

	if names := familyNames(t, reg); names["bulkassign_queue_depth_up"] {
		t.Error("queue_depth_up exposed before WatchQueueDepth")
	}

	var calls atomic.Int32
	var depth atomic.Pointer[map[string]uint64]
	depth.Store(&map[string]uint64{"tenant-a": 3, "tenant-b": 0})
	m.WatchQueueDepth(func(ctx context.Context) (map[string]uint64, error) {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline on the scrape context")
		}
		return *depth.Load(), nil
	})
	if got := calls.Load(); got != 0 {
		t.Fatalf("fn called %d times before any scrape", got)
	}

	const want = `
# HELP bulkassign_queue_depth Jobs waiting in the queue per tenant, read at scrape time.
# TYPE bulkassign_queue_depth gauge
bulkassign_queue_depth{tenant="tenant-a"} 3
bulkassign_queue_depth{tenant="tenant-b"} 0
# HELP bulkassign_queue_depth_up 1 if the queue depth could be read at this scrape, else 0.
# TYPE bulkassign_queue_depth_up gauge
bulkassign_queue_depth_up 1
# HELP bulkassign_queue_depth_scrape_errors_total Scrapes at which the queue depth could not be read.
# TYPE bulkassign_queue_depth_scrape_errors_total counter
bulkassign_queue_depth_scrape_errors_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"bulkassign_queue_depth", "bulkassign_queue_depth_up", "bulkassign_queue_depth_scrape_errors_total"); err != nil {
		t.Error(err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("fn called %d times for one scrape, want 1", got)
	}

	// The value is read at each scrape, not cached.
	depth.Store(&map[string]uint64{"tenant-a": 7})
	body := scrape(t, reg)
	if !strings.Contains(body, `bulkassign_queue_depth{tenant="tenant-a"} 7`) || strings.Contains(body, "tenant-b") {
		t.Errorf("second scrape did not reflect the new depth:\n%s", grepLines(body, "queue_depth"))
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("fn called %d times for two scrapes, want 2", got)
	}
}

func TestWatchQueueDepthFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   DepthFunc
	}{
		{"error", func(context.Context) (map[string]uint64, error) {
			return map[string]uint64{"leak": 1}, errors.New("nats: connection closed (password=hunter2)")
		}},
		{"panic", func(context.Context) (map[string]uint64, error) { panic("boom") }},
		{"timeout", func(ctx context.Context) (map[string]uint64, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, reg := newTest(t)
			m.depth.timeout = 20 * time.Millisecond
			m.WatchQueueDepth(tt.fn)
			for range 2 {
				body := scrape(t, reg)
				if strings.Contains(body, "bulkassign_queue_depth{") {
					t.Errorf("depth series exposed after a failed read:\n%s", grepLines(body, "queue_depth"))
				}
				if strings.Contains(body, "hunter2") || strings.Contains(body, "boom") {
					t.Error("the read error's text reached the exposition")
				}
			}
			const want = `
# HELP bulkassign_queue_depth_up 1 if the queue depth could be read at this scrape, else 0.
# TYPE bulkassign_queue_depth_up gauge
bulkassign_queue_depth_up 0
# HELP bulkassign_queue_depth_scrape_errors_total Scrapes at which the queue depth could not be read.
# TYPE bulkassign_queue_depth_scrape_errors_total counter
bulkassign_queue_depth_scrape_errors_total 3
`
			// Third read, through Gather: errors count 3.
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
				"bulkassign_queue_depth_up", "bulkassign_queue_depth_scrape_errors_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestWatchQueueDepthFoldsBadTenants(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	m.WatchQueueDepth(func(context.Context) (map[string]uint64, error) {
		return map[string]uint64{"\xff": 1, "\xfe": 2, "": 4, "ok": 5}, nil
	})
	const want = `
# HELP bulkassign_queue_depth Jobs waiting in the queue per tenant, read at scrape time.
# TYPE bulkassign_queue_depth gauge
bulkassign_queue_depth{tenant="ok"} 5
bulkassign_queue_depth{tenant="other"} 3
bulkassign_queue_depth{tenant="unknown"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "bulkassign_queue_depth"); err != nil {
		t.Error(err)
	}

	// nil stops watching.
	m.WatchQueueDepth(nil)
	if names := familyNames(t, reg); names["bulkassign_queue_depth"] || names["bulkassign_queue_depth_up"] {
		t.Error("depth still exposed after WatchQueueDepth(nil)")
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
