package web_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// requireEnv, set to "require", turns a missing chromium from a skip into
// a failure (CI sets it: the browser test must run there).
const requireEnv = "BULKASSIGN_BROWSER_TEST"

// stepTimeout bounds one step of a browser test (a navigation, a click, a
// wait for a condition).
const stepTimeout = 20 * time.Second

// tab is a headless chromium tab driven by a test, with what the page
// reported (uncaught exceptions, CSP violations) and where downloads go.
type tab struct {
	t         *testing.T
	ctx       context.Context // the tab's chromedp context
	downloads string          // the directory downloads are saved in

	mu        sync.Mutex
	problems  []string          // exceptions and CSP violations, as reported
	names     map[string]string // download GUID -> suggested file name
	completed []string          // GUIDs of completed downloads, in order
}

// findChromium returns the browser's path, or skips the test (fails it
// when BULKASSIGN_BROWSER_TEST=require) when there is none.
func findChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "chromium is not installed (not at " + chromiumPath + " nor on PATH; Debian: apt-get install -y chromium)"
	if os.Getenv(requireEnv) == "require" {
		t.Fatal(msg + "; " + requireEnv + "=require makes this a failure")
	}
	t.Skip(msg + ": browser test skipped; set " + requireEnv + "=require to fail instead")
	return ""
}

// openTab starts the headless chromium at exe (no network beyond what the
// page asks for, a fresh profile) with one tab, stopped in t.Cleanup. When
// the test fails, a screenshot of the tab is saved and its path logged.
func openTab(t *testing.T, exe string) *tab {
	t.Helper()
	// The profile is not a t.TempDir: chromium's helper processes can
	// still write into it for a moment after the browser stops, which
	// would fail the test's own cleanup.
	profile, err := os.MkdirTemp("", "bulkassign-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(t, profile) })
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1000),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("close chromium: %v", err)
		}
		cancel()
	})
	tb := &tab{t: t, ctx: ctx, downloads: t.TempDir(), names: map[string]string{}}
	// Start the browser on ctx itself: the first run's context is the
	// browser's lifetime, so it cannot carry a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	if err := chromedp.Listen(ctx, tb.event); err != nil {
		t.Fatal(err)
	}
	tb.do("allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: tb.downloads, EventsEnabled: new(true),
		})
		return err
	}))
	if err := chromedp.ListenBrowser(ctx, tb.event); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.screenshotOnFailure)
	return tb
}

// event records what the page reports; it runs in chromedp's read loop,
// so it only takes notes.
func (tb *tab) event(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		tb.problems = append(tb.problems, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
	case *cdplog.EventEntryAdded:
		if strings.Contains(ev.Entry.Text, "Content Security Policy") {
			tb.problems = append(tb.problems, "CSP violation: "+ev.Entry.Text)
		}
	case *browser.EventDownloadWillBegin:
		tb.names[ev.GUID] = ev.SuggestedFilename
	case *browser.EventDownloadProgress:
		if ev.State == browser.DownloadProgressStateCompleted {
			tb.completed = append(tb.completed, ev.GUID)
		}
	}
}

// do runs steps within stepTimeout, failing the test with what on error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// eval returns the string the JavaScript expression evaluates to.
func (tb *tab) eval(expr string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// text returns the text content of the element with id.
func (tb *tab) text(id string) string {
	tb.t.Helper()
	return tb.eval(fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

// waitFor waits until the JavaScript expression cond is true in the page,
// for at most stepTimeout (the page polls the API every second, so a
// condition on what it shows can take that long to hold). On timeout it
// fails the test with what and the page's status lines.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		tb.t.Fatalf("waiting for %s: %v\npage says: %s", what, err, tb.statusLines())
	}
}

// statusLines returns the page's status messages, for failure messages.
func (tb *tab) statusLines() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`[...document.querySelectorAll('[role=status]')].map((e) => '#' + e.id + ': ' + e.textContent).join(' | ')`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// checkClean fails the test when the page threw an exception or broke
// its own Content-Security-Policy.
func (tb *tab) checkClean() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		tb.t.Errorf("page: %s", p)
	}
}

// download clicks the element with id, waits until the download it starts
// is complete, and returns the file's suggested name and content.
func (tb *tab) download(id string) (string, []byte) {
	tb.t.Helper()
	tb.mu.Lock()
	before := len(tb.completed)
	tb.mu.Unlock()
	tb.do("click #"+id, chromedp.Click(chromedp.ID(id)))
	deadline := time.Now().Add(stepTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		tb.mu.Lock()
		var guid, name string
		if len(tb.completed) > before {
			guid = tb.completed[before]
			name = tb.names[guid]
		}
		tb.mu.Unlock()
		if guid != "" {
			b, err := os.ReadFile(filepath.Join(tb.downloads, guid))
			if err != nil {
				tb.t.Fatalf("downloaded file: %v", err)
			}
			return name, b
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("no download completed within %v of clicking #%s; page says: %s", stepTimeout, id, tb.statusLines())
		}
		<-tick.C // the download's events arrive on chromedp's loop: poll what it noted until the deadline
	}
}

// screenshotOnFailure saves a full-page screenshot when the test failed,
// in $BULKASSIGN_BROWSER_SCREENSHOTS or a new temporary directory that is
// kept, and logs its path.
func (tb *tab) screenshotOnFailure() {
	if !tb.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot: %v", err)
		return
	}
	dir := os.Getenv("BULKASSIGN_BROWSER_SCREENSHOTS")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bulkassign-browser-test-"); err != nil {
			tb.t.Logf("screenshot: %v", err)
			return
		}
	}
	name := filepath.Join(dir, strings.ReplaceAll(tb.t.Name(), "/", "_")+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		tb.t.Logf("screenshot: %v", err)
		return
	}
	tb.t.Logf("screenshot of the page at failure: %s", name)
}

// removeAll removes dir, trying again while chromium's last helper
// processes finish writing into it.
func removeAll(t *testing.T, dir string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("remove %s: %v", dir, err)
			return
		}
		time.Sleep(50 * time.Millisecond) // no event says chromium's helpers are gone: retry until the deadline
	}
}
