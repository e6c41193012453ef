package worker

import (
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph"
)

func TestBreaker(t *testing.T) {
	t.Parallel()
	config, _ := graph.LookupKind("deviceConfigurations")
	apps, _ := graph.LookupKind("mobileApps")
	t0 := time.Unix(1000, 0)
	unauthorized := &graph.Error{Class: graph.ClassUnauthorized, StatusCode: 401, Code: "InvalidAuthenticationToken"}
	forbidden := &graph.Error{Class: graph.ClassPermanent, StatusCode: 403, Code: "Forbidden"}
	notFound := &graph.Error{Class: graph.ClassPermanent, StatusCode: 404}
	tests := []struct {
		name        string
		trip        error
		tripKind    *graph.Kind
		wantTripped bool
		check       *graph.Kind
		at          time.Duration
		wantBlocked bool
		wantCode    string
	}{
		{"401 blocks the tenant", unauthorized, config, true, apps, time.Second, true, CodeTenantUnauthorized},
		{"403 blocks the permission", forbidden, config, true, config, time.Second, true, CodeForbidden},
		{"403 leaves other permissions", forbidden, config, true, apps, time.Second, false, ""},
		{"other errors do not trip", notFound, config, false, config, time.Second, false, ""},
		{"cooldown ends the block", unauthorized, config, true, config, breakerCooldown, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b breaker
			_, tripped := b.trip(tt.tripKind, tt.trip, t0)
			if tripped != tt.wantTripped {
				t.Fatalf("tripped = %v, want %v", tripped, tt.wantTripped)
			}
			if tripped {
				if _, again := b.trip(tt.tripKind, tt.trip, t0.Add(time.Millisecond)); again {
					t.Error("a second trip of a blocked scope reported a new trip")
				}
			}
			bl, blocked := b.blocked(tt.check, t0.Add(tt.at))
			if blocked != tt.wantBlocked || bl.code != tt.wantCode {
				t.Fatalf("blocked = %v %q, want %v %q", blocked, bl.code, tt.wantBlocked, tt.wantCode)
			}
		})
	}
}

func TestBreakerCooledOnce(t *testing.T) {
	t.Parallel()
	k, _ := graph.LookupKind("deviceConfigurations")
	var b breaker
	t0 := time.Unix(1000, 0)
	if b.cooled(t0) {
		t.Fatal("cooled before any trip")
	}
	b.trip(k, &graph.Error{Class: graph.ClassUnauthorized, StatusCode: 401}, t0)
	if b.cooled(t0.Add(time.Second)) {
		t.Fatal("cooled while blocked")
	}
	if !b.cooled(t0.Add(breakerCooldown)) {
		t.Fatal("not cooled after the cooldown")
	}
	if b.cooled(t0.Add(breakerCooldown + time.Second)) {
		t.Fatal("cooled reported twice")
	}
}
