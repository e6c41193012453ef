package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulkassign/bulkassign/api"
	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/service"
	"github.com/bulkassign/bulkassign/web"
	"github.com/bulkassign/bulkassign/worker"
)

// The rows of the browser test's file.
const (
	tenant      = "contoso.onmicrosoft.com"
	policy      = "6b0d549b-6f03-675a-1600-a35a099950d8"
	missing     = "0badbad0-0000-4000-8000-000000000000" // the simulator answers 404 for it
	conflicting = "7c0d549b-6f03-675a-1600-a35a099950d8" // already assigns group 5 with a filter
	filterID    = "f1f1f1f1-0000-4000-8000-000000000000"
)

func group(n int) string { return fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", n) }

// wantStatus is each data row's status once the import is done: three
// created, one failed (its policy does not exist), one conflict (the
// policy assigns its group with a filter), one invalid (skipped).
var wantStatus = map[int]contract.Status{
	2: contract.StatusCreated, 3: contract.StatusCreated, 4: contract.StatusCreated,
	5: contract.StatusFailed, 6: contract.StatusConflict, 7: contract.StatusInvalid,
}

// testCSV is the file the browser uploads (rows as in wantStatus).
func testCSV() string {
	return "tenant_id,kind,policy_id,target,group_id\n" +
		tenant + ",deviceConfigurations," + policy + ",group," + group(1) + "\n" +
		tenant + ",deviceConfigurations," + policy + ",group," + group(2) + "\n" +
		tenant + ",deviceConfigurations," + policy + ",group," + group(3) + "\n" +
		tenant + ",deviceConfigurations," + missing + ",group," + group(4) + "\n" +
		tenant + ",deviceConfigurations," + conflicting + ",group," + group(5) + "\n" +
		tenant + ",deviceConfigurations," + policy + ",group,not-a-guid\n"
}

// startService runs a real service (its workers, a NATS server with
// JetStream, the Graph simulator over loopback) with its HTTP API and the
// page on a loopback port, wanting token; it is stopped in t.Cleanup. It
// returns the page's URL and the simulator.
func startService(t *testing.T, token string) (string, *graphtest.Server) {
	t.Helper()
	sim := graphtest.Start(t, graphtest.Config{})
	sim.SetMissingPolicy(missing)
	if err := sim.Seed(tenant, "deviceConfigurations", conflicting, graph.Assignment{
		Target: graph.Target{Type: graph.TargetGroup, GroupID: group(5), FilterID: filterID, FilterType: graph.FilterInclude},
	}); err != nil {
		t.Fatal(err)
	}
	ctx := natstest.Context(t)
	b, err := service.OpenBackend(ctx, service.BackendConfig{URL: natstest.Plain(t), Provision: true})
	if err != nil {
		t.Fatal(err)
	}
	client := graphtest.Client(t, sim.URL(), time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Config{
		Backend: b, Graph: client,
		Worker:       worker.Config{DiscoverInterval: 50 * time.Millisecond},
		HTTPListener: ln,
		HTTP: func(s *service.Service) (http.Handler, error) {
			return api.New(api.Config{Importer: s.Importer(), Store: b.Store, Waiting: s.Waiting, Graph: client, Token: token, Page: web.Handler()})
		},
	})
	if err != nil {
		ln.Close()
		b.Close()
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service: %v", err)
			}
		case <-time.After(30 * time.Second):
			svc.Abort()
			t.Errorf("service still running 30 s after its stop: aborted (%v)", <-done)
		}
	})
	return "http://" + ln.Addr().String(), sim
}

// TestPageInBrowser drives the page in headless chromium against a real
// service: the token's errors, a CSV's plan and validation, the submitted
// import's live progress to the end, the failed rows filtered, and the
// downloaded report.
func TestPageInBrowser(t *testing.T) {
	began := time.Now()
	const token = "browser-test-token-4f9a2c"
	exe := findChromium(t) // first: the test skips when there is none
	base, sim := startService(t, token)
	tb := openTab(t, exe) // after the service: its cleanup (a failure's screenshot) runs while the service still serves
	file := filepath.Join(t.TempDir(), "assign.csv")
	if err := os.WriteFile(file, []byte(testCSV()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("service and chromium up after %v", time.Since(began).Round(time.Millisecond))

	// Without a token, then with a wrong one, every API call is refused.
	tb.do("open the page", chromedp.Navigate(base+"/"))
	tb.waitFor("the token error without a token", `document.getElementById('auth-status').textContent.startsWith('Token required or wrong: enter the API token.')`)
	tb.do("enter a wrong token", chromedp.SendKeys(chromedp.ID("token"), "wrong-token"), chromedp.Click(chromedp.ID("token-save")))
	tb.waitFor("the token error for a wrong token", `document.getElementById('auth-status').textContent.startsWith('Token required or wrong: the service refused this token.')`)
	if got := tb.text("imports-table"); strings.Contains(got, "finished") {
		t.Fatalf("imports shown without a valid token: %s", got)
	}
	tb.do("enter the token", chromedp.SetValue(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("token-save")))
	tb.waitFor("the token accepted", `document.getElementById('auth-status').textContent === 'Token accepted.' && document.getElementById('imports-status').textContent === 'No imports yet.'`)

	// Every write answered 429 until the test clears it: the page shows
	// the tenant throttled while the import runs.
	if err := sim.SetFaults(graphtest.Faults{ThrottleRate: 1, RetryAfterMin: time.Second}); err != nil {
		t.Fatal(err)
	}

	// Choosing the file checks it: the plan, one decision per row. The
	// import's name is markup, which the page must show as text.
	const importName = `<img id="injected" src="x">assign.csv`
	tb.do("name the import", chromedp.SetValue(chromedp.ID("import-name"), importName))
	tb.do("choose the file", chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}))
	tb.waitFor("the plan", `!document.getElementById('plan').hidden && !document.getElementById('submit').disabled`)
	decisions := tb.eval(`[...document.querySelectorAll('#plan-table tbody tr')].map((tr) => tr.dataset.row + ':' + tr.dataset.decision).join(' ')`)
	t.Logf("plan: %s", decisions)
	if want := "2:create 3:create 4:create 5:unresolved 6:conflict 7:invalid"; decisions != want {
		t.Errorf("plan decisions %q, want %q", decisions, want)
	}
	// Submitted as it is, the file is refused: the invalid row is listed.
	tb.do("submit with an invalid row", chromedp.Click(chromedp.ID("submit")))
	tb.waitFor("the invalid rows", `!document.getElementById('rejections').hidden`)
	if got := tb.eval(`[...document.querySelectorAll('#rejections-table tbody tr')].map((tr) => [...tr.cells].slice(0, 2).map((c) => c.textContent).join(' ')).join(' | ')`); got != "7 group_id" {
		t.Errorf("invalid rows shown: %q, want row 7, column group_id", got)
	}
	// Skipping invalid rows: checked again, then submitted.
	tb.do("skip invalid rows and check", chromedp.Click(chromedp.ID("skip-invalid")), chromedp.Click(chromedp.ID("check")))
	tb.waitFor("the plan again", `!document.getElementById('plan').hidden && !document.getElementById('submit').disabled`)
	tb.do("submit", chromedp.Click(chromedp.ID("submit")))
	tb.waitFor("the receipt", `document.getElementById('upload-status').textContent.startsWith('Import ')`)
	t.Logf("receipt: %s", tb.text("upload-status"))
	tb.waitFor("the import listed", `document.querySelector('#imports-table tbody tr[data-import-id]') !== null`)
	id := tb.eval(`document.querySelector('#imports-table tbody tr[data-import-id]').dataset.importId`)
	if !strings.Contains(tb.text("upload-status"), id) {
		t.Errorf("the receipt %q does not name the import listed, %s", tb.text("upload-status"), id)
	}
	row := fmt.Sprintf(`document.querySelector('#imports-table tr[data-import-id=%q]')`, id)

	if got := tb.eval(row + `.querySelector('th').firstChild.textContent`); got != importName || tb.eval(`String(document.getElementById('injected'))`) != "null" {
		t.Errorf("the import's name shown as %q (want the text %q), or turned into markup", got, importName)
	}
	tb.waitFor("the tenant shown throttled, with its rate", row+`.querySelector("[data-tenant-state=throttled]") !== null && /[0-9.]+ rows\/s, [0-9]+ pending/.test(`+row+`.querySelector("[data-tenant-state=throttled]").textContent)`)
	t.Logf("while throttled: %s", tb.eval(row+`.textContent`))
	if err := sim.SetFaults(graphtest.Faults{}); err != nil {
		t.Fatal(err)
	}
	tb.waitFor("the import finished", row+`.querySelector('.state').textContent === 'finished'`)
	if got, want := tb.eval(row+`.querySelector('.counts').textContent`), "created 3, failed 1, invalid 1, conflict 1"; got != want {
		t.Errorf("counts shown: %q, want %q", got, want)
	}
	progress := fmt.Sprintf("(() => { const r = %s; const p = r.querySelector('progress'); return p.value + '/' + p.max + ' ' + r.querySelector('.progress-text').textContent; })()", row)
	if got := tb.eval(progress); got != "6/6 6 / 6" {
		t.Errorf("progress shown: %q, want 6 of 6", got)
	}

	// The rows, filtered to the failed ones: exactly row 5.
	tb.waitFor("the rows shown", `document.querySelectorAll('#rows-table tbody tr').length === 6`)
	tb.do("filter the failed rows", chromedp.SetValue(chromedp.ID("status-filter"), "failed"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('status-filter').dispatchEvent(new Event('change'))`))
	tb.waitFor("only failed rows", `document.getElementById('rows-status').textContent.startsWith('1 row with status failed')`)
	if got := tb.eval(`[...document.querySelectorAll('#rows-table tbody tr')].map((tr) => tr.dataset.row + ':' + tr.querySelector('.status').textContent).join(' ')`); got != "5:failed" {
		t.Errorf("failed rows shown: %q, want 5:failed", got)
	}

	// The download: the whole report, every row with its status.
	name, body := tb.download("download")
	if want := id + ".report.csv"; name != want {
		t.Errorf("downloaded as %q, want %q", name, want)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatalf("downloaded report: %v\n%s", err, body)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], contract.ReportColumns()) {
		t.Fatalf("downloaded report's header %q, want %q", recs, contract.ReportColumns())
	}
	got := map[int]contract.Status{}
	for _, r := range recs[1:] {
		n, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("report row %q: %v", r, err)
		}
		got[n] = contract.Status(r[6])
	}
	if fmt.Sprint(got) != fmt.Sprint(wantStatus) {
		t.Errorf("downloaded report's statuses %v, want %v", got, wantStatus)
	}
	if n := len(sim.Assignments(tenant, "deviceConfigurations", policy)); n != 3 {
		t.Errorf("Graph holds %d assignments of the policy, want the 3 created", n)
	}

	tb.checkClean()
	t.Logf("browser test took %v", time.Since(began).Round(time.Millisecond))
}
