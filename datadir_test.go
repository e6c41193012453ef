package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/natsembed"
)

// slowRun makes a run of one tenant's rows last about rows/30 seconds, so
// that two processes overlap.
var slowRun = []string{"--write-limit", "30", "--write-window", "1s"}

// defaultNATS undoes the bundle's --nats-port: processes run with the
// default flags.
const defaultNATS = "BULKASSIGN_NATS_PORT="

// waitExit waits for p to exit 0 within 3 minutes.
func waitExit(t *testing.T, name string, p *proc) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s did not finish:\n%s", name, p.out.String())
	}
	if p.exitCode() != 0 {
		t.Fatalf("%s: exit %d\n%s", name, p.exitCode(), p.out.String())
	}
}

// assertReportCreated checks that the report of path has every row of rows,
// created.
func assertReportCreated(t *testing.T, path string, rows []csvRow) {
	t.Helper()
	report := readReport(t, path+".report.csv")
	if len(report) != len(rows) {
		t.Fatalf("%s: report has %d rows, want %d", path, len(report), len(rows))
	}
	for _, r := range report {
		if r["status"] != "created" {
			t.Errorf("%s row %s: %s %s", path, r["row"], r["status"], r["error_message"])
		}
	}
}

// TestTwoRunsDifferentDataDirs: two runs at once with default flags and
// their own data dirs both finish with complete reports; their embedded
// servers listened at the same time on two random ports.
func TestTwoRunsDifferentDataDirs(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	var all []csvRow
	var paths, dirs []string
	var procs []*proc
	for i := range 2 {
		rows := genRows(uint64(40+i), 1, 120)
		all = append(all, rows...)
		paths = append(paths, e.writeCSV(fmt.Sprintf("dir%d.csv", i), rows))
		dirs = append(dirs, filepath.Join(e.dir, fmt.Sprintf("data%d", i)))
		procs = append(procs, e.startWith([]string{defaultNATS, "BULKASSIGN_DATA_DIR=" + dirs[i]},
			append([]string{"run"}, append(slowRun, paths[i])...)...))
	}
	urls := map[string]bool{}
	waitFor(t, time.Minute, "both embedded servers running at once", func() bool {
		clear(urls)
		for i, dir := range dirs {
			select {
			case <-procs[i].done:
				t.Fatalf("run %d ended before both servers ran (exit %d):\n%s", i, procs[i].exitCode(), procs[i].out.String())
			default:
			}
			o, err := natsembed.ReadOwner(dir)
			if err != nil || o.ServerID == "" {
				return false
			}
			urls[o.URL] = true
		}
		return true
	})
	if len(urls) != 2 {
		t.Fatalf("two servers on %v", urls)
	}
	for i, p := range procs {
		waitExit(t, fmt.Sprintf("run %d", i), p)
		assertReportCreated(t, paths[i], all[i*120:(i+1)*120])
	}
	e.assertSimHas(all)
}

// TestTwoRunsSameDataDir: while a run owns its data dir, status (another
// process, no port flag) finds it and shows the import running, a client
// without the credentials cannot connect, and a second run on the same
// data dir says it waits, then runs its own import once the first is
// done: both reports are complete. The credentials appear in no output,
// debug logs included.
func TestTwoRunsSameDataDir(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	rowsA, rowsB := genRows(50, 1, 150), genRows(51, 1, 60)
	pathA, pathB := e.writeCSV("first.csv", rowsA), e.writeCSV("second.csv", rowsB)
	env := []string{defaultNATS, "BULKASSIGN_LOG_LEVEL=debug"}
	a := e.startWith(env, append([]string{"run"}, append(slowRun, pathA)...)...)
	var owner natsembed.Owner
	waitFor(t, time.Minute, "the first run's server and its first writes", func() bool {
		o, err := natsembed.ReadOwner(e.dataDir)
		owner = o
		return err == nil && o.ServerID != "" && o.PID == a.cmd.Process.Pid && e.sim.Stats().CreatesApplied > 0
	})
	if owner.Command != "bulkassign run" {
		t.Errorf("owner file names %q, want bulkassign run", owner.Command)
	}

	code, status, errOut := e.run("status", "--data-dir", e.dataDir)
	if code != 0 || !strings.Contains(status, "first.csv") {
		t.Fatalf("status while the first run works: exit %d\n%s\n%s", code, status, errOut)
	}
	if !strings.Contains(status, "running") {
		select {
		case <-a.done:
			t.Fatalf("the first run ended before status: the test tests nothing\n%s", status)
		default:
			t.Fatalf("status does not show the import running:\n%s", status)
		}
	}

	if nc, err := nats.Connect(owner.URL, nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Fatalf("connect without credentials to %s: %v, want an authorization error", owner.URL, err)
	}

	bStarted := time.Now()
	b := e.startWith(env, append([]string{"run"}, append(slowRun, pathB)...)...)
	waiting := fmt.Sprintf("data dir %s is in use by bulkassign run (pid %d); waiting for it to finish", e.dataDir, a.cmd.Process.Pid)
	waitFor(t, time.Minute, "the second run to say it waits", func() bool { return strings.Contains(b.out.String(), waiting) })
	select {
	case <-a.done:
		t.Fatalf("the first run ended before the second waited: the test tests nothing")
	default:
	}
	waitExit(t, "first run", a)
	waitExit(t, "second run", b)
	// The second run polls the lock four times a second; it says so once,
	// then every 30 s.
	if n, most := strings.Count(b.out.String(), waiting), 1+int(a.exited.Sub(bStarted)/(30*time.Second)); n > most {
		t.Errorf("the waiting message came %d times in %s, want at most %d (rate-limited)", n, a.exited.Sub(bStarted), most)
	}
	if !strings.Contains(b.out.String(), "is free; continuing") {
		t.Errorf("the second run did not say it continues:\n%s", b.out.String())
	}
	assertReportCreated(t, pathA, rowsA)
	assertReportCreated(t, pathB, rowsB)
	e.assertSimHas(append(rowsA, rowsB...))

	seed, err := os.ReadFile(filepath.Join(e.dataDir, "bulkassign.nkey"))
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(seed))
	for name, out := range map[string]string{"first run": a.out.String(), "second run": b.out.String(), "status": status + errOut} {
		if strings.Contains(out, secret) || strings.Contains(out, secret[:20]) {
			t.Errorf("%s's output contains the credentials", name)
		}
	}
	if !strings.Contains(a.out.String(), "level=DEBUG") {
		t.Error("the first run logged nothing at debug level: the credentials check tests nothing")
	}
}

// TestRefusesServerThatDoesNotOwnDataDir: a command whose data dir is
// owned, pointed by --nats-port at another server (one without
// authentication, or another data dir's), refuses it and writes nothing
// there; without the port it finds the owner.
func TestRefusesServerThatDoesNotOwnDataDir(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	owner := natstest.Embedded(t, natsembed.Config{DataDir: e.dataDir, Command: "bulkassign serve"})
	if _, err := jobs.Provision(natstest.Context(t), natstest.Connect(t, owner), jobs.Config{}); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := e.run("status"); code != 0 {
		t.Fatalf("status joining the owner: exit %d\n%s\n%s", code, out, errOut)
	}

	plain := natstest.Plain(t)
	other := natstest.Embedded(t, natsembed.Config{})
	path := e.writeCSV("stranger.csv", genRows(60, 1, 5))
	for name, url := range map[string]string{"unauthenticated server": plain, "another data dir's server": other.ClientURL()} {
		port := url[strings.LastIndex(url, ":")+1:]
		want := fmt.Sprintf("the NATS server at 127.0.0.1:%s does not own data dir %s", port, e.dataDir)
		for _, args := range [][]string{{"status", "--nats-port", port}, {"ingest", "--nats-port", port, path}} {
			code, out, errOut := e.run(args...)
			if code != exitFailed || !strings.Contains(errOut, want) {
				t.Errorf("%s, %s: exit %d, want 1 saying %q\n%s\n%s", name, args[0], code, want, out, errOut)
			}
		}
	}
	nc, err := nats.Connect(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for name, c := range map[string]*nats.Conn{"unauthenticated server": nc, "another data dir's server": natstest.Connect(t, other)} {
		if got := natstest.Topology(t, c); got != "" {
			t.Errorf("%s got streams: %s", name, got)
		}
	}
}

// TestLookUpNeedsAStore: status on a data dir or a NATS without a store
// says to start serve or run, and creates nothing.
func TestLookUpNeedsAStore(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	const hint = "start `bulkassign serve` or `run` first"
	code, _, errOut := e.run("status")
	if code != exitFailed || !strings.Contains(errOut, "no bulkassign store in data dir "+e.dataDir) || !strings.Contains(errOut, hint) {
		t.Errorf("status on a missing data dir: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(e.dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("status created the data dir: %v", err)
	}
	if err := os.Mkdir(e.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := e.run("status"); code != exitFailed || !strings.Contains(errOut, "no bulkassign store") || !strings.Contains(errOut, hint) {
		t.Errorf("status on an empty data dir: exit %d\n%s", code, errOut)
	}

	plain := natstest.Plain(t)
	if code, _, errOut := e.run("status", "--nats-url", plain); code != exitFailed || !strings.Contains(errOut, "no bulkassign store on this NATS") || !strings.Contains(errOut, hint) {
		t.Errorf("status on an empty NATS: exit %d\n%s", code, errOut)
	}
	nc, err := nats.Connect(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := natstest.Topology(t, nc); got != "" {
		t.Errorf("status created %s", got)
	}
}

// TestLookUpKeepsClusterTopology: on a 3-node JetStream cluster holding a
// store with 3 replicas and a 30-day intents TTL, status, ingest, report
// and retry (all with the default --replicas 1) leave every stream and
// bucket as it was.
func TestLookUpKeepsClusterTopology(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	url := natstest.Cluster(t, 3)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := jobs.Provision(ctx, nc, jobs.Config{Replicas: 3, IntentsMaxAge: 30 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	before := natstest.Topology(t, nc)
	if strings.Count(before, ":R3:") != 8 || !strings.Contains(before, "KV_bulkassign_intents:R3:720h0m0s") {
		t.Fatalf("provisioned %s, want 8 streams and buckets with 3 replicas and a 30-day intents TTL", before)
	}

	path := e.writeCSV("cluster.csv", genRows(70, 1, 5))
	code, out, errOut := e.run("ingest", "--nats-url", url, path)
	if code != 0 {
		t.Fatalf("ingest: exit %d\n%s\n%s", code, out, errOut)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")
	for _, args := range [][]string{{"status"}, {"report", id}, {"retry", id}, {"status", id}} {
		if code, out, errOut := e.run(append([]string{args[0], "--nats-url", url}, args[1:]...)...); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", args, code, out, errOut)
		}
	}
	if after := natstest.Topology(t, nc); after != before {
		t.Fatalf("look-up commands changed the topology:\nbefore %s\nafter  %s", before, after)
	}
}

// TestIngestWaitNeedsWorkers: ingest --wait on a data dir no serve or run
// is using refuses before enqueueing (nothing could process the rows, and
// a serve started later would wait for the data dir), where waiting would
// never end.
func TestIngestWaitNeedsWorkers(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	owner := natstest.Embedded(t, natsembed.Config{DataDir: e.dataDir})
	if _, err := jobs.Provision(natstest.Context(t), natstest.Connect(t, owner), jobs.Config{}); err != nil {
		t.Fatal(err)
	}
	owner.Shutdown()
	path := e.writeCSV("nobody.csv", genRows(80, 1, 3))
	code, out, errOut := e.run("ingest", "--wait", path)
	if code != exitFailed || !strings.Contains(errOut, "nothing would process the rows") {
		t.Fatalf("ingest --wait with no worker: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := e.run("status"); code != 0 || strings.Contains(out, "nobody.csv") {
		t.Fatalf("status after the refused ingest: exit %d\n%s", code, out)
	}
}
