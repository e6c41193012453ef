package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/imports"
	"github.com/bulkassign/bulkassign/internal/namestest"
)

// TestImportCSV: a CSV posted with skip_invalid becomes an import whose
// receipt counts its jobs and duplicates and lists its invalid row; it
// finishes with every row created once in Graph, a view with the right
// counts, and a report in CSV and JSON that is byte for byte what
// "bulkassign report" writes, filtered by status on demand. The list shows
// it first.
func TestImportCSV(t *testing.T) {
	s := startStack(t)
	rs := rows(1, 3, 10)
	dup := fmt.Sprintf("%s,%s,%s,group,%s", rs[0].tenant, rs[0].kind, rs[0].policy, rs[0].group)
	bad := fmt.Sprintf("%s,deviceConfigurations,%s,group,not-a-guid", rs[0].tenant, rs[0].policy)
	rc := s.submit("?skip_invalid=true&name=pilot.csv", "text/csv", csvOf(rs, dup, bad))
	if rc.Accepted != 30 || rc.Duplicates != 1 || len(rc.Rejected) != 1 {
		t.Fatalf("receipt %+v", rc)
	}
	if r := rc.Rejected[0]; r.Index != 33 || r.Column != contract.ColGroup || !strings.Contains(r.Reason, "GUID") {
		t.Errorf("rejection %+v, want row 33, column group_id, a reason about the GUID", r)
	}

	v := s.waitFinished(rc.ImportID)
	want := map[contract.Status]int{}
	for _, st := range contract.Statuses() {
		want[st] = 0
	}
	want[contract.StatusCreated], want[contract.StatusDuplicate], want[contract.StatusInvalid] = 30, 1, 1
	if v.ID != rc.ImportID || v.Name != "pilot.csv" || v.Source != "http csv" || v.Rows != 32 || v.Done != 32 || v.State != "done" || v.Missing != 0 ||
		fmt.Sprint(v.Counts) != fmt.Sprint(want) || len(v.Tenants) != 0 {
		t.Errorf("view %+v\nwant counts %v", v, want)
	}
	if v.FinishedAt == nil || v.FinishedAt.Before(v.CreatedAt) || v.ETASeconds == nil || *v.ETASeconds != 0 || v.RateRowsPerSecond <= 0 {
		t.Errorf("finished view: finished_at %v, created_at %v, eta %v, rate %v", v.FinishedAt, v.CreatedAt, v.ETASeconds, v.RateRowsPerSecond)
	}
	s.assigned(rs)

	imp, err := s.store.Import(context.Background(), rc.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		format, accept, query, ctype string
	}{
		{imports.FormatCSV, "", "", "text/csv; charset=utf-8"},
		{imports.FormatCSV, "text/html, text/csv;q=0.9, application/json;q=0.5", "", "text/csv; charset=utf-8"},
		{imports.FormatJSON, "application/json", "", "application/json"},
		{imports.FormatJSON, "text/csv", "?format=json", "application/json"},
	} {
		var cli bytes.Buffer
		if _, err := s.svc.Importer().Report(context.Background(), imp, &cli, tt.format); err != nil {
			t.Fatal(err)
		}
		code, h, data := s.request(http.MethodGet, "/v1/imports/"+rc.ImportID+"/report"+tt.query, "", nil, "Accept", tt.accept)
		if code != http.StatusOK || h.Get("Content-Type") != tt.ctype || !bytes.Equal(data, cli.Bytes()) {
			t.Errorf("report (Accept %q, %q): %d %s, want the %s report:\n%s\ngot:\n%s", tt.accept, tt.query, code, h.Get("Content-Type"), tt.format, cli.Bytes(), data)
		}
		wantDisp := ""
		if tt.format == imports.FormatCSV {
			wantDisp = `attachment; filename="` + rc.ImportID + `.report.csv"`
		}
		if got := h.Get("Content-Disposition"); got != wantDisp {
			t.Errorf("report %s: Content-Disposition %q, want %q", tt.format, got, wantDisp)
		}
	}

	code, _, data := s.request(http.MethodGet, "/v1/imports/"+rc.ImportID+"/report?status=invalid,duplicate", "", nil)
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if code != http.StatusOK || err != nil || len(recs) != 3 || !slices.Equal(recs[0], contract.ReportColumns()) ||
		recs[1][0] != "32" || recs[1][6] != "duplicate" || recs[2][0] != "33" || recs[2][6] != "invalid" {
		t.Errorf("report of invalid and duplicate rows: %d %q, %v", code, recs, err)
	}
	code, _, data = s.request(http.MethodGet, "/v1/imports/"+rc.ImportID+"/report?status=failed", "", nil, "Accept", "application/json")
	if code != http.StatusOK || strings.TrimSpace(string(data)) != "[]" {
		t.Errorf("report of failed rows: %d %s, want []", code, data)
	}

	second := s.submit("", "text/csv", csvOf(rows(2, 1, 2)))
	code, _, data = s.request(http.MethodGet, "/v1/imports", "", nil)
	var list contract.ImportList
	decode(t, data, &list)
	if code != http.StatusOK || len(list.Imports) != 2 || list.Imports[0].ID != second.ImportID || list.Imports[1].ID != rc.ImportID ||
		list.Imports[1].Counts[contract.StatusCreated] != 30 {
		t.Errorf("list: %d %s", code, data)
	}
	code, _, data = s.request(http.MethodGet, "/v1/imports?limit=1", "", nil)
	decode(t, data, &list)
	if code != http.StatusOK || len(list.Imports) != 1 || list.Imports[0].ID != second.ImportID {
		t.Errorf("list limit=1: %d %s", code, data)
	}
	s.waitFinished(second.ImportID)
}

// TestImportJSON: an import request (contract/request.schema.json) posted as JSON with an invalid element
// is refused whole (422, nothing recorded) with the element's index from
// 0, its column and its reason; with skip_invalid its valid elements are
// enqueued and created; one bare object is an import of one row.
func TestImportJSON(t *testing.T) {
	s := startStack(t)
	rs := rows(10, 1, 3)
	elem := func(r row) map[string]string {
		return map[string]string{"tenant_id": r.tenant, "kind": r.kind, "policy_id": r.policy, "target": "group", "group_id": r.group}
	}
	invalid := elem(rs[1])
	invalid["target"] = "everyone"
	msg, err := json.Marshal(map[string]any{"assignments": []map[string]string{elem(rs[0]), invalid, elem(rs[2])}})
	if err != nil {
		t.Fatal(err)
	}
	code, _, data := s.request(http.MethodPost, "/v1/imports", "application/json", msg)
	var refused contract.Receipt
	decode(t, data, &refused)
	if code != http.StatusUnprocessableEntity || refused.ImportID != "" || len(refused.Rejected) != 1 || refused.Error == "" {
		t.Fatalf("invalid message: %d %s", code, data)
	}
	if r := refused.Rejected[0]; r.Index != 1 || r.Column != contract.ColTarget || r.Reason == "" {
		t.Errorf("rejection %+v, want index 1, column target", r)
	}
	if imps, err := s.store.Imports(context.Background()); err != nil || len(imps) != 0 {
		t.Fatalf("a refused message recorded imports: %v, %v", imps, err)
	}

	rc := s.submit("?skip_invalid=true", "application/json; charset=utf-8", msg)
	if rc.Accepted != 2 || len(rc.Rejected) != 1 || rc.Rejected[0].Index != 1 {
		t.Fatalf("receipt %+v", rc)
	}
	v := s.waitFinished(rc.ImportID)
	if v.Source != "http json" || v.Counts[contract.StatusCreated] != 2 || v.Counts[contract.StatusInvalid] != 1 {
		t.Errorf("view %+v", v)
	}
	one, err := json.Marshal(elem(rs[1]))
	if err != nil {
		t.Fatal(err)
	}
	rc = s.submit("", "application/json", one)
	if v := s.waitFinished(rc.ImportID); rc.Accepted != 1 || v.Counts[contract.StatusCreated] != 1 {
		t.Errorf("one object: receipt %+v, view %+v", rc, v)
	}
	s.assigned(rs)

	// A request_id makes the request idempotent: sent again, it is the
	// same import; the same id with other content is refused (409).
	keyed := func(r row) []byte {
		b, err := json.Marshal(map[string]any{"request_id": "http-1", "assignments": []map[string]string{elem(r)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	more := rows(11, 1, 2)
	first := s.submit("", "application/json", keyed(more[0]))
	again := s.submit("", "application/json", keyed(more[0]))
	if first.RequestID != "http-1" || again.ImportID != first.ImportID {
		t.Errorf("the same request sent again: %+v then %+v, want one import", first, again)
	}
	code, _, data = s.request(http.MethodPost, "/v1/imports", "application/json", keyed(more[1]))
	if code != http.StatusConflict || !strings.Contains(string(data), codeKeyReused) {
		t.Errorf("request_id reused for other content: %d %s, want 409 %s", code, data, codeKeyReused)
	}
	s.waitFinished(first.ImportID)
	s.assigned(more[:1])
}

// TestPlan: plan=true answers the plan of a CSV, each row decided against
// Graph (create, exists, invalid), and writes nothing: no import, no
// Graph write. A JSON body cannot be planned (415); a server without a
// Graph client says so (501).
func TestPlan(t *testing.T) {
	s := startStack(t)
	rs := rows(20, 1, 3)
	if err := s.sim.Seed(rs[1].tenant, rs[1].kind, rs[1].policy, graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: rs[1].group}}); err != nil {
		t.Fatal(err)
	}
	bad := fmt.Sprintf("%s,deviceConfigurations,%s,group,nope", rs[0].tenant, rs[0].policy)
	code, _, data := s.request(http.MethodPost, "/v1/imports?plan=true&name=p.csv", "text/csv", csvOf(rs, bad))
	if code != http.StatusOK {
		t.Fatalf("plan: %d %s", code, data)
	}
	var p struct {
		Format  string `json:"format"`
		Source  string `json:"source"`
		Entries []struct {
			Row      int    `json:"row"`
			Decision string `json:"decision"`
		} `json:"entries"`
		SHA256 string `json:"plan_sha256"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.Entries {
		got = append(got, strconv.Itoa(e.Row)+":"+e.Decision)
	}
	if want := []string{"2:create", "3:exists", "4:create", "5:invalid"}; p.Format != "bulkassign-plan/1" || p.Source != "p.csv" || p.SHA256 == "" || !slices.Equal(got, want) {
		t.Errorf("plan %s %s %v, want entries %v", p.Format, p.Source, got, want)
	}
	if st := s.sim.Stats(); st.Writes != 0 {
		t.Errorf("plan wrote to Graph: %+v", st)
	}
	if imps, err := s.store.Imports(context.Background()); err != nil || len(imps) != 0 {
		t.Errorf("plan recorded imports: %v, %v", imps, err)
	}
	code, _, data = s.request(http.MethodPost, "/v1/imports?plan=true", "application/json", []byte(`{}`))
	if e := apiError(t, data); code != http.StatusUnsupportedMediaType || e.Code != codeUnsupportedMediaType {
		t.Errorf("plan of JSON: %d %+v", code, e)
	}

	noGraph, err := New(Config{Importer: s.svc.Importer(), Store: s.store})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, noGraph)
	code, _, data = send(t, http.MethodPost, srv+"/v1/imports?plan=true", csvOf(rs), "Content-Type", "text/csv")
	if e := apiError(t, data); code != http.StatusNotImplemented || e.Code != codeNotImplemented {
		t.Errorf("plan without Graph: %d %+v", code, e)
	}
}

// TestRetryAndUndo: an import whose policy is missing in Graph ends with
// failed rows; retry enqueues exactly them as a new import, which creates
// them once the policy is there; a second retry has nothing to retry
// (409). Undo of the retry removes exactly what it created; undo of the
// undo has nothing to undo (409).
func TestRetryAndUndo(t *testing.T) {
	s := startStack(t)
	good, missing := rows(30, 1, 4), rows(40, 1, 3)
	s.sim.SetMissingPolicy(missing[0].policy)
	rc := s.submit("", "text/csv", csvOf(append(slices.Clone(good), missing...)))
	v := s.waitFinished(rc.ImportID)
	if v.Counts[contract.StatusCreated] != 4 || v.Counts[contract.StatusFailed] != 3 {
		t.Fatalf("first import: %+v", v.Counts)
	}

	s.sim.Reset() // the policy exists now (and Graph forgot the rest)
	code, h, data := s.request(http.MethodPost, "/v1/imports/"+rc.ImportID+"/retry", "", nil)
	var retry contract.Receipt
	decode(t, data, &retry)
	if code != http.StatusAccepted || retry.ImportID == "" || retry.ImportID == rc.ImportID || retry.Accepted != 3 || h.Get("Location") != "/v1/imports/"+retry.ImportID {
		t.Fatalf("retry: %d %s", code, data)
	}
	rv := s.waitFinished(retry.ImportID)
	if rv.Rows != 3 || rv.Counts[contract.StatusCreated] != 3 || rv.Name != "retry of "+rc.ImportID {
		t.Errorf("retry import: %+v", rv)
	}
	s.assigned(missing)
	code, _, data = s.request(http.MethodPost, "/v1/imports/"+retry.ImportID+"/retry", "", nil)
	if e := apiError(t, data); code != http.StatusConflict || e.Code != codeNothingToRetry {
		t.Errorf("retry without failed rows: %d %+v", code, e)
	}

	code, _, data = s.request(http.MethodPost, "/v1/imports/"+retry.ImportID+"/undo", "", nil)
	var undo contract.Receipt
	decode(t, data, &undo)
	if code != http.StatusAccepted || undo.Accepted != 3 {
		t.Fatalf("undo: %d %s", code, data)
	}
	uv := s.waitFinished(undo.ImportID)
	if uv.Counts[contract.StatusRemoved] != 3 || uv.Done != 3 {
		t.Errorf("undo import: %+v", uv)
	}
	for _, r := range missing {
		if got := s.sim.Assignments(r.tenant, r.kind, r.policy); len(got) != 0 {
			t.Errorf("after undo, policy %s still has %d assignments", r.policy, len(got))
		}
	}
	code, _, data = s.request(http.MethodPost, "/v1/imports/"+undo.ImportID+"/undo", "", nil)
	if e := apiError(t, data); code != http.StatusConflict || e.Code != codeNothingToUndo {
		t.Errorf("undo of an undo: %d %+v", code, e)
	}
}

// TestStopClosesAPI: once the service stopped, the API port answers
// nothing, and Run returned nil.
func TestStopClosesAPI(t *testing.T) {
	s := startStack(t)
	s.shutdown()
	if code, _, _ := s.request(http.MethodGet, "/v1/imports", "", nil); code != 0 {
		t.Errorf("after the stop the API answered %d", code)
	}
}

// TestImportCSVNames: a CSV posted to a server with a Graph client may
// give names, resolved in each row's tenant as "bulkassign run" resolves
// them: two tenants with the same names land on their own ids; an unknown
// name is a rejected row (422), nothing enqueued.
func TestImportCSVNames(t *testing.T) {
	s := startStack(t)
	tenants := []string{"contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"}
	var want []row
	csv := "tenant_id,kind,policy_name,target,group_name\n"
	for _, tn := range tenants {
		want = append(want, row{tenant: tn, kind: "deviceConfigurations",
			policy: namestest.SeedPolicy(t, s.sim, tn, "deviceConfigurations", "Baseline"), group: s.sim.SeedGroup(tn, "Pilot")})
		csv += tn + ",deviceConfigurations,Baseline,group,Pilot\n"
	}
	code, _, data := s.request(http.MethodPost, "/v1/imports", "text/csv", []byte(csv+tenants[0]+",deviceConfigurations,Baseline,group,Nobody\n"))
	var refused contract.Receipt
	decode(t, data, &refused)
	if code != http.StatusUnprocessableEntity || len(refused.Rejected) != 1 || refused.Rejected[0].Index != 4 ||
		refused.Rejected[0].Column != contract.ColGroupName || !strings.Contains(refused.Rejected[0].Reason, "Nobody") {
		t.Fatalf("unknown name: %d %s", code, data)
	}
	rc := s.submit("", "text/csv", []byte(csv))
	if v := s.waitFinished(rc.ImportID); rc.Accepted != 2 || v.Counts[contract.StatusCreated] != 2 {
		t.Fatalf("named rows: receipt %+v, view %+v", rc, v)
	}
	s.assigned(want)
}
