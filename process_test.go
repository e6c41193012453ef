package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/syncbuf"
)

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binary builds bulkassign once for the process tests.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "bulkassign-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "bulkassign")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a bulkassign process started by a test.
type proc struct {
	cmd    *exec.Cmd
	out    syncbuf.Buffer
	done   chan struct{}
	err    error
	exited time.Time
}

func (e *e2e) start(args ...string) *proc {
	e.t.Helper()
	return e.startWith(nil, args...)
}

// startWith is start with extra "NAME=value" variables, which win over the
// bundle's ("NAME=" unsets one for bulkassign, which ignores empty ones).
func (e *e2e) startWith(vars []string, args ...string) *proc {
	e.t.Helper()
	p := &proc{cmd: exec.Command(binary(e.t), args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(),
		"BULKASSIGN_GRAPH_TOKEN=e2e-token",
		"BULKASSIGN_GRAPH_URL="+e.sim.URL(),
		"BULKASSIGN_DATA_DIR="+e.dataDir,
		"BULKASSIGN_NATS_PORT=-1",
		"BULKASSIGN_QUIET=true",
	)
	p.cmd.Env = append(p.cmd.Env, vars...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

// TestRunSurvivesKill9 kills a run with SIGKILL at random moments of a
// 2,000-row import across 5 tenants, three times, then lets a final run
// finish: every row is created exactly once and reported once.
func TestRunSurvivesKill9(t *testing.T) {
	t.Parallel()
	cfg := graphtest.Config{Window: time.Second, AppWriteLimit: 40, TenantWriteLimit: 80, AppRequestLimit: 400, TenantRequestLimit: 800}
	e := newE2E(t, cfg)
	rows := genRows(5, 5, 400)
	path := e.writeCSV("kill.csv", rows)
	args := []string{"run", "--ack-wait", "2s", "--write-limit", "40", "--write-window", "1s", path}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	for kill := 1; kill <= 3; kill++ {
		target := e.sim.Stats().CreatesApplied + 100 + rng.IntN(250)
		p := e.start(args...)
		waitFor(t, 90*time.Second, fmt.Sprintf("kill %d: %d creates", kill, target), func() bool {
			select {
			case <-p.done:
				t.Fatalf("kill %d: run exited before it was killed (exit %d):\n%s", kill, p.exitCode(), p.out.String())
			default:
			}
			return e.sim.Stats().CreatesApplied >= target
		})
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		t.Logf("kill %d at %d creates", kill, e.sim.Stats().CreatesApplied)
	}
	p := e.start(args...)
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("final run did not finish:\n%s", p.out.String())
	}
	if p.exitCode() != 0 {
		t.Fatalf("final run: exit %d\n%s", p.exitCode(), p.out.String())
	}
	e.assertSimHas(rows)
	if d := e.sim.Stats().DuplicateCreates; d != 0 {
		t.Errorf("%d duplicate creates", d)
	}
	report := readReport(t, path+".report.csv")
	if len(report) != len(rows) {
		t.Fatalf("report: %d rows, want %d", len(report), len(rows))
	}
	seen := map[string]bool{}
	for _, r := range report {
		if seen[r["row"]] {
			t.Fatalf("row %s reported twice", r["row"])
		}
		seen[r["row"]] = true
		if r["status"] != "created" {
			t.Errorf("row %s: %s %s", r["row"], r["status"], r["error_message"])
		}
	}
}

// TestRunSIGTERMDrains stops a run with SIGTERM while writes are in flight:
// it exits within the drain timeout, and a second run completes the import
// with every row created once.
func TestRunSIGTERMDrains(t *testing.T) {
	t.Parallel()
	cfg := graphtest.Config{Window: time.Second, AppWriteLimit: 30, TenantWriteLimit: 60, AppRequestLimit: 600, TenantRequestLimit: 1200,
		Latency: 150 * time.Millisecond, Jitter: 100 * time.Millisecond}
	e := newE2E(t, cfg)
	rows := genRows(6, 3, 150)
	path := e.writeCSV("term.csv", rows)
	const drain = 3 * time.Second
	args := []string{"run", "--ack-wait", "2s", "--drain-timeout", drain.String(), "--write-limit", "30", "--write-window", "1s", path}
	p := e.start(args...)
	waitFor(t, 60*time.Second, "first creates", func() bool { return e.sim.Stats().CreatesApplied >= 60 })
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(drain + 10*time.Second):
		t.Fatalf("still running %s after SIGTERM:\n%s", drain+10*time.Second, p.out.String())
	}
	if took := p.exited.Sub(sent); took > drain+5*time.Second {
		t.Errorf("exit took %s after SIGTERM, drain timeout %s", took, drain)
	}
	if code := p.exitCode(); code != exitStopped {
		t.Errorf("exit code %d after SIGTERM, want %d\n%s", code, exitStopped, p.out.String())
	}
	if n := e.sim.Stats().CreatesApplied; n >= len(rows) {
		t.Fatalf("all %d rows were created before the stop: the test tests nothing", n)
	}
	p = e.start(args...)
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("second run did not finish:\n%s", p.out.String())
	}
	if p.exitCode() != 0 {
		t.Fatalf("second run: exit %d\n%s", p.exitCode(), p.out.String())
	}
	e.assertSimHas(rows)
	if d := e.sim.Stats().DuplicateCreates; d != 0 {
		t.Errorf("%d duplicate creates", d)
	}
	if n := len(readReport(t, path+".report.csv")); n != len(rows) {
		t.Errorf("report: %d rows, want %d", n, len(rows))
	}
}
