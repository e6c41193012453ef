package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// TestHealthStall: the store stalls only when one operation keeps failing
// for the whole timeout; a success, a lone failure, cancellations and held
// leases never stall it, and an old streak nobody retries expires.
func TestHealthStall(t *testing.T) {
	t.Parallel()
	const timeout = time.Minute
	boom := errors.New("boom")
	var (
		result  = call{label.OpResult, streakWrite, ""}
		lease   = call{label.OpLease, streakWrite, ""}
		intent  = call{label.OpIntent, streakWrite, ""}
		read    = call{label.OpOutcome, streakRead, ""}
		fetch   = call{label.OpFetch, streakFetch, "contoso.onmicrosoft.com"}
		find    = call{label.OpDiscover, streakDiscover, ""}
		writing = streakWhat[streakWrite]
	)
	tests := []struct {
		name string
		// steps run one per second of fake time.
		steps []func(h *health)
		// after is how long to wait after the last step before asking.
		after time.Duration
		want  string // Operation of the stall, "" for none
	}{
		{
			name:  "fails every second for the timeout",
			steps: repeat(61, func(h *health) { h.record(result, time.Now(), boom) }),
			want:  writing,
		},
		{
			name:  "fails for less than the timeout",
			steps: repeat(59, func(h *health) { h.record(result, time.Now(), boom) }),
		},
		{
			name: "a success in between ends the streak",
			steps: append(append(repeat(40, func(h *health) { h.record(result, time.Now(), boom) }),
				func(h *health) { h.record(result, time.Now(), nil) }),
				repeat(40, func(h *health) { h.record(result, time.Now(), boom) })...),
		},
		{
			name: "writes of different kinds make one streak",
			steps: append(repeat(31, func(h *health) { h.record(lease, time.Now(), boom) }),
				repeat(31, func(h *health) { h.record(result, time.Now(), boom) })...),
			want: writing,
		},
		{
			name: "any write that succeeds ends the write streak",
			steps: append(append(repeat(40, func(h *health) { h.record(lease, time.Now(), boom) }),
				func(h *health) { h.record(intent, time.Now(), nil) }),
				repeat(40, func(h *health) { h.record(result, time.Now(), boom) })...),
		},
		{
			name: "a success of another kind does not",
			steps: repeat(61, func(h *health) {
				h.record(fetch, time.Now(), boom)
				h.record(find, time.Now(), nil)
				h.record(read, time.Now(), nil)
			}),
			want: "fetching jobs of tenant contoso.onmicrosoft.com",
		},
		{
			name:  "a request unanswered for the timeout is enough",
			steps: []func(h *health){func(h *health) { h.record(result, time.Now().Add(-timeout), boom) }},
			want:  writing,
		},
		{
			name:  "one failure, then silence",
			steps: []func(h *health){func(h *health) { h.record(lease, time.Now(), boom) }},
			after: 2 * timeout,
		},
		{
			name:  "a streak that stopped long ago has expired",
			steps: repeat(61, func(h *health) { h.record(read, time.Now(), boom) }),
			after: timeout + time.Second,
		},
		{
			name: "a held lease ends no write streak",
			steps: repeat(61, func(h *health) {
				h.record(result, time.Now(), boom)
				h.record(lease, time.Now(), &jobs.HeldError{Name: "key/x", Owner: "other"})
			}),
			want: writing,
		},
		{
			name: "cancelled calls and held leases are not failures",
			steps: repeat(61, func(h *health) {
				h.record(read, time.Now(), fmt.Errorf("read outcome: %w", context.Canceled))
				h.record(lease, time.Now(), &jobs.HeldError{Name: "key/x", Owner: "other"})
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHealth(timeout, noMetrics{})
				for _, step := range tt.steps {
					step(h)
					time.Sleep(time.Second)
				}
				time.Sleep(tt.after)
				st := h.stalled(time.Now())
				switch {
				case tt.want == "" && st != nil:
					t.Fatalf("stalled: %v", st)
				case tt.want != "" && st == nil:
					t.Fatalf("not stalled, want %q", tt.want)
				case st != nil && (st.Operation != tt.want || !errors.Is(st, ErrStalled) || !errors.Is(st, boom) || st.For < timeout):
					t.Fatalf("stall = %+v, want operation %q failing for >= %s with boom", st, tt.want, timeout)
				}
			})
		})
	}
}

func repeat(n int, f func(h *health)) []func(h *health) {
	out := make([]func(h *health), n)
	for i := range out {
		out[i] = f
	}
	return out
}

// TestRunStopsWhenStoreGone: with StopOnStall (bulkassign run), losing the
// NATS server ends Run with a StallError that says so, within the stall
// timeout plus a bounded margin; OnStall is called once with it (run
// closes its connection there, as this test does), and the store-healthy
// gauge drops to 0.
func TestRunStopsWhenStoreGone(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim()})
	m, reg := newMetrics(t)
	tenant := guid("tenant/gone")
	b.publish(makeJobs(spec{importID: "gone", tenant: tenant, kind: "deviceConfigurations", rows: 200}))
	cfg := fastWorker()
	cfg.WriteLimit = 5 // slow enough that jobs are still queued when the server goes
	cfg.StallTimeout, cfg.StopOnStall, cfg.Metrics = 2*time.Second, true, m
	var onStall []*StallError
	cfg.OnStall = func(st *StallError) {
		onStall = append(onStall, st)
		b.nc.Close()
	}
	w := b.newWorker(cfg, nil)
	if got := metricSum(t, reg, "bulkassign_store_healthy"); got != 1 {
		t.Fatalf("bulkassign_store_healthy = %v before any failure, want 1", got)
	}
	var err error
	finished := make(chan struct{})
	go func() {
		err = w.Run(context.Background())
		close(finished)
	}()
	t.Cleanup(func() {
		w.Abort()
		<-finished
	})
	b.waitResults("gone", 5, 30*time.Second)

	b.srv.Shutdown()
	gone := time.Now()
	// Bound: the stall timeout, plus a request that times out (5 s), with
	// margin. No drain: Run stops at once, and the closed connection fails
	// every final write at once.
	const bound = 2*time.Second + 5*time.Second + 5*time.Second
	select {
	case <-finished:
	case <-time.After(bound):
		t.Fatalf("Run still running %s after the server went away", bound)
	}
	t.Logf("Run returned %s after the server went away: %v", time.Since(gone).Round(time.Millisecond), err)
	var st *StallError
	if !errors.As(err, &st) || !errors.Is(err, ErrStalled) {
		t.Fatalf("Run = %v, want a StallError", err)
	}
	if st.For < 2*time.Second || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("stall %q: want a failure of at least 2s explained as a server that does not answer", err)
	}
	if len(onStall) != 1 || onStall[0] != st {
		t.Errorf("OnStall called with %v, want once with Run's error", onStall)
	}
	if got := metricSum(t, reg, "bulkassign_store_healthy"); got != 0 {
		t.Errorf("bulkassign_store_healthy = %v after the stall, want 0", got)
	}
	if got := metricSum(t, reg, "bulkassign_store_errors_total"); got == 0 {
		t.Error("bulkassign_store_errors_total = 0 after the stall")
	}
}

// TestStallWithoutStopRecovers: without StopOnStall (bulkassign serve) the
// worker stays up while the server is gone, reports the stall (Stalled,
// gauge), and once the server is back it is healthy again and every job
// lands exactly once.
func TestStallWithoutStopRecovers(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{sim: fastSim(), jobs: jobs.Config{AckWait: 2 * time.Second}})
	m, reg := newMetrics(t)
	js := makeJobs(spec{importID: "back", tenant: guid("tenant/back"), kind: "deviceConfigurations", policies: 2, rows: 60})
	b.publish(js)
	cfg := fastWorker()
	cfg.WriteLimit = 10
	cfg.StallTimeout, cfg.Metrics = 2*time.Second, m
	w := b.newWorker(cfg, nil)
	b.run(w)
	b.waitResults("back", 5, 30*time.Second)

	b.srv.Shutdown()
	waitFor(t, 20*time.Second, "the worker to report the stall", func() bool { return w.Stalled() != nil })
	if got := metricSum(t, reg, "bulkassign_store_healthy"); got != 0 {
		t.Errorf("bulkassign_store_healthy = %v while stalled, want 0", got)
	}
	t.Logf("stalled: %v", w.Stalled())
	b.startNATS()
	waitFor(t, 20*time.Second, "the worker to recover", func() bool {
		return w.Stalled() == nil && metricSum(t, reg, "bulkassign_store_healthy") == 1
	})
	b.assertCreatedOnce("back", len(js), len(js))
}

// assertCreatedOnce waits for the n results of an import, checks that
// every one is created, and that the simulator applied creates creates
// in all without a duplicate.
func (b *bundle) assertCreatedOnce(importID string, n, creates int) {
	b.t.Helper()
	rs := b.waitResults(importID, n, 60*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != n {
		b.t.Fatalf("statuses = %v, want all %d created", got, n)
	}
	if st := b.sim.Stats(); st.CreatesApplied != creates || st.DuplicateCreates != 0 {
		b.t.Fatalf("simulator: %d creates, want %d; %d duplicates", st.CreatesApplied, creates, st.DuplicateCreates)
	}
}

// TestDamagedConsumerIsRecreated: a tenant's consumer state damaged while
// the server was down — unreadable, or readable but claiming jobs the
// stream still holds were acknowledged — is recreated by the worker, and
// every row still lands exactly once.
func TestDamagedConsumerIsRecreated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// damage rewrites the state file of tenant a's consumer; other is
		// the state file of tenant b's, which acknowledged every job up to
		// a higher stream sequence.
		damage func(t *testing.T, state, other string)
		moved  bool // the files were unreadable: moved to damaged/
	}{
		{
			name: "unreadable state file",
			damage: func(t *testing.T, state, _ string) {
				writeFile(t, state, []byte("\x16\x02 not a consumer state"))
			},
			moved: true,
		},
		{
			name: "state ahead of the stream",
			damage: func(t *testing.T, state, other string) {
				buf, err := os.ReadFile(other)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, state, buf)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// File-stored consumers: their state files are what is damaged.
			b := setup(t, opts{sim: fastSim(), jobs: jobs.Config{AckWait: 2 * time.Second, ConsumerStorage: jobs.ConsumerFile}})
			store, err := jobs.Open(testCtx(t), b.nc, jobs.Config{AckWait: 2 * time.Second, ConsumerStorage: jobs.ConsumerFile, LocalStoreDir: b.dir})
			if err != nil {
				t.Fatal(err)
			}
			b.store = store
			a, other := guid("tenant/damaged/a/"+tt.name), guid("tenant/damaged/b/"+tt.name)
			js := makeJobs(spec{importID: "dmg", tenant: a, kind: "deviceConfigurations", policies: 2, rows: 40})
			// Tenant b's jobs come after a's in the stream.
			b.publish(js)
			b.publish(makeJobs(spec{importID: "other", tenant: other, kind: "deviceConfigurations", rows: 10}))
			cfg := fastWorker()
			cfg.WriteLimit = 4 // a's 40 rows take about 10 s; b's 10 about 2 s
			cfg.StallTimeout = 10 * time.Second
			stop := b.run(b.newWorker(cfg, nil))
			b.waitResults("other", 10, 30*time.Second)
			first := len(b.waitResults("dmg", 3, 30*time.Second))
			stop()
			if first == len(js) {
				t.Fatal("every row landed before the damage: the test tests nothing")
			}

			b.srv.Shutdown()
			obs := filepath.Join(b.dir, "jetstream", "$G", "streams", jobs.JobsStream, "obs")
			state := filepath.Join(obs, "jobs_"+a, "o.dat")
			if _, err := os.Stat(state); err != nil {
				t.Fatalf("the consumer state file is not where the test expects it: %v", err)
			}
			tt.damage(t, state, filepath.Join(obs, "jobs_"+other, "o.dat"))
			b.startNATS()
			waitFor(t, 10*time.Second, "the client to reconnect", b.nc.IsConnected)

			b.run(b.newWorker(cfg, nil))
			b.assertCreatedOnce("dmg", len(js), len(js)+10)
			moved, _ := filepath.Glob(filepath.Join(b.dir, "damaged", "*"))
			if tt.moved != (len(moved) == 1) {
				t.Errorf("damaged files moved to %v, want moved: %v", moved, tt.moved)
			}
			info, err := mustConsumer(t, b.store, a).Info(testCtx(t))
			if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
				t.Errorf("consumer after the run: %+v, %v; want nothing pending", info, err)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustConsumer(t *testing.T, s *jobs.Store, tenant string) jetstream.Consumer {
	t.Helper()
	c, err := s.TenantConsumer(testCtx(t), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNeedProbe: the worker probes the store while writes fail, and while
// jobs are in flight with no write for probeQuiet; never when idle.
func TestNeedProbe(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHealth(time.Minute, noMetrics{})
		if h.needProbe(time.Now(), true) {
			t.Fatal("probe right after a write")
		}
		time.Sleep(probeQuiet)
		if !h.needProbe(time.Now(), true) || h.needProbe(time.Now(), false) {
			t.Fatalf("after %s without a write: probe when busy %v, when idle %v; want only when busy",
				probeQuiet, h.needProbe(time.Now(), true), h.needProbe(time.Now(), false))
		}
		h.record(call{label.OpResult, streakWrite, ""}, time.Now(), nil)
		if h.needProbe(time.Now(), true) {
			t.Fatal("probe right after a write that succeeded")
		}
		h.record(call{label.OpLease, streakWrite, ""}, time.Now(), errors.New("boom"))
		if !h.needProbe(time.Now(), false) {
			t.Fatal("no probe while writes fail")
		}
		h.record(call{label.OpProbe, streakWrite, ""}, time.Now(), nil)
		if h.needProbe(time.Now(), false) {
			t.Fatal("probe after the probe succeeded")
		}
	})
}
