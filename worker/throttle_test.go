package worker

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

var graphErr429 = graph.Error{Class: graph.ClassThrottled, Op: graph.OpCreate, StatusCode: 429, RetryAfter: 2 * time.Second, HasRetryAfter: true}

// kinds of three services for the budget tests.
var (
	kindConfig  = mustKind("deviceConfigurations")    // deviceConfiguration
	kindV2      = mustKind("configurationPolicies")   // deviceConfigV2
	kindScripts = mustKind("deviceManagementScripts") // devices
)

func mustKind(name string) *graph.Kind {
	k, err := graph.LookupKind(name)
	if err != nil {
		panic(err)
	}
	return k
}

// testTenant is a tenant of a worker with cfg (defaults filled), for the
// budget tests on a fake clock.
func testTenant(cfg Config) *tenant {
	cfg = cfg.withDefaults()
	return newTenant(&Worker{cfg: cfg, log: cfg.Logger, m: cfg.Metrics}, "t")
}

// TestBudgetUsesWholeWindow: on a fake clock, a budget of 5 writes per
// second lets 5 go at once and the 6th exactly one window after the first
// answer; several go at once only after a calm window.
func TestBudgetUsesWholeWindow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tn := testTenant(Config{WriteLimit: 5, WriteWindow: time.Second})
		ctx := t.Context()
		start := time.Now()
		for i := range 5 {
			s, err := tn.admit(ctx, time.Time{}, kindConfig)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != 0 {
				t.Fatalf("write %d admitted after %s: the allowance is not sent at once", i+1, d)
			}
			s.done(nil)
		}
		s, err := tn.admit(ctx, time.Time{}, kindConfig)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("6th write admitted after %s, want exactly the 1s window", d)
		}
		s.done(nil)

		// Before a calm window, one write at a time: a second waits for
		// the first's answer.
		fresh := testTenant(Config{WriteLimit: 5, WriteWindow: time.Second})
		first, _ := fresh.admit(ctx, time.Time{}, kindConfig)
		admitted := make(chan time.Duration, 1)
		go func() {
			s, err := fresh.admit(ctx, time.Time{}, kindConfig)
			if err != nil {
				t.Error(err)
				return
			}
			admitted <- time.Since(start)
			s.done(nil)
		}()
		time.Sleep(300 * time.Millisecond)
		first.done(nil)
		if d := <-admitted; d < 1300*time.Millisecond {
			t.Errorf("second write admitted at %s while the first was in flight, before a calm window", d)
		}
		// After a calm window, all five at once, in flight together.
		time.Sleep(2 * time.Second)
		var held []*slot
		at := time.Now()
		for range 5 {
			s, err := fresh.admit(ctx, time.Time{}, kindConfig)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, s)
		}
		if d := time.Since(at); d != 0 {
			t.Errorf("five writes after a calm window took %s to admit, want at once", d)
		}
		// A sixth waits for an answer, then a window after it.
		time.Sleep(500 * time.Millisecond)
		held[0].done(nil)
		answered := time.Now()
		s, err = fresh.admit(ctx, time.Time{}, kindConfig)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(answered); d != time.Second {
			t.Errorf("sixth write admitted %s after the first answer, want the 1s window", d)
		}
		s.done(nil)
		for _, s := range held[1:] {
			s.done(nil)
		}
	})
}

// TestBudgetNeverOverWindow: writers on a fake clock with random latency
// before Graph counts a write (0–150 ms) and after (0–150 ms), against 10
// writes per second: in no window of a second, as Graph counts arrivals,
// are there more than 10, and the budget reaches 10.
func TestBudgetNeverOverWindow(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	synctest.Test(t, func(t *testing.T) {
		const limit = 10
		tn := testTenant(Config{WriteLimit: limit, WriteWindow: time.Second})
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(seed, 1))
		var arrivals []time.Time
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 60 {
					s, err := tn.admit(t.Context(), time.Time{}, kindConfig)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					before, after := time.Duration(rng.Int64N(int64(150*time.Millisecond))), time.Duration(rng.Int64N(int64(150*time.Millisecond)))
					mu.Unlock()
					time.Sleep(before)
					mu.Lock()
					arrivals = append(arrivals, time.Now())
					mu.Unlock()
					time.Sleep(after)
					s.done(nil)
				}
			})
		}
		wg.Wait()
		slices.SortFunc(arrivals, time.Time.Compare)
		got := graphtest.MaxInWindow(arrivals, time.Second)
		t.Logf("at most %d of %d writes in a 1s window as Graph counts them (limit %d)", got, len(arrivals), limit)
		if got > limit || got < limit*8/10 {
			t.Errorf("at most %d writes in a 1s window as Graph counts them, want %d or a little less", got, limit)
		}
	})
}

// TestSlotReleasedWithContext: a slot whose write is never answered is
// freed when its context ends, counted for a window as a write that may
// have reached Graph.
func TestSlotReleasedWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tn := testTenant(Config{WriteLimit: 1, WriteWindow: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		if _, err := tn.admit(ctx, time.Time{}, kindConfig); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		time.Sleep(200 * time.Millisecond)
		cancel()
		s, err := tn.admit(t.Context(), time.Time{}, kindConfig)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 1200*time.Millisecond {
			t.Errorf("next write admitted after %s, want 1.2s (a window after the release)", d)
		}
		s.done(nil)
		s.done(nil) // a second answer changes nothing
		tn.mu.Lock()
		defer tn.mu.Unlock()
		if b := tn.budgets[kindConfig.Service]; b.inflight != 0 {
			t.Errorf("%d writes in flight, want 0", b.inflight)
		}
	})
}

// TestGateHoldsEveryJob checks on a fake clock that a 429 pauses every
// waiting job of the service until the Retry-After, that another
// service's jobs go on, and that a deadline before the end of the pause
// fails fast.
func TestGateHoldsEveryJob(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tn := testTenant(Config{WriteLimit: 11, WriteWindow: time.Second})
		start := time.Now()
		tn.throttled(kindConfig, &graphErr429)
		got := make(chan time.Duration, 3)
		for range 3 {
			go func() {
				s, err := tn.admit(t.Context(), time.Time{}, kindConfig)
				if err != nil {
					t.Error(err)
					return
				}
				got <- time.Since(start)
				s.done(nil)
			}()
		}
		s, err := tn.admit(t.Context(), time.Time{}, kindScripts)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("a script write waited %s for the device configuration service's Retry-After", d)
		}
		s.done(nil)
		for range 3 {
			if d := <-got; d < 2*time.Second {
				t.Errorf("a job passed the gate after %s, before the 2s Retry-After", d)
			}
		}
		// A deadline before the gate opens fails fast.
		tn.throttled(kindConfig, &graphErr429)
		if err := tn.gate(t.Context(), time.Now().Add(time.Second), kindConfig); err != errDeadline {
			t.Errorf("gate with an earlier deadline: %v, want errDeadline", err)
		}
		if until := tn.pausedUntil(); !until.Equal(time.Now().Add(2 * time.Second)) {
			t.Errorf("paused until %s, want the Retry-After's end", until)
		}
	})
}

// TestPullingWaitsForEveryService: a runner pulls while one of its
// tenant's services is open, and waits while all are paused.
func TestPullingWaitsForEveryService(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tn := testTenant(Config{})
		start := time.Now()
		if err := tn.pulling(t.Context()); err != nil || time.Since(start) != 0 {
			t.Fatalf("a tenant without writes: %v after %s", err, time.Since(start))
		}
		s, _ := tn.admit(t.Context(), time.Time{}, kindV2)
		s.done(nil)
		tn.throttled(kindConfig, &graphErr429)
		if err := tn.pulling(t.Context()); err != nil || time.Since(start) != 0 {
			t.Fatalf("one service paused, another open: %v after %s", err, time.Since(start))
		}
		e := graphErr429
		e.RetryAfter = 3 * time.Second
		tn.throttled(kindV2, &e)
		if err := tn.pulling(t.Context()); err != nil || time.Since(start) != 2*time.Second {
			t.Fatalf("every service paused: pulled after %s (%v), want 2s (the first to reopen)", time.Since(start), err)
		}
	})
}

// TestBudgetServices: a tenant's services have separate budgets, the
// devices service with its own limit.
func TestBudgetServices(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tn := testTenant(Config{WriteLimit: 2, WriteWindow: time.Second, DevicesWriteLimit: 3, DevicesWriteWindow: 2 * time.Second})
		start := time.Now()
		for _, k := range []*graph.Kind{kindConfig, kindConfig, kindV2, kindV2, kindScripts, kindScripts, kindScripts} {
			s, err := tn.admit(t.Context(), time.Time{}, k)
			if err != nil {
				t.Fatal(err)
			}
			s.done(nil)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("each service's allowance took %s, want at once: the services share a budget", d)
		}
		s, _ := tn.admit(t.Context(), time.Time{}, kindScripts)
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("fourth script admitted after %s, want the devices window of 2s", d)
		}
		s.done(nil)
	})
}

// budgetAt drives a budget on explicit instants: accepted writes and 429s
// at offsets from t0.
type budgetAt struct {
	t  *testing.T
	b  *budget
	t0 time.Time
}

func newBudgetAt(t *testing.T, limit int) *budgetAt {
	return &budgetAt{t: t, b: newBudget(limit, time.Second), t0: time.Unix(1000, 0)}
}

func (d *budgetAt) at(ms int) time.Time { return d.t0.Add(time.Duration(ms) * time.Millisecond) }

// accept records n writes accepted at ms.
func (d *budgetAt) accept(ms, n int) {
	for range n {
		d.b.admitted(d.at(ms))
		d.b.answered(d.at(ms), time.Millisecond, true, true)
	}
}

// refuse records a 429 of a write at ms with a pause of 100 ms.
func (d *budgetAt) refuse(ms int) {
	d.b.admitted(d.at(ms))
	d.b.answered(d.at(ms), time.Millisecond, false, false)
	d.b.throttled(d.at(ms), d.at(ms+100), true)
}

// want checks the budget's ceiling at ms.
func (d *budgetAt) want(ms, ceiling int, why string) {
	d.t.Helper()
	if got := d.b.ceiling(d.at(ms)); got != ceiling {
		d.t.Fatalf("at %d ms: ceiling %d, want %d (%s)", ms, got, ceiling, why)
	}
}

func TestBudgetLearnsLimit(t *testing.T) {
	t.Parallel()
	t.Run("one 429 at the top teaches, then the limit climbs back", func(t *testing.T) {
		d := newBudgetAt(t, 15)
		d.accept(0, 10)
		d.refuse(10)
		d.want(20, 9, "90% of the 10 Graph accepted")
		d.want(30_009, 9, "held for 30 windows")
		d.want(30_010, 10, "then one more per window")
		d.want(32_010, 12, "")
		d.want(40_000, 15, "back at the configured limit")
	})
	t.Run("a 429 below what Graph accepted lately is random", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.accept(0, 20) // a full window
		d.accept(1000, 5)
		d.refuse(1010) // 5 in the window, 20 a window ago
		d.want(1020, 20, "random: nothing learned")
		if !d.b.noisyUntil.After(d.at(1020)) {
			t.Error("a random 429 did not make the budget noisy")
		}
	})
	t.Run("one signal teaches nothing once a random 429 was seen", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.accept(0, 5)
		d.refuse(10)     // 5: below half the limit, a signal
		d.accept(100, 3) // 8 > 5: refuted, the budget is noisy
		d.accept(200, 4)
		d.refuse(210) // 12, as many as ever: would teach if not noisy
		d.want(220, 20, "one signal while noisy")
	})
	t.Run("a random 429 drops a limit learned from one signal", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.accept(0, 12)
		d.refuse(10)
		d.want(20, 10, "learned from the first 429 at 12")
		d.accept(1100, 3)
		d.refuse(1200) // 3 accepted in the window, 12 lately
		d.want(1210, 20, "the learned limit was random too")
	})
	t.Run("two signals at one level half a window apart are the limit", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.accept(0, 20)
		d.accept(1000, 10)
		d.refuse(1010) // 10 in the window while 20 went through lately
		d.want(1020, 20, "one signal below what was proven")
		d.refuse(1200) // the same level, too soon to pair
		d.want(1210, 20, "the same level within half a window")
		d.refuse(1600) // still 10: half a window after the first
		d.want(1610, 9, "90% of the level both refused at")
		d.accept(2000, 1)
		d.refuse(2700) // a random 429 below: a confirmed limit stays
		d.want(2710, 9, "confirmed by two signals")
	})
	t.Run("two signals at the ceiling's level teach nothing, just below it they do", func(t *testing.T) {
		// A budget writing at its ceiling keeps its count there: random
		// 429s pair at that level with no write accepted above them.
		for _, c := range []struct {
			level, want int
			why         string
		}{
			{19, 20, "a pair at the ceiling's level (19 of 20) is random 429s at steady state"},
			{18, 20, "18 is within 10 % of the ceiling 20"},
			{17, 15, "a pair at 17, clearly below the ceiling 20, is a limit: 90 % of 17"},
		} {
			d := newBudgetAt(t, 20)
			d.accept(0, 20)
			d.accept(1000, 3)
			d.refuse(1010) // 3 while 20 went through lately: random, noisy
			d.accept(1100, c.level-3)
			d.refuse(1200) // at the level, below the 20 proven: a pending signal
			d.refuse(1700) // the same level half a window later
			d.want(1710, c.want, c.why)
		}
	})
	t.Run("a refuted 429 above the pair's level lately makes the pair random", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.accept(0, 20)
		d.accept(1000, 3)
		d.refuse(1010) // 3 while 20 went through lately: random, noisy
		d.accept(1020, 13)
		d.refuse(1200)    // at 16
		d.accept(1300, 1) // at 17: the 429 at 16 was random
		d.accept(2030, 9) // the earlier writes left the window: 10
		d.refuse(2040)    // at 10: a new pending signal
		d.refuse(2600)    // at 10 again, half a window later
		d.want(2610, 20, "the 429 at 16 1.4 s before was refuted: random 429s came above the level lately")
		if d.b.signalN != 10 {
			t.Errorf("pending signal %d, want 10 (still pending)", d.b.signalN)
		}
	})
	t.Run("a write accepted above a signal refutes it", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.accept(0, 20)
		d.accept(1000, 10)
		d.refuse(1010)
		d.accept(1300, 1) // 11 > 10: the signal was not the limit
		if d.b.signalN != 0 {
			t.Fatalf("signal %d still pending after a write accepted above it", d.b.signalN)
		}
		d.refuse(1600) // 11 in the window: a new, single signal
		d.want(1610, 20, "a refuted signal does not pair")
	})
	t.Run("a 429 with nothing of ours in the window teaches nothing", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.refuse(0)
		d.refuse(600)
		d.want(700, 20, "refused at 0")
	})
	t.Run("a read's 429 and 429s of one episode teach nothing", func(t *testing.T) {
		d := newBudgetAt(t, 20)
		d.accept(0, 12)
		d.b.throttled(d.at(10), d.at(500), false)
		d.want(20, 20, "a read's 429")
		d.b.throttled(d.at(20), d.at(500), true) // sent before the read's pause
		d.want(30, 20, "the same episode")
	})
}

// TestBudgetOneAtATimeAfter429: after a 429 the budget writes one at a
// time for a window.
func TestBudgetOneAtATimeAfter429(t *testing.T) {
	t.Parallel()
	d := newBudgetAt(t, 20)
	d.accept(0, 1)
	d.accept(1500, 1)
	d.b.admitted(d.at(1500))
	if ok, _ := d.b.room(d.at(1500)); !ok {
		t.Fatal("a calm budget refused a second write in flight")
	}
	d.b.answered(d.at(1500), time.Millisecond, true, true)
	d.b.throttled(d.at(1600), d.at(1700), false)
	d.b.admitted(d.at(1800))
	if ok, _ := d.b.room(d.at(1800)); ok {
		t.Error("a second write in flight within a window of a 429")
	}
	if ok, _ := d.b.room(d.at(2700)); !ok {
		t.Error("still one at a time a window after the 429")
	}
	// Noisy, one at a time would take 20 × 100 ms = 2 s to send 20 writes,
	// more than a quarter of the 1 s window: 4 × 0.1 s × 20/s = 8 in
	// flight. Not noisy, one.
	d.b.throttled(d.at(2800), d.at(2900), false)
	d.b.rtt = 100 * time.Millisecond
	if got := d.b.careful(d.at(3000)); got != 1 {
		t.Errorf("%d writes in flight after a read's 429, want 1", got)
	}
	d.b.notLimit(d.at(2800))
	for range 6 { // and the one admitted at 1800 ms
		d.b.admitted(d.at(3000))
	}
	if ok, _ := d.b.room(d.at(3000)); !ok {
		t.Error("a careful budget with slow round trips refused an 8th write in flight")
	}
	d.b.admitted(d.at(3000))
	if ok, _ := d.b.room(d.at(3000)); ok {
		t.Error("a careful budget admitted more than 8 in flight")
	}
}
