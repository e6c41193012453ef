package graphsim

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bulkassign/bulkassign/graph"
)

func TestRetryAfterFormat(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 250_000_000, time.UTC)
	tests := []struct {
		name      string
		mode      RetryAfterMode
		wait      time.Duration
		header    string
		untilWant time.Time
	}{
		{"seconds rounds up", RetryAfterSeconds, 1200 * time.Millisecond, "2", now.Add(2 * time.Second)},
		{"seconds exact", RetryAfterSeconds, 3 * time.Second, "3", now.Add(3 * time.Second)},
		{"seconds tiny", RetryAfterSeconds, time.Nanosecond, "1", now.Add(time.Second)},
		{"fractional", RetryAfterFractional, 2128 * time.Millisecond, "2.128", now.Add(2128 * time.Millisecond)},
		{"fractional rounds up", RetryAfterFractional, 2127*time.Millisecond + 1, "2.128", now.Add(2128 * time.Millisecond)},
		{"fractional below a second", RetryAfterFractional, 40 * time.Millisecond, "0.040", now.Add(40 * time.Millisecond)},
		{"date rounds up", RetryAfterDate, 1500 * time.Millisecond, "Fri, 02 Jan 2026 03:04:07 GMT", time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC)},
		{"absent", RetryAfterAbsent, time.Second, "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, until := retryAfter(tt.mode, now, tt.wait)
			if h != tt.header || !until.Equal(tt.untilWant) {
				t.Errorf("got %q until %v, want %q until %v", h, until, tt.header, tt.untilWant)
			}
			if tt.mode != RetryAfterAbsent && until.Before(now.Add(tt.wait)) {
				t.Errorf("deadline %v before the real wait ends", until)
			}
		})
	}
}

func TestMaxInWindow(t *testing.T) {
	t.Parallel()
	at := func(ms ...int) []time.Time {
		base := time.Unix(1000, 0)
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = base.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name string
		ts   []time.Time
		want int
	}{
		{"empty", nil, 0},
		{"one", at(5), 1},
		{"all inside", at(0, 100, 999), 3},
		{"edge is outside", at(0, 1000), 1},
		{"burst later", at(0, 900, 1500, 1600, 1700, 1899), 5},
		{"two bursts", at(0, 1, 2, 3000, 3001), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaxInWindow(tt.ts, time.Second); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// retryDeadline is when a client honouring the 429 answer may come back.
func retryDeadline(t testing.TB, mode RetryAfterMode, a answer, received time.Time, window time.Duration) time.Time {
	t.Helper()
	h := a.header.Get("Retry-After")
	switch mode {
	case RetryAfterSeconds, RetryAfterFractional:
		f, err := strconv.ParseFloat(h, 64)
		if err != nil {
			t.Fatalf("Retry-After %q: %v", h, err)
		}
		return received.Add(time.Duration(f * float64(time.Second)))
	case RetryAfterDate:
		d, err := http.ParseTime(h)
		if err != nil {
			t.Fatalf("Retry-After %q: %v", h, err)
		}
		return d
	default:
		return received.Add(window)
	}
}

func TestThrottleWindow(t *testing.T) {
	t.Parallel()
	forms := map[RetryAfterMode]*regexp.Regexp{
		RetryAfterSeconds:    regexp.MustCompile(`^1$`),
		RetryAfterFractional: regexp.MustCompile(`^[01]\.\d{3}$`),
		RetryAfterDate:       regexp.MustCompile(`^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$`),
		RetryAfterAbsent:     regexp.MustCompile(`^$`),
	}
	for mode, form := range forms {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{Window: time.Second, AppWriteLimit: 5, RetryAfter: mode})
			c := newClient(t, s, tenA)
			path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
			write := func() (answer, time.Time) {
				a := c.do("POST", path, groupBody(dcType, uuid.NewString()))
				return a, time.Now()
			}
			for range 5 {
				a, _ := write()
				mustStatus(t, a, http.StatusCreated)
			}
			sixth, _ := write()
			mustStatus(t, sixth, http.StatusTooManyRequests)
			if sixth.errorCode() != CodeTooManyRequests {
				t.Errorf("code %q", sixth.errorCode())
			}
			if h := sixth.header.Get("Retry-After"); !form.MatchString(h) {
				t.Errorf("Retry-After %q does not match %s", h, form)
			}
			if v := sixth.header.Values("Retry-After"); mode == RetryAfterAbsent && len(v) != 0 {
				t.Errorf("Retry-After present: %v", v)
			}
			if st := s.Stats(); st.Throttled != 1 || s.StatusCounts()[429] != 1 || st.Writes != 6 {
				t.Errorf("stats %+v, statuses %v", st, s.StatusCounts())
			}

			// A read is not a write: it passes during the Retry-After.
			mustStatus(t, c.do("GET", path, nil), http.StatusOK)

			// Writing again at once is early (when a Retry-After was given).
			seventh, received := write()
			mustStatus(t, seventh, http.StatusTooManyRequests)
			wantEarly := 1
			if mode == RetryAfterAbsent {
				wantEarly = 0
			}
			if got := s.EarlyWrites()[tenA]; got != wantEarly {
				t.Errorf("EarlyWrites %d, want %d", got, wantEarly)
			}

			// Honouring the last Retry-After is never early and succeeds.
			waitUntil(t, retryDeadline(t, mode, seventh, received, time.Second))
			a, _ := write()
			mustStatus(t, a, http.StatusCreated)
			if got := s.EarlyWrites()[tenA]; got != wantEarly {
				t.Errorf("EarlyWrites after honouring %d, want %d", got, wantEarly)
			}
			if got := s.MaxWritesInWindow()[tenA]; got != 5 {
				t.Errorf("MaxWritesInWindow %d, want 5", got)
			}
			if got := s.CreatesApplied(); got != 6 {
				t.Errorf("CreatesApplied %d, want 6", got)
			}
		})
	}
}

func TestThrottleTenantsAppsAndRequests(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Window: 10 * time.Second, AppWriteLimit: 3, TenantWriteLimit: 5, AppRequestLimit: 8, RetryAfter: RetryAfterAbsent})
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	client := func(tenant, app string) *tc {
		c := newClient(t, s, "")
		c.token = MintToken(tenant, app, "", time.Hour)
		return c
	}
	a1, a2, b1 := client(tenA, "app1"), client(tenA, "app2"), client(tenB, "app1")
	statuses := func(c *tc, n int) (out []int) {
		for range n {
			out = append(out, c.do("POST", path, groupBody(dcType, uuid.NewString())).status)
		}
		return out
	}
	if got := statuses(a1, 4); !slices.Equal(got, []int{201, 201, 201, 429}) {
		t.Errorf("app1: %v (per-app limit 3)", got)
	}
	if got := statuses(a2, 3); !slices.Equal(got, []int{201, 201, 429}) {
		t.Errorf("app2: %v (tenant limit 5)", got)
	}
	if got := statuses(b1, 3); !slices.Equal(got, []int{201, 201, 201}) {
		t.Errorf("tenant B: %v (independent)", got)
	}
	// app1 has made 4 requests; 4 more reads fit its request limit of 8,
	// the next is throttled although it is a read.
	for range 4 {
		mustStatus(t, a1.do("GET", path, nil), http.StatusOK)
	}
	mustStatus(t, a1.do("GET", path, nil), http.StatusTooManyRequests)
	if got := s.MaxWritesInWindow(); got[tenA] != 5 || got[tenB] != 3 {
		t.Errorf("MaxWritesInWindow %v", got)
	}
}

func TestDefaultLimitThrottlesWrite101(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := newClient(t, s, tenA)
	path := "/v1.0/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	for i := range 100 {
		a := c.do("POST", path, groupBody(dcType, uuid.NewString()))
		if a.status != http.StatusCreated {
			t.Fatalf("write %d: %d %s", i+1, a.status, a.body)
		}
	}
	a := c.do("POST", path, groupBody(dcType, uuid.NewString()))
	mustStatus(t, a, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 20 {
		t.Errorf("Retry-After %q", a.header.Get("Retry-After"))
	}
	if s.CreatesApplied() != 100 || s.MaxWritesInWindow()[tenA] != 100 {
		t.Errorf("creates %d, max in window %d", s.CreatesApplied(), s.MaxWritesInWindow()[tenA])
	}
}

func TestRetryAfterValueOverride(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Window: time.Minute, AppWriteLimit: 1, RetryAfterValue: 3 * time.Second})
	c := newClient(t, s, tenA)
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp1)), 201)
	if a := c.do("POST", path, groupBody(dcType, grp2)); a.header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q, want 3", a.header.Get("Retry-After"))
	}
	s.SetRetryAfter(RetryAfterFractional, 1500*time.Millisecond)
	s.Reset()
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp1)), 201)
	if a := c.do("POST", path, groupBody(dcType, grp2)); a.header.Get("Retry-After") != "1.500" {
		t.Errorf("Retry-After %q, want 1.500", a.header.Get("Retry-After"))
	}
}

func TestEarlyGrace(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Window: time.Minute, AppWriteLimit: 1, EarlyGrace: time.Hour})
	c := newClient(t, s, tenA)
	path := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp1)), 201)
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp2)), 429)
	// Within the grace: throttled again, not counted early.
	mustStatus(t, c.do("POST", path, groupBody(dcType, grp3)), 429)
	if got := s.EarlyWrites()[tenA]; got != 0 {
		t.Errorf("EarlyWrites %d within the grace", got)
	}
	if st := s.Stats(); st.Throttled != 2 || st.EarlyWrites != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestThrottlePerService: write windows and Retry-After deadlines are per
// Intune service. Scripts (the devices service) have twice the limit and
// are not throttled by a full device-configuration window, nor early
// while that service's Retry-After runs; SetWriteLimits changes one
// service's limits at run time; MaxWritesInWindow is per service and
// MaxWritesInWindowSince counts what came after a moment.
func TestThrottlePerService(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Window: time.Minute, AppWriteLimit: 2, TenantWriteLimit: 2})
	c := newClient(t, s, tenA)
	config := "/beta/deviceManagement/deviceConfigurations/" + pol1 + "/assignments"
	scripts := "/beta/deviceManagement/deviceManagementScripts/" + pol2 + "/assign"
	script := func(group string) map[string]any {
		return map[string]any{"deviceManagementScriptAssignments": []any{map[string]any{
			"@odata.type": "#microsoft.graph.deviceManagementScriptAssignment",
			"target":      map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group},
		}}}
	}
	for _, g := range []string{grp1, grp2} {
		mustStatus(t, c.do("POST", config, groupBody(dcType, g)), http.StatusCreated)
	}
	mustStatus(t, c.do("POST", config, groupBody(dcType, grp3)), http.StatusTooManyRequests)
	// The configuration service's window is full and its Retry-After
	// runs: scripts still write, up to their own limit (4).
	for i := range 4 {
		if a := c.do("POST", scripts, script(uuid.NewString())); a.status >= 300 {
			t.Fatalf("script write %d: %d %s", i, a.status, a.body)
		}
	}
	mustStatus(t, c.do("POST", scripts, script(grp1)), http.StatusTooManyRequests)
	if st := s.Stats(); st.EarlyWrites != 0 || st.Throttled != 2 {
		t.Errorf("stats %+v: want 2 throttled, none early (another service's Retry-After)", st)
	}
	if got := s.MaxWritesInWindow()[tenA]; got != 4 {
		t.Errorf("MaxWritesInWindow %d, want 4 (the devices service's writes)", got)
	}

	before := time.Now()
	if err := s.SetWriteLimits(graph.ServiceDeviceConfigV2, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWriteLimits(graph.ServiceDeviceConfigV2, 0, 1); err == nil {
		t.Error("SetWriteLimits accepted a limit of 0")
	}
	policies := "/beta/deviceManagement/configurationPolicies/" + pol1 + "/assignments"
	v2 := func(g string) map[string]any {
		return groupBody("#microsoft.graph.deviceManagementConfigurationPolicyAssignment", g)
	}
	mustStatus(t, c.do("POST", policies, v2(grp1)), http.StatusCreated)
	mustStatus(t, c.do("POST", policies, v2(grp2)), http.StatusTooManyRequests)
	if got := s.MaxWritesInWindowSince(before)[tenA]; got != 1 {
		t.Errorf("MaxWritesInWindowSince %d, want 1", got)
	}
	if got := s.MaxWritesInWindowSince(time.Now())[tenA]; got != 0 {
		t.Errorf("MaxWritesInWindowSince(now) %d, want 0", got)
	}
}
