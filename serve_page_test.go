package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/internal/natstest"
	"github.com/bulkassign/bulkassign/web"
)

// TestServePage: serve's HTTP server answers / with the imports page,
// without a token and under its Content-Security-Policy, while the API
// beside it still wants the token.
func TestServePage(t *testing.T) {
	e := newE2E(t, fastSim())
	tokenFile := e.writeFile("api-token", "serve-page-token-8d41c7a2e9\n")
	addr := freeAddr(t)
	s := e.serve(natstest.Plain(t), "e2e-graph-token", "--metrics-addr=", "--http-addr", addr, "--api-token-file", tokenFile)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return nil, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	var page *http.Response
	var body string
	waitFor(t, 30*time.Second, "the page", func() bool {
		page, body = get("/")
		return page != nil
	})
	if page.StatusCode != http.StatusOK || !strings.Contains(body, "<title>bulkassign imports</title>") ||
		page.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Errorf("GET /: %d, CSP %q:\n%s", page.StatusCode, page.Header.Get("Content-Security-Policy"), body)
	}
	if resp, _ := get("/app.js"); resp == nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /app.js: %v", resp)
	}
	if resp, body := get("/v1/imports"); resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/imports without the token: %v %s", resp, body)
	}
	s.stopAndWait()
}
