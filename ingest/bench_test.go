package ingest

import (
	"context"
	"io"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// genReader generates a CSV of n rows lazily, so that a benchmark over a
// 100 MB input holds none of it. With distinct > 0 the rows cycle through
// that many assignments (the rest are duplicates), keeping the duplicate set
// fixed whatever n is; with distinct == 0 every row is a new assignment
// across 10 tenants × 1000 policies × n/10000 groups.
type genReader struct {
	n, distinct int
	i           int
	header      bool
	buf         []byte
	off         int
	// every and hook: when set, hook runs before every every-th row.
	every int
	hook  func()
}

func newGen(n, distinct int) *genReader { return &genReader{n: n, distinct: distinct} }

func (g *genReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if g.off == len(g.buf) {
			switch {
			case !g.header:
				g.buf = append(g.buf[:0], hdr...)
				g.header = true
			case g.i >= g.n:
				if total == 0 {
					return 0, io.EOF
				}
				return total, nil
			default:
				if g.hook != nil && g.i%g.every == 0 {
					g.hook()
				}
				g.buf = g.row(g.buf[:0], g.i)
				g.i++
			}
			g.off = 0
		}
		c := copy(p, g.buf[g.off:])
		g.off += c
		p = p[c:]
		total += c
	}
	return total, nil
}

func (g *genReader) row(b []byte, i int) []byte {
	k := i
	if g.distinct > 0 {
		k = i % g.distinct
	}
	b = appendGUID(b, "aaaaaaaa", uint64(k%10))
	if k%2 == 0 {
		b = append(b, ",deviceConfigurations,"...)
	} else {
		b = append(b, ",DeviceCompliancePolicies,"...)
	}
	b = appendGUID(b, "bbbbbbbb", uint64(k/10%1000))
	b = append(b, ",group,"...)
	b = appendGUID(b, "CCCCCCCC", uint64(k/10000))
	return append(b, '\n')
}

// appendGUID appends "pppppppp-0000-4000-8000-" and n as 12 hex digits.
func appendGUID(b []byte, prefix string, n uint64) []byte {
	b = append(b, prefix...)
	b = append(b, "-0000-4000-8000-"...)
	var d [16]byte
	s := strconv.AppendUint(d[:0], n, 16)
	for range 12 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// countSink counts what it receives and keeps nothing.
type countSink struct{ jobs, results int }

func (c *countSink) Job(context.Context, jobs.Job) error       { c.jobs++; return nil }
func (c *countSink) Result(context.Context, jobs.Result) error { c.results++; return nil }

// heapPeak samples the live-and-unswept heap every millisecond on a
// goroutine it owns, until stop.
type heapPeak struct {
	stop chan struct{}
	done chan uint64
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak in bytes.
func (h *heapPeak) Stop() uint64 {
	close(h.stop)
	return <-h.done
}

// liveHeap forces a collection and returns the live heap in bytes: what the
// program retains, independent of GC timing.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// benchIngest reports rows/s, peak-heap-MB (heap objects sampled every
// millisecond: what the process really needs, GC slack included) and
// max-live-heap-MB (live heap after a forced GC every 100k rows: what
// ingest retains).
func benchIngest(b *testing.B, rows, distinct int) {
	b.ReportAllocs()
	ctx := context.Background()
	var peak, live uint64
	b.ResetTimer()
	for range b.N {
		h := startHeapPeak()
		var sink countSink
		g := newGen(rows, distinct)
		g.every, g.hook = 100_000, func() { live = max(live, liveHeap()) }
		s, err := Ingest(ctx, g, Options{ImportID: "bench"}, &sink)
		live = max(live, liveHeap())
		peak = max(peak, h.Stop())
		if err != nil || s.Rows != rows || sink.jobs+sink.results != rows {
			b.Fatalf("summary %+v, %v", s, err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(live)/(1<<20), "max-live-heap-MB")
}

// BenchmarkIngest1M ingests 1,000,000 distinct rows (10 tenants, 1000
// policies, 100 groups): throughput, and peak heap including the duplicate
// key set (1M entries).
func BenchmarkIngest1M(b *testing.B) { benchIngest(b, 1_000_000, 0) }

// BenchmarkIngestFlat ingests 100k and 1M rows cycling through 1000
// assignments: the key set stays the same size, so equal peak heaps show
// that memory does not grow with file size.
func BenchmarkIngestFlat(b *testing.B) {
	for _, rows := range []int{100_000, 1_000_000} {
		b.Run("rows="+strconv.Itoa(rows), func(b *testing.B) { benchIngest(b, rows, 1000) })
	}
}

// TestMemoryFlat streams 200k rows (about 28 MB) cycling through 1000
// assignments through Validate, measuring the live heap after a forced GC
// every 20k rows. With the duplicate set full after the first checkpoint,
// the live heap must not grow with the rows read: nothing per row is
// retained. (Live heap after GC, not a sampled peak, so that a loaded
// machine delaying the collector cannot make the test flaky.)
func TestMemoryFlat(t *testing.T) {
	const rows, every = 200_000, 20_000
	var live []uint64
	g := newGen(rows, 1000)
	g.every, g.hook = every, func() { live = append(live, liveHeap()) }
	s, err := Validate(context.Background(), g, Options{})
	if err != nil || s.Rows != rows || s.Valid != 1000 || s.Duplicates != rows-1000 {
		t.Fatalf("summary %+v, %v", s, err)
	}
	if len(live) != rows/every {
		t.Fatalf("%d checkpoints, want %d", len(live), rows/every)
	}
	// Checkpoint 0 is before row 0; from checkpoint 1 (20k rows read) on, the
	// key set is complete.
	base := live[1]
	for i, l := range live[1:] {
		if l > base+1<<20 {
			t.Fatalf("live heap grew from %d to %d bytes after %d rows (checkpoints %v)", base, l, (i+1)*every, live)
		}
	}
	if top := slices.Max(live); top > 8<<20 {
		t.Fatalf("live heap %d bytes for a streamed input", top)
	}
	t.Logf("live heap at checkpoints (bytes): %v", live)
}
