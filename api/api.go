package api

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/plan"
	"github.com/bulkassign/bulkassign/resolve"
	"github.com/bulkassign/bulkassign/worker"
)

// Body limits: the defaults of Config.MaxCSVBytes and Config.MaxJSONBytes.
const (
	// DefaultMaxCSVBytes bounds a CSV body: 32 MiB, some 150,000 rows.
	DefaultMaxCSVBytes = 32 << 20
	// DefaultMaxJSONBytes bounds a JSON body: 8 MiB, which holds a queue
	// message's most rows (ingest.MaxMessageRows) with room to spare.
	DefaultMaxJSONBytes = 8 << 20
)

// maxRejections bounds the invalid rows a CSV's receipt lists (the rest
// are counted in its error); a JSON body lists every one (it has at most
// ingest.MaxMessageRows).
const maxRejections = 100_000

// Config configures the API. Importer and Store are required; every other
// field has a default, filled in by [New].
type Config struct {
	// Importer creates imports and reads their progress and reports.
	Importer *imports.Importer
	// Store is where imports are looked up and jobs counted.
	Store *jobs.Store
	// Waiting returns the tenants whose jobs wait, and why: the service's
	// workers ([worker.Worker.Waiting]). Default nil: tenants with jobs
	// queued show as running.
	Waiting func() []worker.TenantState
	// Graph is what plan=true reads, and what resolves the names a CSV
	// body's rows give (a *graph.Client). Default nil: plan=true answers
	// 501 and rows that give names are invalid.
	Graph plan.Graph
	// Reads paces the Graph reads of plan=true per tenant, across
	// requests. Default: resolve.NewReads(resolve.ReadConfig{}).
	Reads *resolve.Reads
	// Ingest are the options bodies are read with (the default tenant,
	// extra columns); the query's tenant and skip_invalid override theirs.
	// Default: none.
	Ingest ingest.Options
	// Token, when set, is the bearer token every /v1 route wants.
	// Default empty: no auth (see [CheckExposure]).
	Token string
	// Page, when set, is served at "/" without auth. Default nil: 404.
	Page http.Handler
	// MaxCSVBytes and MaxJSONBytes bound a body; a larger one is answered
	// 413. Default DefaultMaxCSVBytes and DefaultMaxJSONBytes.
	MaxCSVBytes, MaxJSONBytes int64
	// Logger receives a debug record per request (method, path, status,
	// duration: never a header) and the errors behind 500s. Default:
	// discard.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() (Config, error) {
	c.MaxCSVBytes = cmp.Or(c.MaxCSVBytes, DefaultMaxCSVBytes)
	c.MaxJSONBytes = cmp.Or(c.MaxJSONBytes, DefaultMaxJSONBytes)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Reads == nil && c.Graph != nil {
		r, err := resolve.NewReads(resolve.ReadConfig{})
		if err != nil {
			return c, err
		}
		c.Reads = r
	}
	return c, nil
}

// validate reports every invalid field at once.
func (c Config) validate() error {
	var errs []error
	if c.Importer == nil {
		errs = append(errs, errors.New("no importer"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if c.MaxCSVBytes < 1 || c.MaxJSONBytes < 1 {
		errs = append(errs, fmt.Errorf("body limits %d and %d: want >= 1", c.MaxCSVBytes, c.MaxJSONBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("api config: %w", err)
	}
	return nil
}

// API is the HTTP API's handler. Create it with [New]; it is safe for
// concurrent use.
type API struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	routes []route
	// tokenSum is the SHA-256 of Config.Token: comparing digests in
	// constant time tells nothing of the token's length either.
	tokenSum [sha256.Size]byte
}

// route is one operation of the API: a ServeMux pattern "METHOD /path".
type route struct {
	pattern string
	handle  http.HandlerFunc
}

//go:embed openapi.json
var openAPI []byte

// v1 is the prefix of every API route; its ServeMux pattern catches the
// paths no route serves.
const v1 = "/v1/"

// New returns the API on cfg.
func New(cfg Config) (*API, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if cfg.Token != "" {
		a.tokenSum = sha256.Sum256([]byte(cfg.Token))
	}
	a.routes = []route{
		{"POST /v1/imports", a.createImport},
		{"GET /v1/imports", a.listImports},
		{"GET /v1/imports/{id}", a.getImport},
		{"GET /v1/imports/{id}/report", a.report},
		{"POST /v1/imports/{id}/retry", a.retry},
		{"POST /v1/imports/{id}/undo", a.undo},
		{"GET /v1/openapi.json", a.openAPI},
	}
	for _, rt := range a.routes {
		a.mux.Handle(rt.pattern, a.authorized(rt.handle))
	}
	a.mux.Handle(v1, a.authorized(a.noRoute))
	page := cfg.Page
	if page == nil {
		page = http.HandlerFunc(a.noRoute)
	}
	a.mux.Handle("/", page)
	return a, nil
}

// ServeHTTP implements http.Handler: it serves the route of r, recovering
// a panic into a 500 and logging every request at debug level.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.ErrorContext(r.Context(), "HTTP API handler panicked", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("panic", p))
			if !rec.wrote {
				writeError(rec, http.StatusInternalServerError, codeInternal, "internal error; the server's log says more")
			}
		}
		a.log.DebugContext(r.Context(), "HTTP API request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	}()
	a.mux.ServeHTTP(rec, r)
}

// recorder remembers the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// authorized wraps h with the bearer token check, when there is a token.
func (a *API) authorized(h http.HandlerFunc) http.Handler {
	if a.cfg.Token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || got == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bulkassign"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, `this API needs a bearer token: send the header "Authorization: Bearer <token>"`)
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bulkassign", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "the bearer token is wrong")
			return
		}
		h(w, r)
	})
}

// noRoute answers a path no route serves: 405 naming the methods the path
// has, else 404.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := a.mux.Handler(probe); pattern != v1 && pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, fmt.Sprintf("%s is not served on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no such route: %s %s (see /v1/openapi.json)", r.Method, r.URL.Path))
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	_, _ = w.Write(openAPI)
}

// Error codes of the API (code in {"error":{"code","message"}}), a
// public contract listed in openapi.json.
const (
	codeBadRequest           = "bad_request"
	codeBadImportID          = "bad_import_id"
	codeMalformedJSON        = "malformed_json"
	codeKeyReused            = "request_id_reused"
	codeInvalidBody          = "invalid_body"
	codeUnauthorized         = "unauthorized"
	codeNotFound             = "not_found"
	codeMethodNotAllowed     = "method_not_allowed"
	codeNothingToRetry       = "nothing_to_retry"
	codeNothingToUndo        = "nothing_to_undo"
	codeNotUndoable          = "not_undoable"
	codeBodyTooLarge         = "body_too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeNotImplemented       = "not_implemented"
	codeInternal             = "internal"
	codeInterrupted          = "interrupted"
)

// setNoStore marks an answer as one no cache keeps, nor sniffs.
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// writeJSON answers v as JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// JSON, never HTML: "<token>" stays readable.
	enc.SetEscapeHTML(false)
	// An error here is a broken connection: the client's end.
	_ = enc.Encode(v)
}

// writeError answers {"error":{"code","message"}} with status code.
func writeError(w http.ResponseWriter, code int, errCode, message string) {
	writeJSON(w, code, contract.APIError{Error: contract.APIErrorDetail{Code: errCode, Message: message}})
}

// internalError logs err and answers 500 without its details, or 503
// when the request was cancelled by the server's stop.
func (a *API) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		writeError(w, http.StatusServiceUnavailable, codeInterrupted, what+": interrupted (the server is stopping or the client left); send the request again")
		return
	}
	a.log.ErrorContext(r.Context(), "HTTP API: "+what, slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	writeError(w, http.StatusInternalServerError, codeInternal, what+" failed; the server's log says more")
}
