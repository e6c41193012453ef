package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/contract"
)

// goInternals matches what a Go error says of Go's types, which no
// message to a client may contain.
var goInternals = regexp.MustCompile(`Go (struct|value)|json: |\[\]json\.|RawMessage|unmarshal|map\[`)

// TestBadInput: every client mistake gets its status and a JSON error in
// plain words (a 422 a receipt listing every rejected row), never a 500,
// and the server goes on serving.
func TestBadInput(t *testing.T) {
	s := startStack(t)
	rs := rows(50, 1, 2)
	good := csvOf(rs)
	bigCSV := append(slices.Clone(good), bytes.Repeat([]byte("#"), testMaxCSV)...)
	bigJSON := []byte(`[` + strings.Repeat(`{"kind":"x"},`, testMaxJSON/13+10) + `{}]`)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
		header                          []string
	}{
		{"no content type", "POST", "/v1/imports", "", string(good), 415, codeUnsupportedMediaType, nil},
		{"wrong content type", "POST", "/v1/imports", "text/plain", string(good), 415, codeUnsupportedMediaType, nil},
		{"form", "POST", "/v1/imports", "application/x-www-form-urlencoded", "a=b", 415, codeUnsupportedMediaType, nil},
		{"oversize CSV", "POST", "/v1/imports", "text/csv", string(bigCSV), 413, codeBodyTooLarge, nil},
		{"oversize JSON", "POST", "/v1/imports", "application/json", string(bigJSON), 413, codeBodyTooLarge, nil},
		{"malformed JSON", "POST", "/v1/imports", "application/json", `{"tenant_id": `, 400, codeMalformedJSON, nil},
		{"JSON garbage", "POST", "/v1/imports", "application/json", `nonsense`, 400, codeMalformedJSON, nil},
		{"JSON string", "POST", "/v1/imports", "application/json", `"a row"`, 400, codeMalformedJSON, nil},
		{"bare array", "POST", "/v1/imports", "application/json", `[]`, 400, codeMalformedJSON, nil},
		{"no assignments", "POST", "/v1/imports", "application/json", `{"assignments": []}`, 400, codeInvalidBody, nil},
		{"unknown envelope field", "POST", "/v1/imports", "application/json", `{"assignments": [{}], "priority": 1}`, 400, codeInvalidBody, nil},
		{"empty CSV", "POST", "/v1/imports", "text/csv", ``, 400, codeInvalidBody, nil},
		{"bad CSV header", "POST", "/v1/imports", "text/csv", "tenant,kind\nx,y\n", 400, codeInvalidBody, nil},
		{"bad skip_invalid", "POST", "/v1/imports?skip_invalid=maybe", "text/csv", string(good), 400, codeBadRequest, nil},
		{"bad tenant", "POST", "/v1/imports?tenant=not%20a%20tenant", "text/csv", string(good), 400, codeBadRequest, nil},
		{"control characters in name", "POST", "/v1/imports?name=a%0Ab", "text/csv", string(good), 400, codeBadRequest, nil},
		{"unknown parameter", "POST", "/v1/imports?skipInvalid=true", "text/csv", string(good), 400, codeBadRequest, nil},
		{"bad limit", "GET", "/v1/imports?limit=0", "", "", 400, codeBadRequest, nil},
		{"unknown import", "GET", "/v1/imports/20260101T000000-abcdef", "", "", 404, codeNotFound, nil},
		{"unknown import's report", "GET", "/v1/imports/20260101T000000-abcdef/report", "", "", 404, codeNotFound, nil},
		{"unknown import's retry", "POST", "/v1/imports/20260101T000000-abcdef/retry", "", "", 404, codeNotFound, nil},
		{"unknown import's undo", "POST", "/v1/imports/20260101T000000-abcdef/undo", "", "", 404, codeNotFound, nil},
		{"bad id", "GET", "/v1/imports/bad!id", "", "", 400, codeBadImportID, nil},
		{"path in id", "GET", "/v1/imports/..%2F..%2Fetc%2Fpasswd", "", "", 400, codeBadImportID, nil},
		{"injection in id", "POST", "/v1/imports/x%27%3B%20DROP%20TABLE%20imports%3B--/retry", "", "", 400, codeBadImportID, nil},
		{"subject wildcard in id", "GET", "/v1/imports/%3E/report", "", "", 400, codeBadImportID, nil},
		{"long id", "GET", "/v1/imports/" + strings.Repeat("a", 65), "", "", 400, codeBadImportID, nil},
		{"bad status filter", "GET", "/v1/imports/20260101T000000-abcdef/report?status=failed,bogus", "", "", 404, codeNotFound, nil},
		{"unknown route", "GET", "/v1/nothing", "", "", 404, codeNotFound, nil},
		{"method", "DELETE", "/v1/imports", "", "", 405, codeMethodNotAllowed, []string{"Allow", "GET, POST"}},
		{"method on an import", "PUT", "/v1/imports/20260101T000000-abcdef", "", "", 405, codeMethodNotAllowed, []string{"Allow", "GET"}},
		{"GET of retry", "GET", "/v1/imports/20260101T000000-abcdef/retry", "", "", 405, codeMethodNotAllowed, []string{"Allow", "POST"}},
	}
	for _, tt := range tests {
		code, h, data := s.request(tt.method, tt.path, tt.ctype, []byte(tt.body))
		if code != tt.status {
			t.Errorf("%s: %s %s: %d %s, want %d", tt.name, tt.method, tt.path, code, data, tt.status)
			continue
		}
		e := apiError(t, data)
		if e.Code != tt.code || goInternals.MatchString(e.Message) {
			t.Errorf("%s: error %+v, want code %s in plain words", tt.name, e, tt.code)
		}
		for i := 0; i+1 < len(tt.header); i += 2 {
			if got := h.Get(tt.header[i]); got != tt.header[i+1] {
				t.Errorf("%s: %s %q, want %q", tt.name, tt.header[i], got, tt.header[i+1])
			}
		}
	}

	// A bad filter or format on an import that exists.
	rc := s.submit("", "text/csv", good)
	for _, q := range []string{"?status=failed,bogus", "?format=xml", "?status="} {
		code, _, data := s.request(http.MethodGet, "/v1/imports/"+rc.ImportID+"/report"+q, "", nil)
		if q == "?status=" {
			if code != http.StatusOK {
				t.Errorf("report%s: %d %s, want every row", q, code, data)
			}
			continue
		}
		if e := apiError(t, data); code != http.StatusBadRequest || e.Code != codeBadRequest {
			t.Errorf("report%s: %d %+v", q, code, e)
		}
	}

	// Invalid rows: 422 with a receipt that lists every one, with its
	// column and reason; nothing recorded.
	bad := csvOf(rs,
		rs[0].tenant+",deviceConfigurations,"+rs[0].policy+",group,not-a-guid",
		rs[0].tenant+",noSuchKind,"+rs[0].policy+",group,"+rs[0].group,
		"not a tenant,deviceConfigurations,"+rs[0].policy+",group,"+rs[0].group,
		rs[0].tenant+",deviceConfigurations,"+rs[0].policy+",group")
	code, _, data := s.request(http.MethodPost, "/v1/imports", "text/csv", bad)
	var refused contract.Receipt
	decode(t, data, &refused)
	var got []string
	for _, r := range refused.Rejected {
		got = append(got, fmt.Sprintf("%d:%s", r.Index, r.Column))
		if r.Reason == "" || goInternals.MatchString(r.Reason) {
			t.Errorf("rejection %+v: want a reason in plain words", r)
		}
	}
	if want := []string{"4:group_id", "5:kind", "6:tenant_id", "7:"}; code != http.StatusUnprocessableEntity || refused.ImportID != "" ||
		!slices.Equal(got, want) || !strings.Contains(refused.Error, "4 of 6 rows invalid") {
		t.Errorf("invalid rows: %d %s\nrejections %v, want %v", code, data, got, want)
	}
	// Elements of the wrong JSON types: 422 naming each element, in plain
	// words.
	code, _, data = s.request(http.MethodPost, "/v1/imports", "application/json", []byte(`{"assignments": [{"kind": 5, "tenant_id": ["a"]}, 7]}`))
	decode(t, data, &refused)
	if code != http.StatusUnprocessableEntity || len(refused.Rejected) != 2 || refused.Rejected[0].Index != 0 || refused.Rejected[1].Index != 1 {
		t.Errorf("wrong JSON types: %d %s", code, data)
	}
	for _, r := range refused.Rejected {
		if r.Reason == "" || goInternals.MatchString(r.Reason) {
			t.Errorf("wrong JSON types: rejection %+v: want a reason in plain words", r)
		}
	}

	// The server keeps serving.
	if v := s.waitFinished(rc.ImportID); v.Counts[contract.StatusCreated] != 2 {
		t.Errorf("after the bad requests: %+v", v)
	}
	if imps, err := s.store.Imports(t.Context()); err != nil || len(imps) != 1 {
		t.Errorf("imports recorded: %d, %v; want only the good one", len(imps), err)
	}
	if strings.Contains(s.log.String(), "level=ERROR") {
		t.Errorf("bad input logged an error:\n%s", s.log.String())
	}
}

// TestAuth: every /v1 route (and an unknown /v1 path) refuses a request
// without the token, with a wrong one, or with another scheme: 401, a JSON
// error and WWW-Authenticate: Bearer. The page is served without the
// token. The token never reaches the log.
func TestAuth(t *testing.T) {
	s := startStack(t)
	a, err := New(Config{Importer: s.svc.Importer(), Store: s.store})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/v1/nothing"}
	for _, rt := range a.routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		paths = append(paths, method+" "+strings.ReplaceAll(path, "{id}", "20260101T000000-abcdef"))
	}
	for _, p := range paths {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = http.MethodGet, p
		}
		for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong-token-0123456789", "Basic " + token, "bearer " + token, "Bearer " + token + "x"} {
			code, h, data := send(t, method, s.base+path, []byte("a,b\n"), "Authorization", auth, "Content-Type", "text/csv")
			if e := apiError(t, data); code != http.StatusUnauthorized || e.Code != codeUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with Authorization %q: %d %+v, WWW-Authenticate %q", method, path, auth, code, e, h.Get("WWW-Authenticate"))
			}
		}
		if code, _, data := s.request(method, path, "text/csv", []byte("a,b\n")); code == http.StatusUnauthorized {
			t.Errorf("%s %s with the token: 401 %s", method, path, data)
		}
	}
	code, h, data := send(t, http.MethodGet, s.base+"/", nil)
	if code != http.StatusOK || h.Get("Content-Type") != "text/html" || !strings.Contains(string(data), "bulkassign") {
		t.Errorf("page without a token: %d %s", code, data)
	}
	if strings.Contains(s.log.String(), token) {
		t.Errorf("the token is in the log:\n%s", s.log.String())
	}
	if !strings.Contains(s.log.String(), "HTTP API request") {
		t.Errorf("requests are not logged at debug level:\n%s", s.log.String())
	}
}

// TestPanicRecovered: a handler that panics answers 500 with a JSON error,
// and the next request is served.
func TestPanicRecovered(t *testing.T) {
	s := startStack(t)
	a, err := New(Config{Importer: s.svc.Importer(), Store: s.store, Page: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, a)
	code, _, data := send(t, http.MethodGet, srv+"/page", nil)
	if e := apiError(t, data); code != http.StatusInternalServerError || e.Code != codeInternal || strings.Contains(e.Message, "boom") {
		t.Errorf("panic: %d %+v", code, e)
	}
	if code, _, data := send(t, http.MethodGet, srv+"/v1/imports", nil); code != http.StatusOK {
		t.Errorf("after the panic: %d %s", code, data)
	}
}

// openAPIDoc is what the tests read of openapi.json.
type openAPIDoc struct {
	OpenAPI string                                 `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	Responses map[string]json.RawMessage `json:"responses"`
}

// TestOpenAPIMatchesRoutes: openapi.json (served at /v1/openapi.json as
// it is in the repository) documents every route the API serves, and the
// API serves every path and method it documents.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := startStack(t)
	code, _, data := s.request(http.MethodGet, "/v1/openapi.json", "", nil)
	if code != http.StatusOK || !bytes.Equal(data, openAPI) {
		t.Fatalf("GET /v1/openapi.json: %d, %d bytes; want the embedded file", code, len(data))
	}
	var doc openAPIDoc
	if err := json.Unmarshal(data, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v, version %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	a, err := New(Config{Importer: s.svc.Importer(), Store: s.store})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, rt := range a.routes {
		served[rt.pattern] = true
		if !documented[rt.pattern] {
			t.Errorf("route %s is not in openapi.json", rt.pattern)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("openapi.json documents %s, which the API does not serve", op)
		}
		// And the server really answers it (not 404 or 405).
		method, path, _ := strings.Cut(op, " ")
		code, _, data := s.request(method, strings.ReplaceAll(path, "{id}", "20260101T000000-abcdef"), "text/csv", nil)
		if code == http.StatusMethodNotAllowed || (code == http.StatusNotFound && apiError(t, data).Code == codeNotFound && !strings.Contains(path, "{id}")) {
			t.Errorf("%s: %d %s", op, code, data)
		}
	}
}

// TestOpenAPIStatusCodes: every status each operation documents is what a
// real request gets, and every status a request below gets is documented
// for its operation (default covers only 500 and 503).
func TestOpenAPIStatusCodes(t *testing.T) {
	s := startStack(t)
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	rs := rows(60, 1, 2)
	missing := rows(70, 1, 1)
	s.sim.SetMissingPolicy(missing[0].policy)
	failing := s.submit("", "text/csv", csvOf(append(slices.Clone(rs), missing...)))
	s.waitFinished(failing.ImportID)
	noFailed := s.submit("", "text/csv", csvOf(rows(80, 1, 1)))
	s.waitFinished(noFailed.ImportID)
	// It created nothing: nothing to undo.
	allFailed := s.submit("", "text/csv", csvOf([]row{{tenant: missing[0].tenant, kind: missing[0].kind, policy: missing[0].policy, group: id(71, 1)}}))
	s.waitFinished(allFailed.ImportID)
	const unknown = "20260101T000000-abcdef"
	keyed := func(r row) string {
		return fmt.Sprintf(`{"request_id": "probe", "assignments": [{"tenant_id": %q, "kind": %q, "policy_id": %q, "target": "group", "group_id": %q}]}`, r.tenant, r.kind, r.policy, r.group)
	}
	s.submit("", "application/json", []byte(keyed(rows(95, 1, 1)[0])))
	noGraph, err := New(Config{Importer: s.svc.Importer(), Store: s.store})
	if err != nil {
		t.Fatal(err)
	}
	noGraphURL := httptestServer(t, noGraph)

	type probe struct {
		method, path, ctype, body string
		auth                      string // "" the token; "-" none
		base                      string // "" the stack
	}
	probes := map[string]map[string]probe{ // operation → status → request
		"POST /v1/imports": {
			"200": {method: "POST", path: "/v1/imports?plan=true", ctype: "text/csv", body: string(csvOf(rs))},
			"202": {method: "POST", path: "/v1/imports", ctype: "text/csv", body: string(csvOf(rows(90, 1, 1)))},
			"400": {method: "POST", path: "/v1/imports", ctype: "application/json", body: "{"},
			"401": {method: "POST", path: "/v1/imports", ctype: "text/csv", auth: "-"},
			"413": {method: "POST", path: "/v1/imports", ctype: "text/csv", body: strings.Repeat("x", testMaxCSV+1)},
			"415": {method: "POST", path: "/v1/imports", ctype: "text/xml", body: "<a/>"},
			"422": {method: "POST", path: "/v1/imports", ctype: "text/csv", body: string(csvOf(rs, "x,y,z,group,w"))},
			"409": {method: "POST", path: "/v1/imports", ctype: "application/json", body: keyed(rows(96, 1, 1)[0])},
			"501": {method: "POST", path: "/v1/imports?plan=true", ctype: "text/csv", body: string(csvOf(rs)), base: noGraphURL},
		},
		"GET /v1/imports": {
			"200": {method: "GET", path: "/v1/imports"},
			"400": {method: "GET", path: "/v1/imports?limit=x"},
			"401": {method: "GET", path: "/v1/imports", auth: "-"},
		},
		"GET /v1/imports/{id}": {
			"200": {method: "GET", path: "/v1/imports/" + failing.ImportID},
			"400": {method: "GET", path: "/v1/imports/a.b"},
			"401": {method: "GET", path: "/v1/imports/" + failing.ImportID, auth: "-"},
			"404": {method: "GET", path: "/v1/imports/" + unknown},
		},
		"GET /v1/imports/{id}/report": {
			"200": {method: "GET", path: "/v1/imports/" + failing.ImportID + "/report"},
			"400": {method: "GET", path: "/v1/imports/" + failing.ImportID + "/report?status=nope"},
			"401": {method: "GET", path: "/v1/imports/" + failing.ImportID + "/report", auth: "-"},
			"404": {method: "GET", path: "/v1/imports/" + unknown + "/report"},
		},
		"POST /v1/imports/{id}/retry": {
			"202": {method: "POST", path: "/v1/imports/" + failing.ImportID + "/retry"},
			"400": {method: "POST", path: "/v1/imports/a*b/retry"},
			"401": {method: "POST", path: "/v1/imports/" + failing.ImportID + "/retry", auth: "-"},
			"404": {method: "POST", path: "/v1/imports/" + unknown + "/retry"},
			"409": {method: "POST", path: "/v1/imports/" + noFailed.ImportID + "/retry"},
		},
		"POST /v1/imports/{id}/undo": {
			"202": {method: "POST", path: "/v1/imports/" + noFailed.ImportID + "/undo"},
			"400": {method: "POST", path: "/v1/imports/a%20b/undo"},
			"401": {method: "POST", path: "/v1/imports/" + noFailed.ImportID + "/undo", auth: "-"},
			"404": {method: "POST", path: "/v1/imports/" + unknown + "/undo"},
			"409": {method: "POST", path: "/v1/imports/" + allFailed.ImportID + "/undo"},
		},
		"GET /v1/openapi.json": {
			"200": {method: "GET", path: "/v1/openapi.json"},
			"401": {method: "GET", path: "/v1/openapi.json", auth: "-"},
		},
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			name := strings.ToUpper(method) + " " + path
			var documented []string
			for status := range op.Responses {
				if status != "default" {
					documented = append(documented, status)
				}
			}
			var probed []string
			for status := range probes[name] {
				probed = append(probed, status)
			}
			slices.Sort(documented)
			slices.Sort(probed)
			if !slices.Equal(documented, probed) {
				t.Errorf("%s documents %v; the requests of this test get %v", name, documented, probed)
			}
		}
	}
	for name, byStatus := range probes {
		for status, p := range byStatus {
			base := cmp.Or(p.base, s.base)
			header := []string{"Authorization", "Bearer " + token, "Content-Type", p.ctype}
			if p.auth == "-" {
				header[1] = ""
			}
			code, _, data := send(t, p.method, base+p.path, []byte(p.body), header...)
			if fmt.Sprint(code) != status {
				t.Errorf("%s: %s %s: %d %s, want %s", name, p.method, p.path, code, data, status)
			}
		}
	}
}
