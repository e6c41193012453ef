package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/internal/natstest"
)

// TestServeRefusesExposedAPI: serve exits 2 before starting anything when
// its HTTP API would listen beyond loopback without a token, or when the
// token is given twice, too short or in an empty file.
func TestServeRefusesExposedAPI(t *testing.T) {
	t.Parallel()
	e := newE2E(t, fastSim())
	empty := e.writeFile("empty-token", "\n")
	both := e.writeFile("token", "0123456789abcdef0123")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--http-addr", "0.0.0.0:0"}, "refusing to serve the HTTP API without a token beyond loopback"},
		{[]string{"--http-addr", ":0"}, "--api-token or --api-token-file"},
		{[]string{"--api-token", "short"}, "use at least 16"},
		{[]string{"--api-token", "0123456789abcdef0123", "--api-token-file", both}, "give one"},
		{[]string{"--api-token-file", empty}, "is empty"},
		{[]string{"--api-token-file", filepath.Join(e.dir, "nothing")}, "no such file"},
	} {
		code, _, errOut := e.run(append([]string{"serve"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want exit 2 saying %q", tt.args, code, errOut, tt.want)
		}
	}
	if _, err := os.Stat(e.dataDir); err == nil {
		t.Error("a refused serve created its data dir")
	}
}

// TestServeHTTPAPI: serve --http-addr with --api-token-file takes a CSV
// through the HTTP API and processes it to a complete report; a wrong
// token is refused; the token never appears in serve's output.
func TestServeHTTPAPI(t *testing.T) {
	e := newE2E(t, fastSim())
	const apiToken = "serve-api-token-5b2f9e0c7d"
	tokenFile := e.writeFile("api-token", apiToken+"\n")
	addr := freeAddr(t)
	s := e.serve(natstest.Plain(t), "e2e-graph-token", append([]string{"--metrics-addr=", "--http-addr", addr, "--api-token-file", tokenFile, "--log-level", "debug"}, fastWorker...)...)
	base := "http://" + addr
	do := func(method, path, auth, ctype string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+auth)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	waitFor(t, 30*time.Second, "the HTTP API", func() bool {
		code, _ := do(http.MethodGet, "/v1/imports", apiToken, "", nil)
		return code == http.StatusOK
	})
	if code, body := do(http.MethodGet, "/v1/imports", "wrong-token-0123456789", "", nil); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", code, body)
	}

	rows := genRows(11, 2, 15)
	data, err := os.ReadFile(e.writeCSV("api.csv", rows))
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(http.MethodPost, "/v1/imports?name=api.csv", apiToken, "text/csv", data)
	var rc contract.Receipt
	if err := json.Unmarshal(body, &rc); code != http.StatusAccepted || err != nil || rc.Accepted != len(rows) {
		t.Fatalf("POST /v1/imports: %d %s", code, body)
	}
	var v contract.ImportView
	waitFor(t, 60*time.Second, "the import finished", func() bool {
		_, body := do(http.MethodGet, "/v1/imports/"+rc.ImportID, apiToken, "", nil)
		return json.Unmarshal(body, &v) == nil && v.Finished
	})
	if v.Counts[contract.StatusCreated] != len(rows) || v.Name != "api.csv" {
		t.Errorf("view %+v", v)
	}
	code, body = do(http.MethodGet, "/v1/imports/"+rc.ImportID+"/report", apiToken, "", nil)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != http.StatusOK || err != nil || len(recs) != len(rows)+1 {
		t.Errorf("report: %d, %d lines, %v", code, len(recs), err)
	}
	e.assertSimHas(rows)
	s.stopAndWait()
	if out := s.out.String(); strings.Contains(out, apiToken) || !strings.Contains(out, "HTTP API listening") {
		t.Errorf("serve's output names the token, or not the API:\n%s", out)
	}
}
