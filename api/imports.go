package api

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/plan"
	"github.com/bulkassign/bulkassign/resolve"
	"github.com/bulkassign/bulkassign/undo"
	"github.com/bulkassign/bulkassign/worker"
)

// Media types of bodies and reports.
const (
	mediaCSV  = "text/csv"
	mediaJSON = "application/json"
)

// List sizes of GET /v1/imports.
const (
	defaultListLimit = 50
	maxListLimit     = 1000
)

// maxNameLen bounds an import's name.
const maxNameLen = 256

// checkQuery answers 400 and returns false when q has a parameter not in
// allowed.
func checkQuery(w http.ResponseWriter, q url.Values, allowed ...string) bool {
	for k := range q {
		if !slices.Contains(allowed, k) {
			writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("unknown query parameter %q (this route takes: %s)", k, strings.Join(allowed, ", ")))
			return false
		}
	}
	return true
}

// boolParam reads a true/false query parameter; absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("query parameter %s=%q: want true or false", name, v)
	}
	return b, nil
}

// createRequest is what POST /v1/imports asks, from its query.
type createRequest struct {
	name string
	plan bool
	opts ingest.Options
}

// parseCreate reads POST /v1/imports's query.
func (a *API) parseCreate(q url.Values) (createRequest, error) {
	req := createRequest{name: q.Get("name"), opts: a.cfg.Ingest}
	var err error
	if req.opts.SkipInvalid, err = boolParam(q, "skip_invalid"); err != nil {
		return req, err
	}
	if req.plan, err = boolParam(q, "plan"); err != nil {
		return req, err
	}
	if t := q.Get("tenant"); t != "" {
		if req.opts.Tenant, err = graph.NormalizeTenant(t); err != nil {
			return req, fmt.Errorf("query parameter tenant: %w", err)
		}
	}
	if len(req.name) > maxNameLen || !utf8.ValidString(req.name) || strings.ContainsFunc(req.name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return req, fmt.Errorf("query parameter name: want at most %d printable characters", maxNameLen)
	}
	return req, nil
}

// readBody reads r's body of at most limit bytes; false when it answered
// 413 (or 400 for a body that broke off).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	tooLarge := func() ([]byte, bool) {
		writeError(w, http.StatusRequestEntityTooLarge, codeBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes, the limit for %s; split it into several imports", limit, r.Header.Get("Content-Type")))
		return nil, false
	}
	if r.ContentLength > limit {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case err != nil:
		writeError(w, http.StatusBadRequest, codeInvalidBody, "the body could not be read to its end")
		return nil, false
	}
	return body, true
}

// summarised is a row source that says what is wrong with its rows.
type summarised interface {
	imports.RowSource
	Summary() ingest.Summary
}

// body is a request's rows: their source, and how a row number becomes a
// receipt's index.
type body struct {
	src   summarised
	index func(row int) int
	// source names the body's kind in the import's record.
	source string
}

// csvBody is the rows of a CSV body: a receipt's index is the row number
// (the header is row 1). With a Graph client, the names its rows give
// (group_name, filter_name, policy_name) are resolved in each row's tenant
// as "bulkassign run" resolves them; without, such rows are invalid.
func (a *API) csvBody(data []byte, opts ingest.Options) (body, error) {
	opts.MaxErrors = maxRejections
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	b := body{index: func(row int) int { return row }, source: "http csv"}
	if a.cfg.Graph == nil {
		b.src = imports.NewCSV(open, opts)
		return b, nil
	}
	names, err := resolve.New(resolve.Config{Lookup: a.cfg.Graph, Reads: a.cfg.Reads, Logger: a.log})
	if err != nil {
		return body{}, err
	}
	opts.AllowUnresolved = true
	b.src, err = imports.ResolveNames(imports.NewCSV(open, opts), imports.NamesConfig{Names: names, Ingest: opts})
	return b, err
}

// receipt is the receipt of imp, listing the rejected rows of sum.
func receipt(imp jobs.Import, sum ingest.Summary, index func(int) int) contract.Receipt {
	return contract.Receipt{ImportID: imp.ID, Accepted: imp.Jobs, Duplicates: imp.Duplicates, Rejected: rejections(sum, index)}
}

// rejections lists the invalid rows of sum.
func rejections(sum ingest.Summary, index func(int) int) []contract.Rejection {
	out := make([]contract.Rejection, 0, len(sum.Errors))
	for _, e := range sum.Errors {
		out = append(out, contract.Rejection{Index: index(e.Row), Column: e.Column, Reason: e.Reason})
	}
	return out
}

// createImport is POST /v1/imports.
func (a *API) createImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !checkQuery(w, q, "name", "tenant", "skip_invalid", "plan") {
		return
	}
	req, err := a.parseCreate(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var limit int64
	switch media {
	case mediaCSV:
		limit = a.cfg.MaxCSVBytes
	case mediaJSON:
		limit = a.cfg.MaxJSONBytes
		if req.plan {
			writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "plan=true takes a CSV body (Content-Type: text/csv)")
			return
		}
	default:
		writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send text/csv (a CSV file) or application/json (a queue message)", r.Header.Get("Content-Type")))
		return
	}
	data, ok := readBody(w, r, limit)
	if !ok {
		return
	}
	if req.plan {
		a.plan(w, r, req, data)
		return
	}
	if media == mediaJSON {
		a.createRequest(w, r, req, data)
		return
	}
	b, err := a.csvBody(data, req.opts)
	if err != nil {
		a.internalError(w, r, "resolve the names", err)
		return
	}
	spec := imports.Spec{Name: cmp.Or(req.name, b.source+" upload"), Source: b.source}
	imp, err := a.cfg.Importer.Create(r.Context(), spec, b.src)
	var se *imports.SourceError
	switch {
	case errors.As(err, &se) && errors.Is(se, ingest.ErrInvalidRows):
		sum := b.src.Summary()
		rc := contract.Receipt{Rejected: rejections(sum, b.index),
			Error: fmt.Sprintf("%d of %d rows invalid; nothing enqueued (skip_invalid=true enqueues the valid rows)", sum.Invalid, sum.Rows)}
		if more := sum.ErrorCount - len(sum.Errors); more > 0 {
			rc.Error += fmt.Sprintf("; the first %d invalid rows are listed, %d more are not", len(sum.Errors), more)
		}
		writeJSON(w, http.StatusUnprocessableEntity, rc)
	case errors.As(err, &se):
		writeError(w, http.StatusBadRequest, codeInvalidBody, se.Error())
	case err != nil:
		a.internalError(w, r, "enqueue the import", err)
	default:
		w.Header().Set("Location", "/v1/imports/"+imp.ID)
		writeJSON(w, http.StatusAccepted, receipt(imp, b.src.Summary(), b.index))
	}
}

// createRequest is POST /v1/imports with a JSON body: an import request,
// the envelope or one bare assignment the queue intake reads too (see
// [imports.ParseRequest] and contract/request.schema.json), made an import
// by [imports.Importer.Submit]. A request_id makes it idempotent: the same
// request sent again is answered with the same import; parts are kept
// until the last arrives. The query's name, tenant and skip_invalid apply
// where the body gives none.
func (a *API) createRequest(w http.ResponseWriter, r *http.Request, q createRequest, data []byte) {
	req, err := imports.ParseRequest(data, imports.RequestOptions{MaxBytes: int(a.cfg.MaxJSONBytes), Tenant: q.opts.Tenant})
	var re *imports.RequestError
	switch {
	case errors.Is(err, imports.ErrRequestTooLarge), errors.Is(err, imports.ErrTooManyAssignments):
		writeError(w, http.StatusRequestEntityTooLarge, codeBodyTooLarge, err.Error())
		return
	case errors.As(err, &re) && re.Index < 0 && re.Field == "":
		writeError(w, http.StatusBadRequest, codeMalformedJSON, err.Error())
		return
	case errors.As(err, &re) && re.Index < 0:
		writeError(w, http.StatusBadRequest, codeInvalidBody, err.Error())
		return
	case err != nil:
		writeJSON(w, http.StatusUnprocessableEntity, imports.NewReceipt(nil, jobs.Import{}, err))
		return
	}
	req.Name = cmp.Or(req.Name, q.name)
	req.SkipInvalid = req.SkipInvalid || q.opts.SkipInvalid
	rc, err := a.cfg.Importer.Submit(r.Context(), req, "http json", "")
	switch {
	case errors.Is(err, imports.ErrKeyReused):
		writeError(w, http.StatusConflict, codeKeyReused, rc.Error)
	case imports.Refused(err):
		writeJSON(w, http.StatusUnprocessableEntity, rc)
	case err != nil:
		a.internalError(w, r, "enqueue the import", err)
	default:
		if rc.ImportID != "" {
			w.Header().Set("Location", "/v1/imports/"+rc.ImportID)
		}
		writeJSON(w, http.StatusAccepted, rc)
	}
}

// plan answers POST /v1/imports?plan=true: the plan file of the CSV body,
// built against Graph without writing anything.
func (a *API) plan(w http.ResponseWriter, r *http.Request, req createRequest, data []byte) {
	if a.cfg.Graph == nil {
		writeError(w, http.StatusNotImplemented, codeNotImplemented, "plan=true is not available on this server (it has no Graph client)")
		return
	}
	p, err := plan.Build(r.Context(), plan.Config{Graph: a.cfg.Graph, Ingest: req.opts, Reads: a.cfg.Reads, Logger: a.log}, bytes.NewReader(data), cmp.Or(req.name, "http csv upload"))
	var fe *ingest.FileError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, codeInvalidBody, fe.Error())
		return
	case err != nil:
		a.internalError(w, r, "plan the import", err)
		return
	}
	var out bytes.Buffer
	if err := p.Write(&out); err != nil {
		a.internalError(w, r, "plan the import", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", mediaJSON)
	setNoStore(h)
	_, _ = w.Write(out.Bytes())
}

// lookup returns the import named by the path's id, or answers 400 (a
// malformed id) or 404 (no such import) and returns false.
func (a *API) lookup(w http.ResponseWriter, r *http.Request) (jobs.Import, bool) {
	id := r.PathValue("id")
	imp, err := a.cfg.Store.Import(r.Context(), id)
	switch {
	case errors.Is(err, jobs.ErrInvalidImportID):
		writeError(w, http.StatusBadRequest, codeBadImportID, fmt.Sprintf("%q is not an import id: ids are 1 to 64 letters, digits, '-' and '_'", truncate(id)))
	case errors.Is(err, jobs.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no import %q", id))
	case err != nil:
		a.internalError(w, r, "look the import up", err)
	default:
		return imp, true
	}
	return imp, false
}

// truncate shortens s for a message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// listImports is GET /v1/imports.
func (a *API) listImports(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !checkQuery(w, q, "limit") {
		return
	}
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("query parameter limit=%q: want a number from 1 to %d", v, maxListLimit))
			return
		}
		limit = n
	}
	imps, err := a.cfg.Store.Imports(r.Context())
	if err != nil {
		a.internalError(w, r, "list the imports", err)
		return
	}
	imps = imps[:min(limit, len(imps))]
	pending, err := a.cfg.Store.PendingTenants(r.Context())
	if err != nil {
		a.internalError(w, r, "list the imports", err)
		return
	}
	waiting := a.waiting()
	list := contract.ImportList{Imports: make([]contract.ImportView, 0, len(imps))}
	for _, imp := range imps {
		p, err := a.cfg.Importer.Progress(r.Context(), imp)
		if err != nil {
			a.internalError(w, r, "list the imports", err)
			return
		}
		list.Imports = append(list.Imports, view(p, pending, waiting, time.Now()))
	}
	writeJSON(w, http.StatusOK, list)
}

// waiting returns the tenants the workers hold back, if known.
func (a *API) waiting() []worker.TenantState {
	if a.cfg.Waiting == nil {
		return nil
	}
	return a.cfg.Waiting()
}

// progress checks r's query against allowed, looks the path's import up
// and reads where it stands; false when it answered instead (what names
// the read in a 500).
func (a *API) progress(w http.ResponseWriter, r *http.Request, what string, allowed ...string) (imports.Progress, bool) {
	if !checkQuery(w, r.URL.Query(), allowed...) {
		return imports.Progress{}, false
	}
	imp, ok := a.lookup(w, r)
	if !ok {
		return imports.Progress{}, false
	}
	p, err := a.cfg.Importer.Progress(r.Context(), imp)
	if err != nil {
		a.internalError(w, r, what, err)
		return p, false
	}
	return p, true
}

// getImport is GET /v1/imports/{id}.
func (a *API) getImport(w http.ResponseWriter, r *http.Request) {
	p, ok := a.progress(w, r, "read the import's progress")
	if !ok {
		return
	}
	pending, err := a.cfg.Store.PendingTenants(r.Context())
	if err != nil {
		a.internalError(w, r, "read the import's progress", err)
		return
	}
	writeJSON(w, http.StatusOK, view(p, pending, a.waiting(), time.Now()))
}

// reportFormat is the report format r asks for: ?format= when given, else
// the first of text/csv and application/json its Accept header lists
// (CSV when it lists neither).
func reportFormat(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "":
	case imports.FormatCSV, imports.FormatJSON:
		return f, nil
	default:
		return "", fmt.Errorf("query parameter format=%q: want csv or json", f)
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		media, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch media {
		case mediaCSV:
			return imports.FormatCSV, nil
		case mediaJSON:
			return imports.FormatJSON, nil
		}
	}
	return imports.FormatCSV, nil
}

// statusFilter reads ?status=a,b: the statuses to keep, nil for all.
func statusFilter(q url.Values) (map[contract.Status]bool, error) {
	v := q.Get("status")
	if v == "" {
		return nil, nil
	}
	keep := map[contract.Status]bool{}
	for _, s := range strings.Split(v, ",") {
		st := contract.Status(strings.TrimSpace(s))
		if !slices.Contains(contract.Statuses(), st) {
			names := make([]string, 0, len(contract.Statuses()))
			for _, s := range contract.Statuses() {
				names = append(names, string(s))
			}
			return nil, fmt.Errorf("query parameter status: %q is not a status (%s)", truncate(string(st)), strings.Join(names, ", "))
		}
		keep[st] = true
	}
	return keep, nil
}

// report is GET /v1/imports/{id}/report.
func (a *API) report(w http.ResponseWriter, r *http.Request) {
	p, ok := a.progress(w, r, "read the report", "status", "format")
	if !ok {
		return
	}
	format, err := reportFormat(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	keep, err := statusFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	results := p.Results
	if keep != nil {
		results = slices.DeleteFunc(slices.Clone(results), func(res jobs.Result) bool { return !keep[res.Status] })
	}
	var out bytes.Buffer
	if err := imports.WriteReport(&out, format, results); err != nil {
		a.internalError(w, r, "write the report", err)
		return
	}
	h := w.Header()
	setNoStore(h)
	if format == imports.FormatCSV {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.report.csv"`, p.Import.ID))
	} else {
		h.Set("Content-Type", mediaJSON)
	}
	_, _ = w.Write(out.Bytes())
}

// retry is POST /v1/imports/{id}/retry: the failed rows of the import as a
// new import, as "bulkassign retry" enqueues them.
func (a *API) retry(w http.ResponseWriter, r *http.Request) {
	if !checkQuery(w, r.URL.Query()) {
		return
	}
	orig, ok := a.lookup(w, r)
	if !ok {
		return
	}
	failed, err := a.cfg.Importer.FailedRows(r.Context(), orig)
	if err != nil {
		a.internalError(w, r, "read the failed rows", err)
		return
	}
	if failed.Len() == 0 {
		writeError(w, http.StatusConflict, codeNothingToRetry, fmt.Sprintf("import %s has no failed rows to retry", orig.ID))
		return
	}
	a.createList(w, r, imports.Spec{Name: "retry of " + orig.ID, Source: orig.Source}, failed)
}

// undo is POST /v1/imports/{id}/undo: the removal of exactly the
// assignments the import created, as a new import, as "bulkassign undo"
// enqueues it.
func (a *API) undo(w http.ResponseWriter, r *http.Request) {
	p, ok := a.progress(w, r, "read the import's results")
	if !ok {
		return
	}
	orig := p.Import
	if err := undo.Ready(orig, p.ImportProgress); err != nil {
		writeError(w, http.StatusConflict, codeNotUndoable, fmt.Sprintf("import %s: %v", orig.ID, err))
		return
	}
	// Create gives the import its own id; this one only lets Jobs validate.
	js, err := undo.Jobs(p.Results, jobs.NewImportID())
	switch {
	case errors.Is(err, undo.ErrNotUndoable):
		writeError(w, http.StatusConflict, codeNotUndoable, fmt.Sprintf("import %s: %v", orig.ID, err))
		return
	case err != nil:
		a.internalError(w, r, "undo the import", err)
		return
	case len(js) == 0:
		writeError(w, http.StatusConflict, codeNothingToUndo, fmt.Sprintf("import %s created no assignment: nothing to undo", orig.ID))
		return
	}
	a.createList(w, r, imports.Spec{Name: "undo of " + orig.ID, Source: orig.Source}, imports.NewList(js, nil))
}

// createList creates the import of rows already made into jobs (retry,
// undo) and answers 202 with its receipt.
func (a *API) createList(w http.ResponseWriter, r *http.Request, spec imports.Spec, list *imports.List) {
	imp, err := a.cfg.Importer.Create(r.Context(), spec, list)
	if err != nil {
		a.internalError(w, r, "enqueue the import", err)
		return
	}
	w.Header().Set("Location", "/v1/imports/"+imp.ID)
	writeJSON(w, http.StatusAccepted, contract.Receipt{ImportID: imp.ID, Accepted: imp.Jobs, Duplicates: imp.Duplicates, Rejected: []contract.Rejection{}})
}
