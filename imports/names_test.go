package imports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/internal/namestest"
	"github.com/bulkassign/bulkassign/internal/storetest"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/resolve"
)

// namedIDs are one tenant's objects of the same names.
type namedIDs struct{ group, filter, policy string }

// namesFixture seeds three tenants whose group "Pilot", filter "Corp" and
// deviceConfigurations policy "Baseline" have the same names and other
// ids; tenant A also has two groups named "Twins".
func namesFixture(t *testing.T, s *graphtest.Server) (map[string]namedIDs, []string) {
	t.Helper()
	out := map[string]namedIDs{}
	for _, tn := range []string{tenantA, tenantB, "northwind.onmicrosoft.com"} {
		out[tn] = namedIDs{
			group:  s.SeedGroup(tn, "Pilot"),
			filter: namestest.SeedFilter(t, s, tn, "Corp", "windows10AndLater"),
			policy: namestest.SeedPolicy(t, s, tn, "deviceConfigurations", "Baseline"),
		}
	}
	twins := []string{s.SeedGroup(tenantA, "Twins"), s.SeedGroup(tenantA, "Twins")}
	return out, twins
}

// namesCSV is a file of named rows over the fixture's tenants: each
// tenant's named row (rows 2-4), tenant A's row again by ids (5: a
// duplicate once resolved), an ambiguous and an unknown group (6, 7), a
// removal by name (8) and row 2 again as written (9: a duplicate before
// resolution).
func namesCSV(ids map[string]namedIDs) []byte {
	var b strings.Builder
	b.WriteString("tenant_id,kind,policy_id,policy_name,target,group_id,group_name,filter_id,filter_name,filter_type,action\n")
	for _, tn := range []string{tenantA, tenantB, "northwind.onmicrosoft.com"} {
		fmt.Fprintf(&b, "%s,deviceConfigurations,,Baseline,group,,Pilot,,Corp,include,\n", tn)
	}
	a := ids[tenantA]
	fmt.Fprintf(&b, "%s,deviceConfigurations,%s,,group,%s,,%s,,include,\n", tenantA, a.policy, a.group, a.filter)
	fmt.Fprintf(&b, "%s,deviceConfigurations,,Baseline,group,,Twins,,,,\n", tenantA)
	fmt.Fprintf(&b, "%s,deviceConfigurations,,Baseline,group,,Nobody,,,,\n", tenantA)
	fmt.Fprintf(&b, "%s,deviceConfigurations,,Baseline,group,,Pilot,,,,remove\n", tenantB)
	fmt.Fprintf(&b, "%s,deviceConfigurations,,Baseline,group,,Pilot,,Corp,include,\n", tenantA)
	return []byte(b.String())
}

func resolvedCSV(t *testing.T, url string, data []byte, opts ingest.Options) *Resolved {
	t.Helper()
	res, err := resolve.New(resolve.Config{Lookup: namestest.Client(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	opts.AllowUnresolved = true
	r, err := ResolveNames(csvOf(data, opts), NamesConfig{Names: res, Ingest: opts})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolveNames: every named row is enqueued with its own tenant's
// ids, each distinct lookup made once for the whole import (scan and
// enqueue); a row naming by id what another names is its duplicate; an
// ambiguous and an unknown name are invalid rows listing the candidates;
// the report's results carry the ids beside the names.
func TestResolveNames(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	ids, twins := namesFixture(t, sim)
	b := setup(t, jobs.Config{}, Config{})
	data := namesCSV(ids)
	before := sim.Stats().Requests

	// Without --skip-invalid the file is refused: nothing recorded, the
	// summary says which names failed and why.
	refused := resolvedCSV(t, sim.URL(), data, ingest.Options{})
	_, err := b.im.Create(b.ctx, Spec{}, refused)
	var se *SourceError
	if !errors.As(err, &se) || !errors.Is(err, ingest.ErrInvalidRows) {
		t.Fatalf("Create = %v, want a *SourceError wrapping ErrInvalidRows", err)
	}
	sum := refused.Summary()
	if sum.Rows != 8 || sum.Invalid != 2 || sum.Duplicates != 2 || sum.Valid != 4 || sum.ErrorCount != 2 || len(sum.Errors) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if e := sum.Errors[0]; e.Row != 6 || e.Column != contract.ColGroupName || !strings.Contains(e.Reason, `2 groups named "Twins"`) ||
		!strings.Contains(e.Reason, twins[0]) || !strings.Contains(e.Reason, twins[1]) {
		t.Errorf("ambiguous name: %+v (twins %v)", e, twins)
	}
	if e := sum.Errors[1]; e.Row != 7 || e.Column != contract.ColGroupName || !strings.Contains(e.Reason, `no group named "Nobody"`) {
		t.Errorf("unknown name: %+v", e)
	}
	if imps, err := b.store.Imports(b.ctx); err != nil || len(imps) != 0 {
		t.Fatalf("imports recorded: %v, %v", imps, err)
	}
	if q := b.queuedRows(""); len(q) != 0 {
		t.Fatal("jobs enqueued")
	}

	src := resolvedCSV(t, sim.URL(), data, ingest.Options{SkipInvalid: true})
	lookups := sim.Stats().Requests
	imp, err := b.im.Create(b.ctx, Spec{}, src)
	if err != nil {
		t.Fatal(err)
	}
	// 3 tenants × (policies, Pilot, filters) + Twins + Nobody, once each.
	if n := sim.Stats().Requests - lookups; n != 11 {
		t.Errorf("%d Graph requests for the import, want 11 (one per distinct lookup)", n)
	}
	if n := lookups - before; n != 11 {
		t.Errorf("%d Graph requests for the refused file, want 11", n)
	}
	if imp.Rows != 8 || imp.Jobs != 4 || imp.Invalid != 2 || imp.Duplicates != 2 ||
		!slices.Equal(imp.Tenants, []string{tenantA, tenantB, "northwind.onmicrosoft.com"}) {
		t.Fatalf("import %+v", imp)
	}
	queued := map[int]jobs.Job{}
	for _, j := range storetest.QueuedJobs(t, b.store) {
		queued[j.Row] = j
	}
	if len(queued) != 4 {
		t.Fatalf("queued rows %v, want 2, 3, 4, 8", slices.Sorted(func(yield func(int) bool) {
			for r := range queued {
				if !yield(r) {
					return
				}
			}
		}))
	}
	for row, tn := range map[int]string{2: tenantA, 3: tenantB, 4: "northwind.onmicrosoft.com"} {
		j, want := queued[row], ids[tn]
		if j.Tenant != tn || j.PolicyID != want.policy || j.GroupID != want.group || j.FilterID != want.filter ||
			j.PolicyName != "Baseline" || j.GroupName != "Pilot" || j.FilterName != "Corp" || j.Validate() != nil {
			t.Errorf("row %d: %+v, want %s's ids %+v", row, j, tn, want)
		}
	}
	if j := queued[8]; j.Action != jobs.ActionRemove || j.GroupID != ids[tenantB].group || j.PolicyID != ids[tenantB].policy || j.Validate() != nil {
		t.Errorf("removal row 8: %+v", j)
	}
	results, err := b.store.Results(b.ctx, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]jobs.Result{}
	for _, r := range results {
		got[r.Row] = r
	}
	if r := got[5]; r.Status != jobs.StatusDuplicate || r.DuplicateOf != 2 {
		t.Errorf("row 5 (row 2 by ids): %+v", r)
	}
	if r := got[9]; r.Status != jobs.StatusDuplicate || r.DuplicateOf != 2 || r.GroupID != ids[tenantA].group || r.PolicyID != ids[tenantA].policy ||
		r.Job == nil || r.Job.GroupName != "Pilot" {
		t.Errorf("row 9 (row 2 as written): %+v", r)
	}
	if r := got[6]; r.Status != jobs.StatusInvalid || !strings.HasPrefix(r.ErrorMessage, `column group_name: 2 groups named "Twins"`) ||
		r.Job == nil || r.Job.GroupName != "Twins" {
		t.Errorf("row 6: %+v", r)
	}
	if r := got[7]; r.Status != jobs.StatusInvalid || !strings.Contains(r.ErrorMessage, `no group named "Nobody"`) {
		t.Errorf("row 7: %+v", r)
	}
}

// TestResolveNamesLookupRefused: a group lookup Graph refuses (403) makes
// the rows that need it failed, with the permission it needs named and
// bulkassign's forbidden code; they are not retried by FailedRows (no ids
// to write), and the other rows are enqueued.
func TestResolveNamesLookupRefused(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	ids, _ := namesFixture(t, sim)
	b := setup(t, jobs.Config{}, Config{})
	a := ids[tenantA]
	data := fmt.Appendf(nil, "tenant_id,kind,policy_name,target,group_id,group_name\n"+
		"%s,deviceConfigurations,Baseline,group,,Pilot\n%s,deviceConfigurations,Baseline,group,%s,\n", tenantA, tenantA, a.group)
	src := resolvedCSV(t, namestest.ForbidGroups(t, sim), data, ingest.Options{})
	imp, err := b.im.Create(b.ctx, Spec{}, src)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Jobs != 1 || src.Summary().Failed != 1 {
		t.Fatalf("import %+v, summary %+v", imp, src.Summary())
	}
	if q := storetest.QueuedJobs(t, b.store); len(q) != 1 || q[0].Row != 3 || q[0].PolicyID != a.policy {
		t.Fatalf("queued %+v, want row 3 with its policy resolved", q)
	}
	results, err := b.store.Results(b.ctx, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Row != 2 || results[0].Status != jobs.StatusFailed || results[0].ErrorCode != contract.CodeForbidden ||
		results[0].HTTPStatus != 403 || !strings.Contains(results[0].ErrorMessage, "Group.Read.All") {
		t.Fatalf("results %+v", results)
	}
	retry, err := b.im.FailedRows(b.ctx, imp)
	if err != nil || retry.Len() != 0 {
		t.Errorf("FailedRows: %d rows, %v; want none (the row has no ids)", retry.Len(), err)
	}
	if _, err := ResolveNames(src, NamesConfig{}); err == nil {
		t.Error("ResolveNames without Names accepted")
	}
	if _, err := ResolveNames(src, NamesConfig{Names: &resolve.Resolver{}, Lookups: -1}); err == nil {
		t.Error("negative Lookups accepted")
	}
}

// TestResolveNamesWithoutNames: a file that gives no name goes through
// as it is: read once to scan and once to enqueue, no Graph request, the
// same jobs.
func TestResolveNamesWithoutNames(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	b := setup(t, jobs.Config{}, Config{})
	res, err := resolve.New(resolve.Config{Lookup: namestest.Client(t, sim.URL())})
	if err != nil {
		t.Fatal(err)
	}
	data := csvRows(10)
	opens := 0
	opts := ingest.Options{AllowUnresolved: true}
	src, err := ResolveNames(NewCSV(func() (io.ReadCloser, error) {
		opens++
		return io.NopCloser(bytes.NewReader(data)), nil
	}, opts), NamesConfig{Names: res, Ingest: opts})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := b.im.Create(b.ctx, Spec{}, src)
	if err != nil {
		t.Fatal(err)
	}
	if opens != 2 || sim.Stats().Requests != 0 || imp.Jobs != 10 || src.Summary().Valid != 10 {
		t.Errorf("%d reads of the file, %d Graph requests, import %+v; want 2 reads, none, 10 jobs", opens, sim.Stats().Requests, imp)
	}
	b.assertQueuedOnce(imp.ID, rowRange(2, 11))
}

// TestSubmitResolvesNames: a request (queue or HTTP JSON) whose
// assignments give names is resolved per tenant by an importer with
// Config.Names, as a CSV is: each named row lands on its own tenant's
// ids, and an ambiguous or unknown name is a rejection listing the
// candidates, nothing enqueued. Without Config.Names the named rows are
// rejected, not guessed.
func TestSubmitResolvesNames(t *testing.T) {
	sim := graphtest.Start(t, graphtest.Config{})
	ids, twins := namesFixture(t, sim)
	client := namestest.Client(t, sim.URL())
	b := setup(t, jobs.Config{}, Config{Names: func() (Names, error) { return resolve.New(resolve.Config{Lookup: client}) }})
	req := func(body string) *Request {
		t.Helper()
		r, err := ParseRequest([]byte(body), RequestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	named := func(tn, group string) string {
		return fmt.Sprintf(`{"tenant_id": %q, "kind": "deviceConfigurations", "policy_name": "Baseline", "target": "group", "group_name": %q}`, tn, group)
	}

	rc, err := b.im.Submit(b.ctx, req(`{"request_id": "names-bad", "assignments": [`+named(tenantA, "Pilot")+`, `+named(tenantA, "Twins")+`]}`), "test", "")
	if !Refused(err) || rc.ImportID != "" || len(rc.Rejected) != 1 {
		t.Fatalf("ambiguous name: receipt %+v, %v; want refused with one rejection", rc, err)
	}
	if r := rc.Rejected[0]; r.Index != 1 || r.Column != contract.ColGroupName || !strings.Contains(r.Reason, twins[0]) || !strings.Contains(r.Reason, twins[1]) {
		t.Errorf("rejection %+v, want index 1, group_name, both candidates %v", r, twins)
	}
	if q := b.queuedRows(""); len(q) != 0 {
		t.Fatal("jobs enqueued for a refused request")
	}

	rc, err = b.im.Submit(b.ctx, req(`{"request_id": "names", "assignments": [`+named(tenantA, "Pilot")+`, `+named(tenantB, "Pilot")+`]}`), "test", "")
	if err != nil || rc.Accepted != 2 {
		t.Fatalf("named request: receipt %+v, %v", rc, err)
	}
	queued := storetest.QueuedJobs(t, b.store)
	if len(queued) != 2 {
		t.Fatalf("%d jobs queued, want 2", len(queued))
	}
	for _, j := range queued {
		want := ids[j.Tenant]
		if j.PolicyID != want.policy || j.GroupID != want.group || j.GroupName != "Pilot" || j.Validate() != nil {
			t.Errorf("row %d of %s: %+v, want its own ids %+v", j.Row, j.Tenant, j, want)
		}
	}

	plain, err := New(b.store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err = plain.Submit(b.ctx, req(`{"assignments": [`+named(tenantA, "Pilot")+`]}`), "test", "")
	if !Refused(err) || len(rc.Rejected) != 1 || rc.Rejected[0].Column == "" {
		t.Errorf("names without a resolver: receipt %+v, %v; want the row rejected", rc, err)
	}
}
