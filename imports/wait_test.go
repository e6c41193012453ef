package imports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
)

// TestWait: Wait returns once every row has its result, having shown the
// counts as they grew; it fails with a *MissingError naming the rows whose
// jobs were lost.
func TestWait(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{MissingCheck: 20 * time.Millisecond})
	imp, err := b.im.Create(b.ctx, Spec{}, csvOf(csvRows(8), ingest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	var (
		seen []int
		last Counts
	)
	queued := storetest.QueuedJobs(t, b.store)
	var wg sync.WaitGroup
	wg.Go(func() { // a worker
		for _, j := range queued {
			if err := b.store.PutResult(b.ctx, jobs.ResultFor(j, jobs.StatusCreated)); err != nil {
				t.Error(err)
			}
		}
	})
	err = b.im.Wait(b.ctx, imp, func(c Counts) {
		seen = append(seen, c.Done())
		last = c
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	storetest.PurgeJobs(t, b.store)
	if len(seen) != 8 || seen[7] != 8 || last[contract.StatusCreated] != 8 || !last.OK() {
		t.Fatalf("progress %v, last %v", seen, last)
	}

	lost, err := b.im.Create(b.ctx, Spec{}, csvOf(csvRows(4), ingest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	storetest.PurgeJobs(t, b.store)
	var me *MissingError
	if err := b.im.Wait(b.ctx, lost, nil); !errors.As(err, &me) || me.Missing != 4 || me.MissingRows.Format(0) != "2-5" {
		t.Fatalf("Wait = %v, want 4 rows missing", err)
	}
	if !strings.Contains(me.Error(), "4 of 4 rows have no result and will get none") || !strings.Contains(me.Error(), "rows 2-5") {
		t.Errorf("missing error %q", me)
	}
}

// TestReport: the report holds the rows with a result, sorted, in either
// format, and the counts say how they ended.
func TestReport(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	bad := tenantA + ",deviceConfigurations," + policy + ",group,nope"
	imp, err := b.im.Create(b.ctx, Spec{}, csvOf(csvRows(3, bad), ingest.Options{SkipInvalid: true}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p, err := b.im.Report(b.ctx, imp, &out, FormatCSV)
	if err != nil || p.State() != "running" || p.Err() != nil {
		t.Fatalf("report while running: %s, %v, %v", p.State(), p.Err(), err)
	}
	b.finish(imp.ID)
	out.Reset()
	if p, err = b.im.Report(b.ctx, imp, &out, FormatCSV); err != nil || p.State() != "done" {
		t.Fatalf("report when done: %s, %v", p.State(), err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(recs) != 5 || recs[1][0] != "2" || recs[4][0] != "5" || recs[4][6] != "invalid" {
		t.Fatalf("report %q, %v", recs, err)
	}
	if got, want := p.Counts.String(), "created 3, existing 0, duplicate 0, failed 0, invalid 1, conflict 0, removed 0, absent 0"; got != want || p.Counts.OK() {
		t.Errorf("counts %q (OK %v), want %q and not OK", got, p.Counts.OK(), want)
	}
	out.Reset()
	if _, err := b.im.Report(b.ctx, imp, &out, FormatJSON); err != nil || !strings.HasPrefix(out.String(), "[") {
		t.Fatalf("json report %q, %v", out.String(), err)
	}
	if _, err := b.im.Report(b.ctx, imp, &out, "xml"); !errors.Is(err, ErrFormat) {
		t.Fatalf("xml: %v", err)
	}
}
