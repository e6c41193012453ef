package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/web"
)

// get serves one request to the page's handler.
func get(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	web.Handler().ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHandlerServesFiles: every file with its content type, the CSP and
// no-cache; / is the page.
func TestHandlerServesFiles(t *testing.T) {
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="app.js" defer></script>`},
		{"/index.html", "text/html; charset=utf-8", "<title>bulkassign imports</title>"},
		{"/app.js", "text/javascript; charset=utf-8", "'use strict';"},
		{"/style.css", "text/css; charset=utf-8", "table {"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, http.MethodGet, tc.path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type":            tc.contentType,
				"Cache-Control":           "no-cache",
				"Content-Security-Policy": web.ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if b := body(t, resp); !strings.Contains(b, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			// no-cache means revalidate: the ETag answers 304.
			again := get(t, http.MethodGet, tc.path, http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation with ETag %q: status %d, want 304", resp.Header.Get("ETag"), again.StatusCode)
			}
		})
	}
	if !strings.HasPrefix(web.ContentSecurityPolicy, "default-src 'self';") {
		t.Errorf("CSP %q does not start with default-src 'self'", web.ContentSecurityPolicy)
	}
}

// TestHandlerRefuses: unknown paths (the embedded directory's own name
// included) are 404, other methods 405; both still carry the CSP.
func TestHandlerRefuses(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/static/app.js", http.StatusNotFound},
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/../web.go", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/app.js", http.StatusMethodNotAllowed},
	} {
		resp := get(t, tc.method, tc.path, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
		if resp.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
			t.Errorf("%s %s: no CSP", tc.method, tc.path)
		}
	}
	if resp := get(t, http.MethodHead, "/", nil); resp.StatusCode != http.StatusOK || body(t, resp) != "" {
		t.Errorf("HEAD /: status %d, want 200 without a body", resp.StatusCode)
	}
}

// TestPageIsSelfContained: the page loads nothing from another origin
// (it works offline and under the CSP), has no inline script or style,
// and never turns data into markup.
func TestPageIsSelfContained(t *testing.T) {
	page := body(t, get(t, http.MethodGet, "/", nil))
	script := body(t, get(t, http.MethodGet, "/app.js", nil))
	style := body(t, get(t, http.MethodGet, "/style.css", nil))
	for name, text := range map[string]string{"index.html": page, "app.js": script, "style.css": style} {
		if strings.Contains(text, "://") || strings.Contains(text, "@import") {
			t.Errorf("%s refers to another origin", name)
		}
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(page) || strings.Contains(page, "<style") ||
		regexp.MustCompile(`\sstyle=|\son[a-z]+=`).MatchString(page) {
		t.Error("index.html has inline script, style or event handlers, which the CSP blocks")
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(script, sink) {
			t.Errorf("app.js uses %s: values must reach the page as text", sink)
		}
	}
}
