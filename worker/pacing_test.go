package worker

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
)

// writeLog records, per tenant, when the answers to its writes (POST)
// came back: accepted (any answer but 429) and throttled (429). It notes
// the writes sent while a Retry-After (in seconds) received for the tenant
// had not run out, measured where the writes leave: what the worker must
// never do, but for a write that passed the worker's last check just
// before the 429 came back and reached the transport just after (see
// sentEarly).
type writeLog struct {
	mu        sync.Mutex
	accepted  map[string][]time.Time
	throttled map[string][]time.Time
	until     map[string]time.Time // the end of the last Retry-After received
	received  map[string]time.Time // when that 429 came back
	early     []time.Duration      // writes sent before a Retry-After ran out: how long after its 429 came back
}

func newWriteLog() *writeLog {
	return &writeLog{accepted: map[string][]time.Time{}, throttled: map[string][]time.Time{},
		until: map[string]time.Time{}, received: map[string]time.Time{}}
}

// wrap is an opts.transport that records the writes through rt.
func (l *writeLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		tenant := r.Header.Get(graphtest.TenantHeader)
		if r.Method == http.MethodPost {
			l.mu.Lock()
			if now := time.Now(); now.Before(l.until[tenant]) {
				l.early = append(l.early, now.Sub(l.received[tenant]))
			}
			l.mu.Unlock()
		}
		resp, err := rt.RoundTrip(r)
		if err != nil || r.Method != http.MethodPost {
			return resp, err
		}
		now := time.Now()
		l.mu.Lock()
		defer l.mu.Unlock()
		if resp.StatusCode != http.StatusTooManyRequests {
			l.accepted[tenant] = append(l.accepted[tenant], now)
			return resp, nil
		}
		l.throttled[tenant] = append(l.throttled[tenant], now)
		if secs, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil {
			if until := now.Add(time.Duration(secs * float64(time.Second))); until.After(l.until[tenant]) {
				l.until[tenant], l.received[tenant] = until, now
			}
		}
		return resp, nil
	})
}

// raceTolerance is how long after a 429 came back a write may still leave
// that had passed the worker's check (is its service paused?) before: the
// in-process path from that check to the transport, and from the answer
// to the gate.
const raceTolerance = 5 * time.Millisecond

// sentEarly is the writes sent before a Retry-After received for their
// tenant ran out, more than raceTolerance after it came back: how long
// after, each.
func (l *writeLog) sentEarly() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, d := range l.early {
		if d > raceTolerance {
			out = append(out, d)
		}
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// times returns a copy of the tenant's accepted and throttled answer times.
func (l *writeLog) times(tenant string) (accepted, throttled []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.accepted[tenant]), slices.Clone(l.throttled[tenant])
}

// count is the number of the tenant's accepted writes so far.
func (l *writeLog) count(tenant string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted[tenant])
}

// TestPacingUsesWholeWindow: Graph's window is a trailing window, so a
// tenant may send its whole allowance at once. 4 tenants × 15 rows at 3
// writes per second: each tenant's writes go at about 0, 1, 2, 3 and 4 s (a
// spread at 2 per second would take 7 s), never more than 3 in a window,
// none throttled.
func TestPacingUsesWholeWindow(t *testing.T) {
	t.Parallel()
	const limit, rows, tenants = 3, 15, 4
	window := time.Second
	log := newWriteLog()
	b := setup(t, opts{sim: graphtest.Config{Window: window, AppWriteLimit: limit, TenantWriteLimit: 2 * limit,
		Latency: 20 * time.Millisecond}, transport: log.wrap})
	var all []jobs.Job
	names := make([]string, tenants)
	for n := range names {
		names[n] = guid(fmt.Sprintf("tenant/pacing/%d", n))
		all = append(all, makeJobs(spec{importID: "pace", tenant: names[n], kind: "deviceConfigurations", policies: 2, rows: rows, firstRow: 2 + n*100})...)
	}
	b.publish(all)
	b.run(b.newWorker(Config{WriteLimit: limit, WriteWindow: window}, nil))
	rs := b.waitResults("pace", len(all), 60*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(all) {
		t.Fatalf("statuses %v, want all created", got)
	}
	ideal, spread := time.Duration(rows/limit-1)*window, time.Duration(rows-1)*window/(limit-1)
	for _, name := range names {
		acc, _ := log.times(name)
		slices.SortFunc(acc, time.Time.Compare)
		span, burst := acc[len(acc)-1].Sub(acc[0]), acc[limit-1].Sub(acc[0])
		t.Logf("tenant %s: %d writes over %s (ideal %s, spread %s), the first %d within %s", name[:8], len(acc),
			span.Round(time.Millisecond), ideal, spread, limit, burst.Round(time.Millisecond))
		if span > ideal+window*3/2 {
			t.Errorf("tenant %s wrote %d rows over %s: the window's allowance was not used at once (ideal %s, spread %s)",
				name[:8], rows, span.Round(time.Millisecond), ideal, spread)
		}
		if burst > window/2 {
			t.Errorf("tenant %s: its first %d writes took %s, not sent at once", name[:8], limit, burst.Round(time.Millisecond))
		}
	}
	st := b.sim.Stats()
	if st.Throttled != 0 {
		t.Errorf("%d writes throttled: a tenant went over %d per %s", st.Throttled, limit, window)
	}
	for tenant, n := range b.sim.MaxWritesInWindow() {
		if n > limit {
			t.Errorf("tenant %s: %d writes in one window, limit %d", tenant, n, limit)
		}
	}
}

// TestServiceBudgets: a tenant's rows of kinds in different Intune
// services use separate budgets: 20 device configuration rows (limit 10 per
// second) and 30 script rows (the devices service, limit 20 per second)
// write together, more than either limit in one window, and neither
// service goes over its own limit in the simulator, which throttles per
// service too.
func TestServiceBudgets(t *testing.T) {
	t.Parallel()
	log := newWriteLog()
	b := setup(t, opts{sim: graphtest.Config{Window: time.Second, AppWriteLimit: 10, TenantWriteLimit: 20}, transport: log.wrap})
	tenant := guid("tenant/services")
	js := makeJobs(spec{importID: "svc", tenant: tenant, kind: "deviceConfigurations", rows: 20})
	// One script per policy: one /assign write per row.
	js = append(js, makeJobs(spec{importID: "svc", tenant: tenant, kind: "deviceManagementScripts", policies: 30, rows: 30, firstRow: 100})...)
	b.publish(js)
	b.run(b.newWorker(Config{WriteLimit: 10, WriteWindow: time.Second, DevicesWriteLimit: 20, DevicesWriteWindow: time.Second}, nil))
	rs := b.waitResults("svc", len(js), 60*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != len(js) {
		t.Fatalf("statuses %v, want all created", got)
	}
	acc, _ := log.times(tenant)
	slices.SortFunc(acc, time.Time.Compare)
	// Slots free a window after their answer, so one budget of n writes
	// never has more than n answers in any window: more than 20 means
	// both services wrote at once, the devices service beyond 10.
	most := graphtest.MaxInWindow(acc, time.Second)
	st := b.sim.Stats()
	t.Logf("%d writes, at most %d answered in one second; simulator: %d throttled, max in a window per service %v",
		len(acc), most, st.Throttled, b.sim.MaxWritesInWindow())
	if most <= 20 {
		t.Errorf("at most %d writes answered in one second: the services did not write on separate budgets (10 + 20)", most)
	}
	if st.Throttled != 0 {
		t.Errorf("%d writes throttled: a service went over its own limit", st.Throttled)
	}
	if n := b.sim.MaxWritesInWindow()[tenant]; n > 20 {
		t.Errorf("%d writes of one service in one window, limit 20", n)
	}
}

// TestRandomThrottleKeepsBudget: 10% of writes answered 429 at random
// (Retry-After 200–600 ms, a tenth to three tenths of the 2 s window as 2–6 s
// are of Intune's 20 s; and no Retry-After at all). Random 429s are not a
// limit: the tenant keeps at least 80% of the budget left after them
// (0.8 × 0.9 × 20 writes per window), never sends a write before a
// Retry-After it received ran out (counted where writes leave, see
// raceTolerance; and the simulator's EarlyWrites, with a grace of 30 ms for
// writes already on the wire when the 429 came back) and never goes over
// the limit.
func TestRandomThrottleKeepsBudget(t *testing.T) {
	t.Parallel()
	const limit, rows = 20, 150
	window := 2 * time.Second
	for _, mode := range []graphtest.RetryAfterMode{graphtest.RetryAfterFractional, graphtest.RetryAfterAbsent} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			seed := time.Now().UnixNano()
			t.Logf("simulator seed %d", seed)
			log := newWriteLog()
			b := setup(t, opts{sim: graphtest.Config{Window: window, AppWriteLimit: limit, TenantWriteLimit: 2 * limit,
				ThrottleRate: 0.1, RetryAfter: mode, RetryAfterMin: 200 * time.Millisecond, RetryAfterMax: 600 * time.Millisecond,
				EarlyGrace: 30 * time.Millisecond, Seed: seed}, transport: log.wrap})
			tenant := guid("tenant/random/" + mode.String())
			js := makeJobs(spec{importID: "rnd", tenant: tenant, kind: "deviceConfigurations", policies: 4, rows: rows})
			b.publish(js)
			b.run(b.newWorker(Config{WriteLimit: limit, WriteWindow: window}, nil))
			rs := b.waitResults("rnd", rows, 90*time.Second)
			if got := statuses(rs); got[jobs.StatusCreated] != rows {
				t.Fatalf("statuses %v, want all created", got)
			}
			acc, thr := log.times(tenant)
			slices.SortFunc(acc, time.Time.Compare)
			span := acc[len(acc)-1].Sub(acc[0])
			// A budget of L per window allows L·(span/W + 1) writes over span.
			windows := span.Seconds()/window.Seconds() + 1
			perWindow := float64(len(acc)) / windows
			st := b.sim.Stats()
			t.Logf("%d writes accepted over %s: %.1f per window (limit %d, goal >= %.1f); %d random 429s; early: %v sent, %d arrived; max in a window %d",
				len(acc), span.Round(time.Millisecond), perWindow, limit, 0.8*0.9*limit, len(thr), log.sentEarly(), st.EarlyWrites,
				b.sim.MaxWritesInWindow()[tenant])
			if len(thr) == 0 {
				t.Fatal("no 429: the test proves nothing")
			}
			if perWindow < 0.8*0.9*limit {
				t.Errorf("%.1f writes per window: less than 80%% of the budget left by random 429s (%.1f)", perWindow, 0.8*0.9*limit)
			}
			if n := log.sentEarly(); len(n) != 0 || st.EarlyWrites != 0 {
				t.Errorf("writes before a Retry-After ran out: %v after their 429 came back sent, %d arrived", n, st.EarlyWrites)
			}
			if n := b.sim.MaxWritesInWindow()[tenant]; n > limit {
				t.Errorf("%d writes in one window, limit %d", n, limit)
			}
		})
	}
}

// TestLowerLimitLearned: Graph halves the tenant's limit mid-run (20 → 10
// writes per second, as when another app starts using the tenant's
// budget): the tenant learns the new limit within a few windows and is
// never throttled afterwards, while it still writes at most of it. No
// write is sent before a Retry-After it received ran out (see
// raceTolerance); the simulator's EarlyGrace of 50 ms spares writes already
// on the wire when a 429 came back.
func TestLowerLimitLearned(t *testing.T) {
	t.Parallel()
	const limit, lower, rows = 20, 10, 200
	log := newWriteLog()
	b := setup(t, opts{sim: graphtest.Config{Window: time.Second, AppWriteLimit: limit, TenantWriteLimit: 2 * limit,
		RetryAfter: graphtest.RetryAfterFractional, EarlyGrace: 50 * time.Millisecond}, transport: log.wrap})
	tenant := guid("tenant/lower")
	js := makeJobs(spec{importID: "low", tenant: tenant, kind: "deviceConfigurations", policies: 4, rows: rows})
	b.publish(js)
	b.run(b.newWorker(Config{WriteLimit: limit, WriteWindow: time.Second}, nil))
	waitFor(t, 30*time.Second, "three windows at the configured limit", func() bool { return log.count(tenant) >= 3*limit })
	changed := time.Now()
	if err := b.sim.SetWriteLimits(graph.ServiceDeviceConfiguration, lower, 2*lower); err != nil {
		t.Fatal(err)
	}
	rs := b.waitResults("low", rows, 90*time.Second)
	if got := statuses(rs); got[jobs.StatusCreated] != rows {
		t.Fatalf("statuses %v, want all created", got)
	}
	acc, thr := log.times(tenant)
	learned := changed.Add(4 * time.Second)
	var late []time.Duration
	for _, at := range thr {
		if at.After(learned) {
			late = append(late, at.Sub(changed).Round(time.Millisecond))
		}
	}
	var after []time.Time
	for _, at := range acc {
		if at.After(learned) {
			after = append(after, at)
		}
	}
	slices.SortFunc(after, time.Time.Compare)
	perWindow := 0.0
	if len(after) > 1 {
		perWindow = float64(len(after)) / (after[len(after)-1].Sub(after[0]).Seconds() + 1)
	}
	st := b.sim.Stats()
	t.Logf("limit halved after %d writes; %d 429s, at %v after the change; afterwards %d writes, %.1f per window (real limit %d); early %d",
		len(acc)-len(after), len(thr), durations(thr, changed), len(after), perWindow, lower, st.EarlyWrites)
	if len(thr) == 0 {
		t.Fatal("no 429 after the limit changed: the test proves nothing")
	}
	if len(late) > 0 {
		t.Errorf("429s %v after the change: the lower limit was not learned within 4 windows, or over-run afterwards", late)
	}
	if n := b.sim.MaxWritesInWindowSince(learned)[tenant]; n > lower {
		t.Errorf("%d writes in one window after learning, limit %d", n, lower)
	}
	if len(after) < 2*lower || perWindow < 0.7*lower {
		t.Errorf("%d writes at %.1f per window after learning: want most of the real limit %d", len(after), perWindow, lower)
	}
	if n := log.sentEarly(); len(n) != 0 || st.EarlyWrites != 0 {
		t.Errorf("writes before a Retry-After ran out: %v after their 429 came back sent, %d arrived", n, st.EarlyWrites)
	}
}

// durations is each of ts as a duration after since.
func durations(ts []time.Time, since time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, at := range ts {
		out[i] = at.Sub(since).Round(time.Millisecond)
	}
	return out
}
