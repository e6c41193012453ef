package graphsim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestResetAfterApplies(t *testing.T) {
	t.Parallel()
	s := start(t, Config{ResetAfterRate: 1})
	c := newClient(t, s, tenA)
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	if a, err := c.try("POST", path, groupBody(dcType, grp1)); err == nil {
		t.Fatalf("reset-after answered %d %s; want a transport error", a.status, a.body)
	} else {
		t.Logf("client saw: %v", err)
	}
	if got := s.Assignments(tenA, "deviceConfigurations", pol1); len(got) != 1 {
		t.Fatalf("write not applied: %+v", got)
	}
	if st := s.Stats(); st.ResetsAfter != 1 || st.CreatesApplied != 1 || s.StatusCounts()[0] != 1 {
		t.Errorf("stats %+v statuses %v", st, s.StatusCounts())
	}
	// Reads are never faulted; the retry of the write is a duplicate.
	mustStatus(t, c.do("GET", path, nil), http.StatusOK)
	if err := s.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp1)), http.StatusConflict)
}

func TestResetBeforeDoesNotApply(t *testing.T) {
	t.Parallel()
	s := start(t, Config{ResetBeforeRate: 1})
	c := newClient(t, s, tenA)
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	for _, body := range []any{
		groupBody(dcType, grp1),
		map[string]any{"assignments": []any{groupBody(dcType, grp2)}},
	} {
		p := path
		if _, ok := body.(map[string]any)["assignments"]; ok {
			p = strings.TrimSuffix(path, "/assignments") + "/assign"
		}
		if a, err := c.try("POST", p, body); err == nil {
			t.Fatalf("reset-before answered %d %s", a.status, a.body)
		}
	}
	if got := s.AllAssignments(); len(got) != 0 {
		t.Fatalf("applied: %v", got)
	}
	if st := s.Stats(); st.ResetsBefore != 2 || s.StatusCounts()[0] != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestServerErrorsDoNotApply(t *testing.T) {
	t.Parallel()
	s := start(t, Config{FaultRate: 1, Seed: 3})
	c := newClient(t, s, tenA)
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	seen := map[int]int{}
	for range 20 {
		a := c.do("POST", path, groupBody(dcType, uuid.NewString()))
		seen[a.status]++
		want := map[int]string{503: CodeServiceUnavail, 504: CodeGatewayTimeout}[a.status]
		if want == "" || a.errorCode() != want {
			t.Fatalf("got %d %s", a.status, a.body)
		}
	}
	if seen[503] == 0 || seen[504] == 0 {
		t.Errorf("statuses %v; want both 503 and 504", seen)
	}
	if s.CreatesApplied() != 0 || s.Stats().Faults != 20 {
		t.Errorf("creates %d stats %+v", s.CreatesApplied(), s.Stats())
	}
}

func TestRandomThrottle(t *testing.T) {
	t.Parallel()
	s := start(t, Config{ThrottleRate: 1, RetryAfterMin: 2500 * time.Millisecond, RetryAfterMax: 2500 * time.Millisecond, RetryAfter: RetryAfterFractional})
	c := newClient(t, s, tenA)
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	a := c.do("POST", path, groupBody(dcType, grp1))
	mustStatus(t, a, http.StatusTooManyRequests)
	if h := a.header.Get("Retry-After"); h != "2.500" {
		t.Errorf("Retry-After %q, want 2.500", h)
	}
	if s.CreatesApplied() != 0 || s.MaxWritesInWindow()[tenA] != 0 {
		t.Errorf("a random 429 applied or consumed budget: %d %v", s.CreatesApplied(), s.MaxWritesInWindow())
	}
	// Faults change at run time; the earlier Retry-After still holds.
	if err := s.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp1)), http.StatusTooManyRequests)
	if s.EarlyWrites()[tenA] != 1 {
		t.Errorf("EarlyWrites %v", s.EarlyWrites())
	}
	// Range: with min 1s and max 2s, every Retry-After is within.
	s2 := start(t, Config{ThrottleRate: 1, RetryAfterMin: time.Second, RetryAfterMax: 2 * time.Second, RetryAfter: RetryAfterFractional})
	c2 := newClient(t, s2, "")
	for i := range 10 {
		c2.tenant = fmt.Sprintf("t%d.example.com", i) // fresh tenant: no early write
		a := c2.do("POST", path, groupBody(dcType, grp1))
		var f float64
		if _, err := fmt.Sscanf(a.header.Get("Retry-After"), "%g", &f); err != nil || f < 1 || f > 2 {
			t.Errorf("Retry-After %q outside [1, 2]", a.header.Get("Retry-After"))
		}
	}
}

func TestSetFaultsRejectsInvalid(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	for _, f := range []Faults{{FaultRate: -0.1}, {ThrottleRate: 1.5}, {FaultRate: 0.6, ResetAfterRate: 0.6}, {Latency: -time.Second}} {
		if err := s.SetFaults(f); err == nil {
			t.Errorf("SetFaults(%+v) accepted", f)
		}
	}
	if err := (Config{NotRouted: []string{"nope"}}).Validate(); err == nil {
		t.Error("unknown NotRouted kind accepted")
	}
	if err := (Config{RetryAfter: 9}).Validate(); err == nil {
		t.Error("unknown RetryAfter mode accepted")
	}
}

func TestFaultsAreDeterministic(t *testing.T) {
	t.Parallel()
	run := func(seed int64) []int {
		s := start(t, Config{FaultRate: 0.5, Seed: seed})
		c := newClient(t, s, tenA)
		var out []int
		for range 30 {
			out = append(out, c.do("POST", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", groupBody(dcType, uuid.NewString())).status)
		}
		return out
	}
	a, b := run(42), run(42)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	ok := 0
	for _, st := range a {
		if st == http.StatusCreated {
			ok++
		}
	}
	if ok == 0 || ok == len(a) {
		t.Errorf("FaultRate 0.5 gave %d successes of %d", ok, len(a))
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Latency: 40 * time.Millisecond, Jitter: 20 * time.Millisecond})
	c := newClient(t, s, tenA)
	start := time.Now()
	mustStatus(t, c.do("GET", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", nil), http.StatusOK)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 40ms", d)
	}
	// A client that gives up ends the wait on the server side too (goleak
	// in TestMain checks that no handler is left behind).
	if err := s.SetFaults(Faults{Latency: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", nil)
	req.Header.Set("Authorization", "Bearer x")
	if resp, err := c.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("an hour of latency answered")
	}
}

func TestConcurrentTenants(t *testing.T) {
	t.Parallel()
	s := start(t, Config{AppWriteLimit: 100000, TenantWriteLimit: 100000, AppRequestLimit: 100000, TenantRequestLimit: 100000})
	const tenants, workers, each = 4, 4, 50
	start := time.Now()
	var wg sync.WaitGroup
	for ti := range tenants {
		for range workers {
			c := newClient(t, s, fmt.Sprintf("t%d.example.com", ti))
			wg.Go(func() {
				for range each {
					a, err := c.try("POST", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", groupBody(dcType, uuid.NewString()))
					if err != nil || a.status != http.StatusCreated {
						t.Errorf("create: %v %d %s", err, a.status, a.body)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	total := tenants * workers * each
	t.Logf("%d creates in %v (%.0f/s)", total, time.Since(start), float64(total)/time.Since(start).Seconds())
	if s.CreatesApplied() != total || s.StatusCounts()[201] != total {
		t.Errorf("creates %d statuses %v", s.CreatesApplied(), s.StatusCounts())
	}
	for ti := range tenants {
		tenant := fmt.Sprintf("t%d.example.com", ti)
		if n := len(s.Assignments(tenant, "deviceConfigurations", pol1)); n != workers*each {
			t.Errorf("%s: %d assignments", tenant, n)
		}
		if n := s.MaxWritesInWindow()[tenant]; n != workers*each {
			t.Errorf("%s: max in window %d", tenant, n)
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	s := start(b, Config{AppWriteLimit: 1 << 30, TenantWriteLimit: 1 << 30, AppRequestLimit: 1 << 30, TenantRequestLimit: 1 << 30})
	b.RunParallel(func(pb *testing.PB) {
		c := newClient(b, s, tenA)
		for pb.Next() {
			if a, err := c.try("POST", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", groupBody(dcType, uuid.NewString())); err != nil || a.status != 201 {
				b.Errorf("create: %v %d", err, a.status)
				return
			}
		}
	})
}

func TestHTTP2ResetsStream(t *testing.T) {
	t.Parallel()
	s := startTLS(t, Config{})
	hc := s.Client()
	c := &tc{t: t, base: s.URL(), hc: hc, token: "x", tenant: tenA}
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	req, _ := http.NewRequest("GET", s.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	if err := s.SetFaults(Faults{ResetAfterRate: 1}); err != nil {
		t.Fatal(err)
	}
	if a, err := c.try("POST", path, groupBody(dcType, grp1)); err == nil {
		t.Fatalf("reset-after over HTTP/2 answered %d", a.status)
	} else {
		t.Logf("client saw: %v", err)
	}
	if len(s.Assignments(tenA, "deviceConfigurations", pol1)) != 1 {
		t.Error("reset-after over HTTP/2 did not apply")
	}
	// The connection survives a stream reset: the next request works.
	if err := s.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp2)), http.StatusCreated)
}
