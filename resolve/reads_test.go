package resolve_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/resolve"
)

func TestReadsPaceEachTenant(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r, err := resolve.NewReads(resolve.ReadConfig{Limit: 10, Window: 2 * time.Second}) // 5 per second
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		start := time.Now()
		var at []time.Duration
		for i := 0; i < 6; i++ {
			if err := r.Do(ctx, "a.example", func(context.Context) error { at = append(at, time.Since(start)); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		// Burst 1, then one read per 200 ms.
		if at[0] != 0 || at[5] != time.Second {
			t.Errorf("reads of one tenant at %v, want 0 … 1s", at)
		}
		// Another tenant has its own budget.
		before := time.Since(start)
		if err := r.Do(ctx, "b.example", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start) - before; d != 0 {
			t.Errorf("first read of another tenant waited %v", d)
		}
	})
}

func TestReadsRetryThrottledAndTransient(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r, err := resolve.NewReads(resolve.ReadConfig{Limit: 1000, Attempts: 3, MaxBackoff: 4 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		throttled := &graph.Error{Class: graph.ClassThrottled, StatusCode: 429, RetryAfter: 7 * time.Second, HasRetryAfter: true}
		transient := &graph.Error{Class: graph.ClassTransient, StatusCode: 503}
		start := time.Now()
		n := 0
		err = r.Do(ctx, "a.example", func(context.Context) error {
			n++
			switch n {
			case 1:
				return throttled
			case 2:
				return transient
			}
			return nil
		})
		took := time.Since(start)
		// 7 s of Retry-After, then a backoff of at most 2 s (second attempt).
		if err != nil || n != 3 || took < 7*time.Second || took > 9*time.Second {
			t.Errorf("Do = %v after %d calls and %v", err, n, took)
		}

		n = 0
		err = r.Do(ctx, "a.example", func(context.Context) error { n++; return transient })
		if !errors.Is(err, graph.ErrTransient) || n != 3 {
			t.Errorf("always transient: %v after %d calls, want 3", err, n)
		}
		n = 0
		forbidden := &graph.Error{Class: graph.ClassPermanent, StatusCode: 403}
		err = r.Do(ctx, "a.example", func(context.Context) error { n++; return forbidden })
		if !errors.Is(err, graph.ErrForbidden) || n != 1 {
			t.Errorf("permanent: %v after %d calls, want 1", err, n)
		}

		cctx, cancel := context.WithCancel(ctx)
		n = 0
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		err = r.Do(cctx, "a.example", func(context.Context) error { n++; return throttled })
		if !errors.Is(err, graph.ErrThrottled) || n != 1 {
			t.Errorf("cancelled while waiting: %v after %d calls", err, n)
		}
	})
}

func TestNewReadsRejectsNegative(t *testing.T) {
	t.Parallel()
	if _, err := resolve.NewReads(resolve.ReadConfig{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}
