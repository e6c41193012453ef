package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLeaseKeyIsValidAndDistinct(t *testing.T) {
	tests := []struct{ a, b string }{
		{"merge/tenant.example.com/policy", "merge/tenant_example_com/policy"},
		{"key:abc", "key:abd"},
		{"with space *>", "with space *"},
		{"ünïcode", "unicode"},
	}
	for _, tt := range tests {
		ka, kb := leaseKey(tt.a), leaseKey(tt.b)
		if ka == kb {
			t.Fatalf("leaseKey(%q) == leaseKey(%q) = %q", tt.a, tt.b, ka)
		}
		for _, k := range []string{ka, kb} {
			for _, c := range k {
				if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
					t.Fatalf("leaseKey gives %q with %q", k, c)
				}
			}
		}
	}
}

func TestLeaseRaceOneWinner(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	var (
		wg      sync.WaitGroup
		winners atomic.Int32
		others  atomic.Int32
	)
	for i := range 100 {
		wg.Go(func() {
			_, err := b.store.Acquire(ctx, "merge/contoso.onmicrosoft.com/p1", fmt.Sprintf("w%d", i), time.Minute)
			switch {
			case err == nil:
				winners.Add(1)
			case errors.Is(err, ErrHeld):
				others.Add(1)
			default:
				t.Errorf("Acquire: %v", err)
			}
		})
	}
	wg.Wait()
	if winners.Load() != 1 || others.Load() != 99 {
		t.Fatalf("%d winners, %d held, want 1 and 99", winners.Load(), others.Load())
	}
}

func TestLeaseLifecycle(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	s := b.store

	l1, err := s.Acquire(ctx, "key/1", "alice", 150*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Acquire(ctx, "key/1", "bob", time.Minute)
	var held *HeldError
	if !errors.As(err, &held) || held.Owner != "alice" || !errors.Is(err, ErrHeld) {
		t.Fatalf("Acquire while held = %v, want a HeldError naming alice", err)
	}
	if err := l1.Renew(ctx); err != nil {
		t.Fatalf("Renew: %v", err)
	}

	// After expiry bob takes over; alice's Renew and Release then fail.
	var l2 *Lease
	waitFor(t, "alice's lease to expire", func() bool {
		l2, err = s.Acquire(ctx, "key/1", "bob", time.Minute)
		return err == nil
	})
	if err := l1.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Renew after takeover = %v, want ErrLeaseLost", err)
	}
	if err := l1.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Release after takeover = %v, want ErrLeaseLost", err)
	}
	if _, err := s.Acquire(ctx, "key/1", "carol", time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("Acquire of bob's lease = %v, want ErrHeld", err)
	}

	// Released: carol takes it at once; releasing twice is fine.
	if err := l2.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if err := l2.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Renew after Release = %v, want ErrLeaseLost", err)
	}
	l3, err := s.Acquire(ctx, "key/1", "carol", time.Minute)
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	if l3.Owner() != "carol" || l3.Name() != "key/1" || time.Until(l3.Expires()) < 50*time.Second {
		t.Fatalf("lease = %s/%s until %s", l3.Name(), l3.Owner(), l3.Expires())
	}
}

func TestAcquireWait(t *testing.T) {
	b := setup(t, Config{})
	ctx := testCtx(t)
	s := b.store
	l1, err := s.Acquire(ctx, "policy/p", "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Lease, 1)
	errc := make(chan error, 1)
	go func() {
		// A long poll: only the watch can wake it in time.
		l, err := s.AcquireWait(ctx, "policy/p", "bob", time.Minute, time.Minute)
		if err != nil {
			errc <- err
			return
		}
		got <- l
	}()
	select {
	case l := <-got:
		t.Fatalf("bob acquired %s while alice held it", l.Name())
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l.Owner() != "bob" {
			t.Fatalf("owner %q", l.Owner())
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("AcquireWait did not wake on release")
	}

	// Expiry without release wakes it too (timer), and ctx ends it.
	if _, err := s.Acquire(ctx, "policy/q", "alice", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireWait(ctx, "policy/q", "bob", time.Minute, time.Minute); err != nil {
		t.Fatalf("AcquireWait on an expiring lease: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.AcquireWait(cctx, "policy/q", "carol", time.Minute, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AcquireWait with an expiring ctx = %v, want deadline exceeded", err)
	}
}
