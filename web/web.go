package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the Content-Security-Policy of every file the
// handler serves: scripts, styles, images and API calls from the page's
// own origin only, no inline script or style, no plugins, never framed.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

// contentTypes are the types of the embedded files by extension, fixed
// here rather than read from the system's MIME tables, which differ.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, ready to serve.
type file struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// handler serves the embedded files.
type handler struct {
	files map[string]file // by URL path
}

// Handler returns the handler of the page: GET or HEAD of / (the page),
// /app.js, /style.css and /favicon.svg; 404 for any other path, 405 for
// any other method. Mount it at / beside the API.
//
// Every answer carries [ContentSecurityPolicy], X-Content-Type-Options:
// nosniff and Referrer-Policy: no-referrer. Files are sent with
// Cache-Control: no-cache and an ETag: a browser revalidates them on every
// load, so a new binary's page is never mixed with an old script.
func Handler() http.Handler {
	h := &handler{files: map[string]file{}}
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded: a failure is a build defect
	}
	entries, err := fs.ReadDir(root, ".")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := fs.ReadFile(root, e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		f := file{
			name: e.Name(), body: body,
			contentType: contentTypes[path.Ext(e.Name())],
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		h.files["/"+e.Name()] = f
		if e.Name() == "index.html" {
			h.files["/"] = f
		}
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
