package imports

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
)

// assignment is one valid assignment object of group n.
func assignment(n int) string {
	return `{"tenant_id":"` + tenantA + `","kind":"deviceConfigurations","policy_id":"` + policy + `","target":"group","group_id":"` + group(n) + `"}`
}

// envelope is a request of the assignments of groups 0..n-1 with the
// envelope fields head (e.g. `"request_id":"r1",`).
func envelope(head string, n int) string {
	elems := make([]string, n)
	for i := range n {
		elems[i] = assignment(i)
	}
	return `{` + head + `"assignments":[` + strings.Join(elems, ",") + `]}`
}

// TestParseRequestRefuses: every malformed body is refused with its
// sentinel and an error in plain words naming the element and field.
func TestParseRequestRefuses(t *testing.T) {
	t.Parallel()
	tooMany := `{"assignments":[` + strings.Repeat(`{},`, 99_999) + `{}]}`
	tests := []struct {
		name  string
		given string
		opts  RequestOptions
		err   error
		index int
		field string
		msg   string // the whole error
	}{
		{"not JSON", `{"assignments":[` + assignment(0) + `,{"kind":]}`, RequestOptions{}, ErrMalformedRequest, 1, "", "assignments[1]: not valid JSON at byte "},
		{"cut", `{"request_id":"a","assignments":[`, RequestOptions{}, ErrMalformedRequest, 0, "", "assignments[0]: not valid JSON: it ends too early"},
		{"not an object", `[1,2]`, RequestOptions{}, ErrMalformedRequest, -1, "", `want a JSON object: a request with "assignments", or one assignment`},
		{"wrong type", `{"skip_invalid":"yes","assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "skip_invalid", "field skip_invalid: want true or false, got text"},
		{"part as text", `{"request_id":"r","part":"1","parts":2,"assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "part", "field part: want a whole number, got text"},
		{"assignments not an array", `{"assignments":{"kind":"x"}}`, RequestOptions{}, ErrMalformedRequest, -1, "assignments", "field assignments: want an array of assignment objects"},
		{"unknown field", `{"colour":"red","assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "colour", "field colour: unknown field; a request's fields are request_id, name, tenant_id, skip_invalid, part, parts, assignments"},
		{"empty", `{"assignments":[]}`, RequestOptions{}, ErrMalformedRequest, -1, "assignments", "field assignments: empty: nothing to import"},
		{"injection in request_id", `{"request_id":"a.b\"; $filter=x","assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "request_id", `field request_id: "a.b\"; $filter=x": use 1 to 64 letters, digits, '-' and '_'`},
		{"control char in name", `{"name":"a\u0007","assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "name", "field name: control characters are not allowed"},
		{"bad default tenant", `{"tenant_id":"../x","assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "tenant_id", `field tenant_id: not a tenant id (a GUID or a domain name): "../x"`},
		{"parts without id", `{"part":1,"parts":2,"assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "request_id", "field request_id: required for a request in parts: every part carries the same request_id"},
		{"part past parts", `{"request_id":"r","part":3,"parts":2,"assignments":[{}]}`, RequestOptions{}, ErrMalformedRequest, -1, "part", "field part: want 1 to parts (2), got 3"},
		{"trailing data", `{"assignments":[{}]} {}`, RequestOptions{}, ErrMalformedRequest, -1, "", "data after the request's object"},
		{"too large", envelope("", 3), RequestOptions{MaxBytes: 100}, ErrRequestTooLarge, -1, "", "the request is "},
		{"100,000 elements", tooMany, RequestOptions{MaxBytes: len(tooMany)}, ErrTooManyAssignments, -1, "assignments", "field assignments: more than 10000 assignments; at most 10000 per message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := ParseRequest([]byte(tt.given), tt.opts)
			var re *RequestError
			if !errors.As(err, &re) || !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want a *RequestError wrapping %v", err, tt.err)
			}
			if re.Index != tt.index || re.Field != tt.field || !strings.HasPrefix(re.Error(), tt.msg) {
				t.Errorf("error %+v (%q), want index %d, field %q, message starting %q", re, re, tt.index, tt.field, tt.msg)
			}
			if strings.Contains(re.Error(), "Go ") || strings.Contains(re.Error(), "json:") {
				t.Errorf("error %q names Go internals", re)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestRequestAssignmentErrors: an assignment with a value of the wrong
// type, an unknown column or an injection string in an id is a rejection
// naming its index and column; the request is refused unless
// skip_invalid, and the receipt lists each.
func TestRequestAssignmentErrors(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	bad := []string{
		`{"tenant_id":1,"kind":"deviceConfigurations"}`,
		strings.Replace(assignment(1), `"target"`, `"colour":"red","target"`, 1),
		strings.Replace(assignment(2), group(2), `x' or 1 eq 1 $filter=id`, 1),
		strings.Replace(assignment(3), policy, `../../deviceManagement`, 1),
		strings.Replace(assignment(4), tenantA, `contoso\u0000.com`, 1),
	}
	body := `{"request_id":"r-1","assignments":[` + assignment(0) + "," + strings.Join(bad, ",") + `]}`
	req, err := ParseRequest([]byte(body), RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.im.Create(b.ctx, req.Spec("nats", ""), req)
	rc := NewReceipt(req, jobs.Import{}, err)
	want := []contract.Rejection{
		{Index: 1, Column: contract.ColTenant, Reason: "want text (a JSON string), got a number"},
		{Index: 2, Column: "colour"},
		{Index: 3, Column: contract.ColGroup},
		{Index: 4, Column: contract.ColPolicy},
		{Index: 5, Column: contract.ColTenant},
	}
	if rc.ImportID != "" || rc.Error != "5 of 6 assignments invalid; nothing enqueued" || rc.RequestID != "r-1" || len(rc.Rejected) != len(want) {
		t.Fatalf("receipt %+v", rc)
	}
	for i, w := range want {
		got := rc.Rejected[i]
		if got.Index != w.Index || got.Column != w.Column || (w.Reason != "" && got.Reason != w.Reason) || got.Reason == "" {
			t.Errorf("rejection %d: %+v, want %+v", i, got, w)
		}
	}
	if imps, _ := b.store.Imports(b.ctx); len(imps) != 0 {
		t.Fatalf("a refused request recorded imports: %+v", imps)
	}

	skip := strings.Replace(body, `"request_id":"r-1",`, `"request_id":"r-2","skip_invalid":true,`, 1)
	if req, err = ParseRequest([]byte(skip), RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	imp, err := b.im.Create(b.ctx, req.Spec("nats", ""), req)
	rc = NewReceipt(req, imp, err)
	if err != nil || rc.ImportID == "" || rc.Accepted != 1 || len(rc.Rejected) != 5 || imp.Invalid != 5 || imp.Name != "request r-2" {
		t.Fatalf("skip_invalid: %+v, %v, import %+v", rc, err, imp)
	}
}

// TestCreateKeyed: a request created again with its key (a redelivery) is
// the same import, whether unfinished or finished, and publishes no job
// twice; the key with other content is refused; without a key the same
// content after the import finished is a new import.
func TestCreateKeyed(t *testing.T) {
	b := setup(t, jobs.Config{}, Config{})
	parse := func(body string) *Request {
		t.Helper()
		r, err := ParseRequest([]byte(body), RequestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	body := envelope(`"request_id":"k1",`, 5)
	first, err := b.im.Create(b.ctx, parse(body).Spec("nats", ""), parse(body))
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.im.Create(b.ctx, parse(body).Spec("nats", ""), parse(body))
	if err != nil || again.ID != first.ID {
		t.Fatalf("again: %+v, %v; want %s", again, err, first.ID)
	}
	b.finish(first.ID)
	after, err := b.im.Create(b.ctx, parse(body).Spec("nats", ""), parse(body))
	if err != nil || after.ID != first.ID {
		t.Fatalf("after it finished: %+v, %v; want %s", after, err, first.ID)
	}
	if q := b.queuedRows(""); len(q) != 0 {
		t.Fatalf("a finished keyed import enqueued %v again", q)
	}
	other := envelope(`"request_id":"k1",`, 6)
	_, err = b.im.Create(b.ctx, parse(other).Spec("nats", ""), parse(other))
	if !errors.Is(err, ErrKeyReused) || !strings.Contains(NewReceipt(parse(other), jobs.Import{}, err).Error, "request_id already used for another request (import "+first.ID+")") {
		t.Fatalf("key reused: %v", err)
	}
	bare := parse(assignment(9))
	if bare.Len() != 1 || bare.ID != "" {
		t.Fatalf("bare assignment: %+v", bare)
	}
	if spec := bare.Spec("nats", "seq-7"); spec.Key != "seq-7" || spec.Name != "queue request" {
		t.Fatalf("spec of a bare assignment: %+v", spec)
	}
}

// TestRequestSchema: contract/request.schema.json agrees with the decoder:
// its envelope properties are the decoder's fields and RequestHeader's,
// its assignment properties the CSV columns, its limits the package's,
// and every example is a valid request.
func TestRequestSchema(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../contract/request.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Properties map[string]struct {
			Type     string `json:"type"`
			MaxItems int    `json:"maxItems"`
			Maximum  int    `json:"maximum"`
			Pattern  string `json:"pattern"`
		} `json:"properties"`
		AdditionalProperties *bool `json:"additionalProperties"`
	}
	var schema struct {
		Defs struct {
			Envelope   object `json:"envelope"`
			Assignment object `json:"assignment"`
		} `json:"$defs"`
		Description string            `json:"description"`
		Examples    []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	keys := func(o object) []string {
		var out []string
		for k := range o.Properties {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	want := slices.Sorted(slices.Values(envelopeFields))
	if got := keys(schema.Defs.Envelope); !slices.Equal(got, want) {
		t.Errorf("schema envelope properties %v, decoder fields %v", got, want)
	}
	var tags []string
	ht := reflect.TypeFor[RequestHeader]()
	for i := range ht.NumField() {
		tags = append(tags, strings.Split(ht.Field(i).Tag.Get("json"), ",")[0])
	}
	tags = append(tags, "assignments")
	if slices.Sort(tags); !slices.Equal(tags, want) {
		t.Errorf("RequestHeader fields %v, decoder fields %v", tags, want)
	}
	var cols []string
	for _, c := range contract.CSVColumns() {
		cols = append(cols, string(c))
	}
	slices.Sort(cols)
	if got := keys(schema.Defs.Assignment); !slices.Equal(got, cols) {
		t.Errorf("schema assignment properties %v, CSV columns %v", got, cols)
	}
	env := schema.Defs.Envelope
	if env.Properties["assignments"].MaxItems != MaxRequestAssignments || env.Properties["parts"].Maximum != MaxRequestParts ||
		env.Properties["request_id"].Pattern != "^[A-Za-z0-9_-]{1,64}$" || env.AdditionalProperties == nil || *env.AdditionalProperties ||
		!strings.Contains(schema.Description, "4194304 bytes") || MaxRequestBytes != 4194304 {
		t.Errorf("schema limits disagree with the package: %+v", env.Properties)
	}
	if len(schema.Examples) != 3 {
		t.Fatalf("%d examples", len(schema.Examples))
	}
	for i, ex := range schema.Examples {
		req, err := ParseRequest(ex, RequestOptions{})
		if err != nil {
			t.Errorf("example %d: %v", i, err)
			continue
		}
		var s scan
		if sum, err := ingest.IngestMessages(t.Context(), req.elems, req.options(), &s); err != nil || sum.Invalid != 0 {
			t.Errorf("example %d: %v, %+v", i, err, sum.Errors)
		}
	}
}
