package imports

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bundle is what the tests need: a store on an embedded NATS and an
// Importer on it.
type bundle struct {
	t     *testing.T
	ctx   context.Context
	store *jobs.Store
	im    *Importer
}

func setup(t *testing.T, storeCfg jobs.Config, cfg Config) *bundle {
	t.Helper()
	b := storetest.Start(t, storeCfg)
	im, err := New(b.Store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{t: t, ctx: natstest.Context(t), store: b.Store, im: im}
}

// Tenants and ids of the generated rows.
const (
	tenantA = "contoso.onmicrosoft.com"
	tenantB = "fabrikam.onmicrosoft.com"
	policy  = "6b0d549b-6f03-675a-1600-a35a099950d8"
)

// group returns the n-th group id.
func group(n int) string { return fmt.Sprintf("aaaaaaaa-bbbb-cccc-dddd-%012x", n) }

// csvRows returns a CSV of n valid rows, alternating tenants A and B, plus
// extra lines as given.
func csvRows(n int, extra ...string) []byte {
	var b bytes.Buffer
	b.WriteString("tenant_id,kind,policy_id,target,group_id\n")
	for i := range n {
		tenant := tenantA
		if i%2 == 1 {
			tenant = tenantB
		}
		fmt.Fprintf(&b, "%s,deviceConfigurations,%s,group,%s\n", tenant, policy, group(i))
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.Bytes()
}

// messageRows returns a queue message of n valid rows of tenant A.
func messageRows(n int) []byte {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`{"tenant_id":%q,"kind":"deviceConfigurations","policy_id":%q,"target":"group","group_id":%q}`, tenantA, policy, group(i)))
	}
	return []byte("[" + strings.Join(parts, ",") + "]")
}

// csvOf is the CSV source of data.
func csvOf(data []byte, opts ingest.Options) *CSV {
	return NewCSV(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, opts)
}

// interrupted is a source whose Emit stops after n rows, as a process that
// dies while enqueueing.
type interrupted struct {
	RowSource
	n int
}

var errInterrupted = fmt.Errorf("interrupted")

func (s interrupted) Emit(ctx context.Context, importID string, sink ingest.Sink) error {
	return s.RowSource.Emit(ctx, importID, &stopSink{Sink: sink, left: s.n})
}

// interruptedKeeper is an interrupted Keeper.
type interruptedKeeper struct {
	interrupted
	k Keeper
}

func (s interruptedKeeper) Keep() (jobs.Request, []byte) { return s.k.Keep() }

type stopSink struct {
	ingest.Sink
	left int
}

func (s *stopSink) Job(ctx context.Context, j jobs.Job) error {
	if s.left--; s.left < 0 {
		return errInterrupted
	}
	return s.Sink.Job(ctx, j)
}

func (s *stopSink) Result(ctx context.Context, r jobs.Result) error {
	if s.left--; s.left < 0 {
		return errInterrupted
	}
	return s.Sink.Result(ctx, r)
}

// queuedRows returns, for every row of import id in the jobs stream, how
// many times it is there.
func (b *bundle) queuedRows(id string) map[int]int {
	b.t.Helper()
	out := map[int]int{}
	for _, j := range storetest.QueuedJobs(b.t, b.store) {
		if j.ImportID == id {
			out[j.Row]++
		}
	}
	return out
}

// assertQueuedOnce fails unless the jobs stream holds exactly rows of
// import id, once each.
func (b *bundle) assertQueuedOnce(id string, rows []int) {
	b.t.Helper()
	got := b.queuedRows(id)
	for _, r := range rows {
		if got[r] != 1 {
			b.t.Errorf("row %d queued %d times, want 1", r, got[r])
		}
		delete(got, r)
	}
	if len(got) > 0 {
		b.t.Errorf("rows queued that should not be: %v", got)
	}
}

// finish records a created result for every queued job of import id, as a
// worker would, and removes the jobs from the stream.
func (b *bundle) finish(id string) {
	b.t.Helper()
	for _, j := range storetest.QueuedJobs(b.t, b.store) {
		if j.ImportID != id {
			continue
		}
		r := jobs.ResultFor(j, jobs.StatusCreated)
		if err := b.store.PutResult(b.ctx, r); err != nil {
			b.t.Fatal(err)
		}
	}
	storetest.PurgeJobs(b.t, b.store)
}

func rowRange(first, last int) []int {
	var out []int
	for r := first; r <= last; r++ {
		out = append(out, r)
	}
	return out
}
