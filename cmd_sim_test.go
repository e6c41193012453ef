package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphsim"
	"github.com/bulkassign/bulkassign/internal/syncbuf"
)

// runSim runs `bulkassign sim` in-process with vars as its environment
// until the test ends (it must exit 0 then) and returns its base URL.
func runSim(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
	done := make(chan int, 1)
	env := &environment{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: func(k string) string { return vars[k] }}
	go func() { done <- realMain(ctx, append([]string{"sim"}, args...), env) }()
	t.Cleanup(func() {
		stop()
		if code := <-done; code != exitOK {
			t.Errorf("sim exited %d: %s", code, out.String())
		}
	})
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	var url string
	waitFor(t, 10*time.Second, "sim listening", func() bool {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			return true
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("sim exited %d: %s", code, out.String())
		default:
		}
		return false
	})
	return url
}

// writeStatuses makes n assignment creates against a simulator and returns
// their statuses.
func writeStatuses(t *testing.T, url string, n int) []int {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var out []int
	for i := range n {
		body := fmt.Sprintf(`{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"11111111-aaaa-4aaa-8aaa-%012d"}}`, i)
		req, _ := http.NewRequest("POST", url+"/v1.0/deviceManagement/deviceConfigurations/aaaaaaaa-1111-4111-8111-111111111111/assignments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sim-test")
		req.Header.Set(graphsim.TenantHeader, "contoso.onmicrosoft.com")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
	return out
}

// TestSimReadsItsOwnVariables: sim's flags have BULKASSIGN_SIM_* twins;
// the worker's BULKASSIGN_* never configure the simulator, except
// BULKASSIGN_LISTEN and BULKASSIGN_LOG_*, which sim read before it had a
// prefix of its own (a contract: add, never rename).
func TestSimReadsItsOwnVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want []int
	}{
		{"worker variables ignored", map[string]string{"BULKASSIGN_WRITE_LIMIT": "1", "BULKASSIGN_LISTEN": "256.0.0.1:1", "BULKASSIGN_SIM_LISTEN": "127.0.0.1:0"}, nil, []int{201, 201, 201}},
		{"listen keeps its old twin", map[string]string{"BULKASSIGN_WRITE_LIMIT": "1", "BULKASSIGN_LISTEN": "127.0.0.1:0"}, nil, []int{201, 201, 201}},
		{"sim variable", map[string]string{"BULKASSIGN_SIM_WRITE_LIMIT": "2", "BULKASSIGN_SIM_LISTEN": "127.0.0.1:0"}, nil, []int{201, 201, 429}},
		{"flag beats variable", map[string]string{"BULKASSIGN_SIM_WRITE_LIMIT": "5"}, []string{"--listen", "127.0.0.1:0", "--write-limit", "1"}, []int{201, 429, 429}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := runSim(t, tt.vars, tt.args...)
			if got := writeStatuses(t, url, 3); !slices.Equal(got, tt.want) {
				t.Errorf("statuses %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSimVariableErrors names the variable that was wrong, and --help names
// the sim's own prefix.
func TestSimVariableErrors(t *testing.T) {
	t.Parallel()
	run := func(vars map[string]string, args ...string) (int, string) {
		out := &syncbuf.Buffer{}
		env := &environment{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: func(k string) string { return vars[k] }}
		// A sim that wrongly starts serving is stopped rather than hanging.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return realMain(ctx, args, env), out.String()
	}
	code, out := run(map[string]string{"BULKASSIGN_SIM_WRITE_LIMIT": "many"}, "sim", "--listen", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(out, `BULKASSIGN_SIM_WRITE_LIMIT="many"`) {
		t.Errorf("bad variable: exit %d: %s", code, out)
	}
	code, out = run(nil, "sim", "--listen", "127.0.0.1:0", "--fault-rate", "0.7", "--throttle-rate", "0.7")
	if code != exitUsage || !strings.Contains(out, "fault rates add up to") {
		t.Errorf("rates above 1: exit %d: %s", code, out)
	}
	code, out = run(nil, "sim", "--help")
	if code != exitOK || !strings.Contains(out, "environment twin BULKASSIGN_SIM_<NAME>") || !strings.Contains(out, "-write-limit int") {
		t.Errorf("sim --help: exit %d: %s", code, out)
	}
}

// TestDemoHelpShowsRealDefaults: demo's --help shows the fault rates the
// demo uses (the flags' defaults are the only source of them).
func TestDemoHelpShowsRealDefaults(t *testing.T) {
	t.Parallel()
	out := &syncbuf.Buffer{}
	env := &environment{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: func(string) string { return "" }}
	if code := realMain(context.Background(), []string{"demo", "--help"}, env); code != exitOK {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`-sim-fault-rate float\n\s+simulator: fraction of writes answered 503/504 \(default 0\.03\)`),
		regexp.MustCompile(`-sim-reset-after-rate float\n\s+simulator: fraction of writes applied and then the connection reset \(default 0\.01\)`),
		regexp.MustCompile(`-sim-write-limit int\n\s+simulator: .*\(default 100\)`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("demo --help lacks %s:\n%s", want, out.String())
		}
	}
}
