package graph

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// gatedCredential is an azcore.TokenCredential whose fetches wait for the
// test to open a gate; it records each request. Real credentials are tested
// in auth_test.go; this one makes the cache's timing and concurrency rules
// observable.
type gatedCredential struct {
	mu      sync.Mutex
	calls   []policy.TokenRequestOptions
	started chan struct{} // one send per fetch that started
	gate    chan struct{} // closed: fetches return
	expires time.Time
}

func newGatedCredential(expires time.Time) *gatedCredential {
	return &gatedCredential{started: make(chan struct{}, 64), gate: make(chan struct{}), expires: expires}
}

func (g *gatedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	g.mu.Lock()
	g.calls = append(g.calls, o)
	n := len(g.calls)
	g.mu.Unlock()
	g.started <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return azcore.AccessToken{}, ctx.Err()
	}
	return azcore.AccessToken{Token: o.TenantID + "-" + string(rune('0'+n)), ExpiresOn: g.expires}, nil
}

func (g *gatedCredential) callCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

func TestCredentialTokensRefreshMargin(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 8, 20, 10, 0, 0, 0, time.UTC)
	expires := start.Add(time.Hour)
	cred := newGatedCredential(expires)
	close(cred.gate)
	ts := NewCredentialTokens(cred, CloudUSGovDoD).(*credentialTokens)
	now := start
	ts.now = func() time.Time { return now }
	ctx := context.Background()

	steps := []struct {
		at        time.Time
		wantCalls int
	}{
		{start, 1},
		{expires.Add(-refreshBefore - time.Second), 1}, // still cached
		{expires.Add(-refreshBefore), 2},               // inside the margin: refetch
	}
	for _, s := range steps {
		now = s.at
		if _, err := ts.Token(ctx, testTenant); err != nil {
			t.Fatal(err)
		}
		if got := cred.callCount(); got != s.wantCalls {
			t.Errorf("at %s: %d fetches, want %d", s.at.Sub(start), got, s.wantCalls)
		}
	}
	o := cred.calls[0]
	if len(o.Scopes) != 1 || o.Scopes[0] != "https://dod-graph.microsoft.us/.default" || o.TenantID != testTenant || o.Claims != "" {
		t.Errorf("token request options %+v", o)
	}
	now = start
	ts.Invalidate(testTenant)
	if _, err := ts.Token(ctx, testTenant); err != nil {
		t.Fatal(err)
	}
	if c := cred.calls[len(cred.calls)-1].Claims; c == "" {
		t.Error("the fetch after Invalidate did not ask to bypass azidentity's cache")
	}
	if _, err := ts.Token(ctx, testTenant); err != nil || cred.callCount() != 3 {
		t.Errorf("token after the refresh not cached (%d fetches)", cred.callCount())
	}
}

func TestCredentialTokensOneFetchPerTenant(t *testing.T) {
	t.Parallel()
	cred := newGatedCredential(time.Now().Add(time.Hour))
	ts := NewCredentialTokens(cred, CloudGlobal)
	ctx := context.Background()

	var wg sync.WaitGroup
	results := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := ts.Token(ctx, testTenant)
			if err != nil {
				t.Error(err)
			}
			results <- tok
		}()
	}
	<-cred.started // one fetch is running; the others must wait for it

	// Another tenant is not held up by the first tenant's fetch.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := ts.Token(ctx, "other.onmicrosoft.com"); err != nil {
			t.Error(err)
		}
	}()
	<-cred.started

	// A waiter whose context ends gives up without waiting for the fetch.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ts.Token(cctx, testTenant); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled waiter: %v", err)
	}

	close(cred.gate)
	wg.Wait()
	close(results)
	for tok := range results {
		if tok != testTenant+"-1" && tok != testTenant+"-2" {
			t.Errorf("token %q", tok)
		}
	}
	if n := cred.callCount(); n != 2 {
		t.Errorf("%d fetches, want one per tenant (2)", n)
	}
}

// TestCredentialTokensLeaderCanceled: when the caller doing the fetch gives
// up, a waiter fetches for itself instead of inheriting the cancellation.
func TestCredentialTokensLeaderCanceled(t *testing.T) {
	t.Parallel()
	cred := newGatedCredential(time.Now().Add(time.Hour))
	ts := NewCredentialTokens(cred, CloudGlobal)
	lctx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := ts.Token(lctx, testTenant)
		leaderDone <- err
	}()
	<-cred.started
	waiter := make(chan error, 1)
	go func() {
		_, err := ts.Token(context.Background(), testTenant)
		waiter <- err
	}()
	cancelLeader()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v", err)
	}
	<-cred.started // the waiter's own fetch
	close(cred.gate)
	if err := <-waiter; err != nil {
		t.Errorf("waiter inherited the leader's failure: %v", err)
	}
}
