package jobs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease errors.
var (
	// ErrHeld is matched by the error of [Store.Acquire] when another owner
	// holds a live lease on the name; errors.As gives the [*HeldError].
	ErrHeld = errors.New("lease held")
	// ErrLeaseLost is returned by [Lease.Renew] and [Lease.Release] when the
	// lease was taken over (it had expired) or removed.
	ErrLeaseLost = errors.New("lease lost")
)

// HeldError says who holds a lease and until when.
type HeldError struct {
	Name    string
	Owner   string
	Expires time.Time
}

// Error describes the holder.
func (e *HeldError) Error() string {
	return fmt.Sprintf("lease %q held by %q until %s", e.Name, e.Owner, e.Expires.Format(time.RFC3339Nano))
}

// Is matches [ErrHeld].
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// leaseValue is a lease as stored in the leases bucket.
type leaseValue struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// Lease is an exclusive, expiring claim on a name, shared by every process
// using the same JetStream: one worker at a time owns an assignment key,
// one merge at a time runs per policy. Expiry compares wall clocks, so
// keep the machines' clocks in sync (NTP) and the TTL well above any skew.
// A Lease is safe for concurrent use.
type Lease struct {
	s     *Store
	name  string
	key   string
	owner string
	ttl   time.Duration

	mu      sync.Mutex
	rev     uint64
	expires time.Time
}

// leaseKey encodes a lease name as a KV key: base64url without padding
// uses only letters, digits, '-' and '_', all valid in a key, and maps
// distinct names to distinct keys whatever characters they contain.
func leaseKey(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// Acquire takes the lease on name for owner for ttl, without waiting: it
// creates the lease, or takes over an expired or released one (with a
// compare-and-set, so of many racers exactly one wins). When a live lease
// exists the error matches [ErrHeld] and is a [*HeldError].
func (s *Store) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (*Lease, error) {
	if name == "" || owner == "" {
		return nil, errors.New("acquire lease: empty name or owner")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("acquire lease %q: ttl %s: want > 0", name, ttl)
	}
	l := &Lease{s: s, name: name, key: leaseKey(name), owner: owner, ttl: ttl}
	// A few rounds: each failed round means another owner changed the
	// lease between our read and our write, and the next read will say
	// who holds it now.
	for range 3 {
		now := time.Now()
		val, err := json.Marshal(leaseValue{Owner: owner, Expires: now.Add(ttl)})
		if err != nil {
			return nil, fmt.Errorf("acquire lease %q: %w", name, err)
		}
		// Create also succeeds over a released (deleted) lease.
		rev, err := s.leases.Create(ctx, l.key, val)
		if err == nil {
			l.rev, l.expires = rev, now.Add(ttl)
			return l, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("acquire lease %q: %w", name, err)
		}
		e, err := s.leases.Get(ctx, l.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile: create again
		}
		if err != nil {
			return nil, fmt.Errorf("acquire lease %q: %w", name, err)
		}
		var cur leaseValue
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			// An unreadable lease protects nothing: take it over.
			cur = leaseValue{}
		}
		if now.Before(cur.Expires) {
			return nil, &HeldError{Name: name, Owner: cur.Owner, Expires: cur.Expires}
		}
		rev, err = s.leases.Update(ctx, l.key, val, e.Revision())
		if err == nil {
			l.rev, l.expires = rev, now.Add(ttl)
			return l, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return nil, fmt.Errorf("acquire lease %q: %w", name, err)
		}
	}
	return nil, fmt.Errorf("acquire lease %q: contended: %w", name, ErrHeld)
}

// AcquireWait takes the lease on name, waiting while another owner holds
// it: it retries when the lease changes (a KV watch), when the holder's
// lease expires, and at least every poll (default 1 s), until it succeeds
// or ctx is done.
func (s *Store) AcquireWait(ctx context.Context, name, owner string, ttl, poll time.Duration) (*Lease, error) {
	if poll <= 0 {
		poll = time.Second
	}
	l, err := s.Acquire(ctx, name, owner, ttl)
	if !errors.Is(err, ErrHeld) {
		return l, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.leases.Watch(ctx, leaseKey(name), jetstream.UpdatesOnly())
	if err != nil {
		return nil, fmt.Errorf("acquire lease %q: watch: %w", name, err)
	}
	defer func() { _ = w.Stop() }()
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		// Acquire again first: the lease may have changed before the watch
		// started.
		l, err := s.Acquire(ctx, name, owner, ttl)
		if !errors.Is(err, ErrHeld) {
			return l, err
		}
		wait := poll
		if held, ok := errors.AsType[*HeldError](err); ok {
			wait = min(wait, time.Until(held.Expires)+time.Millisecond)
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("acquire lease %q: %w", name, ctx.Err())
		case <-w.Updates():
		case <-timer.C:
		}
	}
}

// Name returns the leased name.
func (l *Lease) Name() string { return l.name }

// Owner returns the owner the lease was acquired for.
func (l *Lease) Owner() string { return l.owner }

// Expires returns when the lease expires unless renewed.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// Renew extends the lease by its ttl from now. It fails with ErrLeaseLost
// when the lease changed since this owner last wrote it (taken over after
// expiring, or released).
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev == 0 {
		return fmt.Errorf("renew lease %q: released: %w", l.name, ErrLeaseLost)
	}
	now := time.Now()
	val, err := json.Marshal(leaseValue{Owner: l.owner, Expires: now.Add(l.ttl)})
	if err != nil {
		return fmt.Errorf("renew lease %q: %w", l.name, err)
	}
	rev, err := l.s.leases.Update(ctx, l.key, val, l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("renew lease %q: %w", l.name, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("renew lease %q: %w", l.name, err)
	}
	l.rev, l.expires = rev, now.Add(l.ttl)
	return nil
}

// Release gives the lease up so another owner can take it at once. It
// fails with ErrLeaseLost when the lease is no longer this owner's.
// Releasing twice is not an error.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev == 0 {
		return nil // already released
	}
	err := l.s.leases.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	switch {
	case err == nil, errors.Is(err, jetstream.ErrKeyNotFound):
		l.rev = 0
		return nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("release lease %q: %w", l.name, ErrLeaseLost)
	}
	return fmt.Errorf("release lease %q: %w", l.name, err)
}
