package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/internal/natstest"
)

const fabrikam = "0a1b2c3d-0000-4000-8000-00000000abcd"

// damageBundle is a store whose server was stopped, had a consumer state
// file rewritten, and was started again.
type damageBundle struct {
	dir   string
	nc    *nats.Conn
	store *Store
}

// consumerState is the state file of a tenant's consumer under dir.
func consumerState(dir, tenant string) string {
	return filepath.Join(dir, "jetstream", "$G", "streams", JobsStream, "obs", consumerName(tenant), "o.dat")
}

// setupDamaged publishes 10 jobs of contoso (rows 2-11) and 4 of fabrikam
// after them; contoso's consumer acknowledges rows 2-4 and holds 5-6
// unacknowledged, fabrikam's acknowledges all 4. Then the server stops,
// damage rewrites contoso's consumer state (given fabrikam's), and the
// server starts again on the same directory.
func setupDamaged(t *testing.T, damage func(state, other string) error) *damageBundle {
	t.Helper()
	b := setup(t, Config{AckWait: time.Minute, ConsumerStorage: ConsumerFile})
	ctx := testCtx(t)
	p := b.store.NewPublisher(16)
	for i := range 10 {
		if err := p.Publish(ctx, testJob(contoso, "imp1", i+2, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if err := p.Publish(ctx, testJob(fabrikam, "imp2", i+2, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consume(t, b.store, contoso, 5, 3)
	consume(t, b.store, fabrikam, 4, 4)
	b.nc.Close()
	b.srv.Shutdown()
	if err := damage(consumerState(b.dir, contoso), consumerState(b.dir, fabrikam)); err != nil {
		t.Fatalf("damage: %v", err)
	}
	e := startServer(t, b.dir)
	nc := natstest.Connect(t, e)
	s, err := Open(ctx, nc, Config{AckWait: time.Minute, ConsumerStorage: ConsumerFile})
	if err != nil {
		t.Fatal(err)
	}
	return &damageBundle{dir: b.dir, nc: nc, store: s}
}

const contoso = "contoso.onmicrosoft.com"

// consume fetches n jobs of tenant and acknowledges the first ack; it
// returns their rows.
func consume(t *testing.T, s *Store, tenant string, n, ack int) []int {
	t.Helper()
	ctx := testCtx(t)
	c, err := s.TenantConsumer(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	for msg := range batch.Messages() {
		j, err := DecodeJob(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, j.Row)
		if len(rows) <= ack {
			if err := msg.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rows
}

// TestRecreateUnloadableConsumer: a consumer whose state file the server
// cannot read is reported damaged; without its files at hand the repair
// says which folder to remove, with them it moves the folder aside and
// the new consumer delivers every unacknowledged job.
func TestRecreateUnloadableConsumer(t *testing.T) {
	b := setupDamaged(t, func(state, _ string) error {
		return os.WriteFile(state, []byte("\x16\x02 garbage"), 0o600)
	})
	ctx := testCtx(t)
	_, err := b.store.TenantConsumer(ctx, contoso)
	if !errors.Is(err, ErrConsumerDamaged) {
		t.Fatalf("TenantConsumer = %v, want ErrConsumerDamaged", err)
	}
	if Explain(err) == "" {
		t.Errorf("Explain(%v) says nothing", err)
	}
	_, _, err = b.store.RecreateTenantConsumer(ctx, contoso)
	if !errors.Is(err, ErrConsumerDamaged) || !strings.Contains(err.Error(), "obs/jobs_contoso_onmicrosoft_com") {
		t.Fatalf("RecreateTenantConsumer without LocalStoreDir = %v, want ErrConsumerDamaged naming the folder", err)
	}

	local, err := Open(ctx, b.nc, Config{AckWait: time.Minute, ConsumerStorage: ConsumerFile, LocalStoreDir: b.dir})
	if err != nil {
		t.Fatal(err)
	}
	_, movedTo, err := local.RecreateTenantConsumer(ctx, contoso)
	if err != nil {
		t.Fatalf("RecreateTenantConsumer: %v", err)
	}
	if !strings.HasPrefix(movedTo, filepath.Join(b.dir, "damaged")+string(filepath.Separator)) {
		t.Errorf("moved to %q, want under %s/damaged", movedTo, b.dir)
	}
	if data, err := os.ReadFile(filepath.Join(movedTo, "o.dat")); err != nil || string(data) != "\x16\x02 garbage" {
		t.Errorf("moved state file = %q, %v", data, err)
	}
	if err := local.CheckTenantConsumer(ctx, contoso); err != nil {
		t.Errorf("CheckTenantConsumer after the repair: %v", err)
	}
	got := consume(t, local, contoso, 20, 20)
	slices.Sort(got)
	if want := []int{5, 6, 7, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Fatalf("after the repair the consumer delivered rows %v, want the unacknowledged %v", got, want)
	}
}

// TestCheckFindsStateAheadOfStream: a readable state claiming jobs the
// stream still holds were acknowledged (here: another consumer's state)
// is found by CheckTenantConsumer; recreating the consumer (through the
// API: the server had loaded it) brings every job back.
func TestCheckFindsStateAheadOfStream(t *testing.T) {
	b := setupDamaged(t, func(state, other string) error {
		data, err := os.ReadFile(other)
		if err != nil {
			return err
		}
		return os.WriteFile(state, data, 0o600)
	})
	ctx := testCtx(t)
	if _, err := b.store.TenantConsumer(ctx, contoso); err != nil {
		t.Fatalf("TenantConsumer: %v (the damage is readable: it loads)", err)
	}
	err := b.store.CheckTenantConsumer(ctx, contoso)
	if !errors.Is(err, ErrConsumerDamaged) || !strings.Contains(err.Error(), "0 of the 7 jobs") {
		t.Fatalf("CheckTenantConsumer = %v, want ErrConsumerDamaged: 0 of the 7 jobs", err)
	}
	if err := b.store.CheckTenantConsumer(ctx, fabrikam); err != nil {
		t.Fatalf("CheckTenantConsumer(fabrikam) = %v, want nil", err)
	}
	_, movedTo, err := b.store.RecreateTenantConsumer(ctx, contoso)
	if err != nil || movedTo != "" {
		t.Fatalf("RecreateTenantConsumer = %q, %v; want a plain delete and create", movedTo, err)
	}
	if err := b.store.CheckTenantConsumer(ctx, contoso); err != nil {
		t.Errorf("CheckTenantConsumer after the repair: %v", err)
	}
	got := consume(t, b.store, contoso, 20, 20)
	slices.Sort(got)
	if want := []int{5, 6, 7, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Fatalf("after the repair the consumer delivered rows %v, want %v", got, want)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		given error
		want  string // a word of the explanation; "" for none
	}{
		{"nil", nil, ""},
		{"unrelated", errors.New("boom"), ""},
		{"damaged consumer", fmt.Errorf("x: %w", ErrConsumerDamaged), "damaged"},
		{"storage full", fmt.Errorf("put result: %w", &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}), "full"},
		{"account storage limit", &jetstream.APIError{Code: 500, ErrorCode: 10047, Description: "insufficient storage resources available"}, "full"},
		{"JetStream disabled", fmt.Errorf("x: %w", jetstream.ErrJetStreamNotEnabled), "disabled"},
		{"no answer", fmt.Errorf("pending tenants: %w", context.DeadlineExceeded), "does not answer"},
		{"no responders", fmt.Errorf("x: %w", nats.ErrNoResponders), "does not answer"},
	}
	for _, tt := range tests {
		got := Explain(tt.given)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: Explain = %q, want it to say %q", tt.name, got, tt.want)
		}
	}
}
