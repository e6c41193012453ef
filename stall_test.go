package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/internal/syncbuf"
	"github.com/bulkassign/bulkassign/jobs"
)

// slowSim and slowWorker make a run of a few hundred rows last long enough
// to be interrupted: 20 writes a second per tenant.
func slowSim() graphtest.Config {
	return graphtest.Config{Window: time.Second, AppWriteLimit: 20, TenantWriteLimit: 40, AppRequestLimit: 600, TenantRequestLimit: 1200}
}

var slowWorker = []string{"--write-limit", "20", "--write-window", "1s", "--ack-wait", "2s", "--drain-timeout", "2s"}

// fileConsumers keeps the tenant consumers' state in files, which the
// damage tests damage.
var fileConsumers = []string{"--consumer-storage", "file"}

// interrupt starts `bulkassign run` with args, lets it create at least n
// assignments, and stops it with SIGTERM (a graceful stop: the embedded
// server writes its state).
func (e *e2e) interrupt(n int, args ...string) {
	e.t.Helper()
	t := e.t.(*testing.T)
	p := e.start(args...)
	waitFor(t, 60*time.Second, fmt.Sprintf("%d creates", n), func() bool {
		select {
		case <-p.done:
			t.Fatalf("run exited before it was stopped (exit %d):\n%s", p.exitCode(), p.out.String())
		default:
		}
		return e.sim.Stats().CreatesApplied >= n
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop within 30s of SIGTERM:\n%s", p.out.String())
	}
}

// await waits at most within for p to exit and returns how long it ran
// after since.
func await(t *testing.T, p *proc, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("still running after %s:\n%s", within, p.out.String())
	}
	return p.exited.Sub(since)
}

// assertExactlyOnce checks the simulator holds every row once, created by
// one write each, and that the report has every row created.
func (e *e2e) assertExactlyOnce(rows []csvRow, report string) {
	e.t.Helper()
	e.assertSimHas(rows)
	if st := e.sim.Stats(); st.CreatesApplied != len(rows) || st.DuplicateCreates != 0 {
		e.t.Errorf("simulator: %d creates for %d rows, %d duplicates", st.CreatesApplied, len(rows), st.DuplicateCreates)
	}
	got := readReport(e.t, report)
	if len(got) != len(rows) {
		e.t.Fatalf("report: %d rows, want %d", len(got), len(rows))
	}
	for _, r := range got {
		if r["status"] != "created" {
			e.t.Errorf("row %s: %s %s", r["row"], r["status"], r["error_message"])
		}
	}
}

// consumerStates returns the state files of the tenant consumers under a
// JetStream store directory.
func consumerStates(t *testing.T, storeDir string) []string {
	t.Helper()
	states, err := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", jobs.JobsStream, "obs", "*", "o.dat"))
	if err != nil || len(states) == 0 {
		t.Fatalf("no consumer state file under %s (%v): the test tests nothing", storeDir, err)
	}
	return states
}

func corrupt(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("\x16\x02 damaged consumer state"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRunRepairsDamagedConsumerState: a run is stopped half-way, its
// tenant's consumer state file is damaged while nothing runs, and the next
// run (default flags: the embedded server) recreates the consumer, says so
// and finishes: every row created exactly once.
func TestRunRepairsDamagedConsumerState(t *testing.T) {
	t.Parallel()
	e := newE2E(t, slowSim())
	rows := genRows(11, 1, 200)
	path := e.writeCSV("damaged.csv", rows)
	args := append(append(append([]string{"run"}, fileConsumers...), slowWorker...), path)
	e.interrupt(40, args...)
	for _, state := range consumerStates(t, e.dataDir) {
		corrupt(t, state)
	}

	p := e.start(args...)
	took := await(t, p, time.Now(), 90*time.Second)
	if p.exitCode() != 0 {
		t.Fatalf("run after the damage: exit %d\n%s", p.exitCode(), p.out.String())
	}
	t.Logf("second run finished in %s", took.Round(time.Millisecond))
	if out := p.out.String(); !strings.Contains(out, "tenant consumer state was damaged") || !strings.Contains(out, "created it afresh") {
		t.Errorf("the run did not say what it repaired:\n%s", out)
	}
	if moved, _ := filepath.Glob(filepath.Join(e.dataDir, "damaged", "*", "o.dat")); len(moved) != 1 {
		t.Errorf("damaged state files kept: %v, want 1", moved)
	}
	e.assertExactlyOnce(rows, path+".report.csv")
}

// TestRunStopsOnDamagedRemoteConsumerState: against a NATS server whose
// files bulkassign cannot reach (--nats-url), a damaged consumer state
// ends run with exit 1 and a plain error within the stall timeout and a
// bounded margin; once the folder the error names is moved away, a rerun
// finishes with every row created exactly once.
func TestRunStopsOnDamagedRemoteConsumerState(t *testing.T) {
	t.Parallel()
	e := newE2E(t, slowSim())
	d := e.damageRemote(12)
	rows, path, srv, states := d.rows, d.path, d.srv, d.states
	run := func(url string) []string {
		return append(append(append([]string{"run", "--nats-url", url, "--stall-timeout", "3s"}, fileConsumers...), slowWorker...), path)
	}

	start := time.Now()
	p := e.start(run(srv.ClientURL())...)
	// Bound: the stall timeout (3 s) and a consumer request's timeout
	// (10 s), with margin.
	took := await(t, p, start, 30*time.Second)
	out := p.out.String()
	t.Logf("run ended after %s (exit %d)", took.Round(time.Millisecond), p.exitCode())
	if p.exitCode() != exitFailed {
		t.Fatalf("run with a damaged consumer it cannot repair: exit %d, want %d\n%s", p.exitCode(), exitFailed, out)
	}
	for _, want := range []string{"cannot make progress", "opening the consumer of tenant", "consumer in the NATS server is damaged",
		"move the folder jetstream/<account>/streams/BULKASSIGN_JOBS/obs/", "nothing recorded so far is lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	creates := e.sim.Stats().CreatesApplied
	if creates >= len(rows) {
		t.Fatalf("%d creates: every row landed, the test tests nothing", creates)
	}

	// The operator does what the error says, then runs again.
	e.moveAway(states)
	p = e.start(run(srv.ClientURL())...)
	await(t, p, time.Now(), 90*time.Second)
	if p.exitCode() != 0 {
		t.Fatalf("run after the repair: exit %d\n%s", p.exitCode(), p.out.String())
	}
	e.assertExactlyOnce(rows, path+".report.csv")
}

// remoteDamage is an import half done against a NATS server that the
// commands reach by URL only, whose tenant consumer state was damaged
// while it was down.
type remoteDamage struct {
	rows   []csvRow
	path   string
	srv    *server.Server
	states []string // the damaged state files
}

// damageRemote runs 200 rows (seed) against a server of its own until 40
// are created, stops the run and the server, damages the consumer state
// files and starts the server again.
func (e *e2e) damageRemote(seed uint64) remoteDamage {
	t := e.t.(*testing.T)
	storeDir := filepath.Join(e.dir, "nats")
	srv := startServer(t, storeDir)
	d := remoteDamage{rows: genRows(seed, 1, 200)}
	d.path = e.writeCSV("remote.csv", d.rows)
	e.interrupt(40, append(append(append([]string{"run", "--nats-url", srv.ClientURL()}, fileConsumers...), slowWorker...), d.path)...)
	srv.Shutdown()
	d.states = consumerStates(t, storeDir)
	for _, state := range d.states {
		corrupt(t, state)
	}
	d.srv = startServer(t, storeDir)
	return d
}

// moveAway does what the error tells an operator: it moves the folders of
// the damaged consumer states out of the server's store.
func (e *e2e) moveAway(states []string) {
	e.t.Helper()
	for _, state := range states {
		dir := filepath.Dir(state)
		if err := os.Rename(dir, filepath.Join(e.dir, filepath.Base(dir))); err != nil {
			e.t.Fatal(err)
		}
	}
}

// startServer starts a NATS server with JetStream on dir in this process,
// standing for a server bulkassign reaches only by URL.
func startServer(t *testing.T, dir string) *server.Server {
	t.Helper()
	return natstest.PlainAt(t, dir)
}

// TestRunStopsOnFullDisk: the data directory is a tmpfs too small for
// the import, so the disk fills half-way through the run: run says the
// store cannot make progress and exits 1 within the stall timeout and a
// bounded margin; with a larger disk, a rerun finishes with every row
// created exactly once.
func TestRunStopsOnFullDisk(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	mountTmpfs(t, e.dataDir, "512k") // about 150 of the 300 rows fit
	rows := genRows(13, 1, 300)
	path := e.writeCSV("full.csv", rows)
	args := append(append([]string{"run", "--stall-timeout", "3s", "--ack-wait", "2s", "--drain-timeout", "2s"}, fastWorker...), path)

	start := time.Now()
	p := e.start(args...)
	// Bound: the run up to the full disk (about 5 s), a write hanging
	// until its timeout (10 s) or the probe after 5 s without a write, the
	// stall timeout (3 s), with margin. No drain: run stops at once.
	took := await(t, p, start, 40*time.Second)
	out := p.out.String()
	t.Logf("run ended after %s (exit %d), %d creates", took.Round(time.Millisecond), p.exitCode(), e.sim.Stats().CreatesApplied)
	if p.exitCode() != exitFailed {
		t.Fatalf("run on a full disk: exit %d, want %d\n%s", p.exitCode(), exitFailed, out)
	}
	if !strings.Contains(out, "cannot make progress") || !regexp.MustCompile(`storage is full|does not answer|disabled`).MatchString(out) {
		t.Errorf("the error does not say the store cannot make progress and why:\n%s", out)
	}
	if e.sim.Stats().CreatesApplied >= len(rows) {
		t.Fatal("every row landed before the disk filled: the test tests nothing")
	}

	if out, err := exec.Command("mount", "-o", "remount,size=64m", e.dataDir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v\n%s", err, out)
	}
	// The rerun waits for the leases the stopped run could not release
	// (they expire after 30 s): no other worker may write those keys.
	p = e.start(args...)
	await(t, p, time.Now(), 90*time.Second)
	if p.exitCode() != 0 {
		t.Fatalf("run with space again: exit %d\n%s", p.exitCode(), p.out.String())
	}
	e.assertExactlyOnce(rows, path+".report.csv")
}

// mountTmpfs mounts a tmpfs of size at dir (the tests run as root) and
// unmounts it when the test ends.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s (the test needs root): %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}

// TestServeUnreadyWhileStoreStalled: serve against a NATS server whose
// tenant consumer state is damaged (and whose files it cannot reach) turns
// unready, /readyz saying why, with bulkassign_store_healthy 0; once the
// damaged folder is moved away it is ready again and finishes the rows,
// each created once.
func TestServeUnreadyWhileStoreStalled(t *testing.T) {
	t.Parallel()
	e := newE2E(t, slowSim())
	d := e.damageRemote(15)
	rows, srv, states := d.rows, d.srv, d.states

	metricsAddr := freeAddr(t)
	s := e.serve(srv.ClientURL(), "e2e-token", append(append([]string{"--metrics-addr", metricsAddr, "--stall-timeout", "2s", "--submit-subject", ""}, fileConsumers...), slowWorker...)...)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitFor(t, 30*time.Second, "/readyz 503 saying the store cannot make progress", func() bool {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "cannot make progress") && strings.Contains(body, "consumer")
	})
	if _, metrics := get("/metrics"); !strings.Contains(metrics, "\nbulkassign_store_healthy 0\n") {
		t.Errorf("/metrics while stalled lacks bulkassign_store_healthy 0:\n%s", metrics)
	}

	e.moveAway(states)
	waitFor(t, 30*time.Second, "/readyz 200 and bulkassign_store_healthy 1", func() bool {
		code, _ := get("/readyz")
		_, metrics := get("/metrics")
		return code == http.StatusOK && strings.Contains(metrics, "\nbulkassign_store_healthy 1\n")
	})
	waitFor(t, 60*time.Second, "every row created", func() bool { return e.sim.Stats().CreatesApplied >= len(rows) })
	e.assertSimHas(rows)
	if st := e.sim.Stats(); st.CreatesApplied != len(rows) || st.DuplicateCreates != 0 {
		t.Errorf("simulator: %d creates for %d rows, %d duplicates", st.CreatesApplied, len(rows), st.DuplicateCreates)
	}
	s.stopAndWait()
}

// served is a `bulkassign serve` running in this process.
type served struct {
	t    *testing.T
	stop context.CancelFunc
	out  *syncbuf.Buffer
	done chan int
}

// serve starts `bulkassign serve` in this process against the NATS server
// at url and the bundle's simulator, with token as the Graph token, without
// the HTTP API unless args give --http-addr.
func (e *e2e) serve(url, token string, args ...string) *served {
	t := e.t.(*testing.T)
	ctx, stop := context.WithCancel(context.Background())
	s := &served{t: t, stop: stop, out: &syncbuf.Buffer{}, done: make(chan int, 1)}
	t.Cleanup(stop)
	go func() {
		vars := map[string]string{"BULKASSIGN_GRAPH_TOKEN": token, "BULKASSIGN_GRAPH_URL": e.sim.URL(), "BULKASSIGN_NATS_URL": url}
		env := &environment{stdin: strings.NewReader(""), stdout: s.out, stderr: s.out, getenv: func(k string) string { return vars[k] }}
		s.done <- realMain(ctx, append([]string{"serve", "--http-addr="}, args...), env)
	}()
	return s
}

// stopAndWait stops serve and checks that it exits 0 within 40 s.
func (s *served) stopAndWait() {
	s.t.Helper()
	s.stop()
	select {
	case code := <-s.done:
		if code != 0 {
			s.t.Errorf("serve exit %d\n%s", code, s.out.String())
		}
	case <-time.After(40 * time.Second):
		s.t.Fatal("serve did not stop")
	}
}
