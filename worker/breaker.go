package worker

import (
	"errors"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Error codes of rows the worker fails itself (column error_code of the
// report). They are [jobs]'s contract codes, under the names the worker has
// always exported.
const (
	// CodeTenantUnauthorized is [jobs.CodeTenantUnauthorized].
	CodeTenantUnauthorized = jobs.CodeTenantUnauthorized
	// CodeForbidden is [jobs.CodeForbidden].
	CodeForbidden = jobs.CodeForbidden
	// CodeDeadlineExceeded is [jobs.CodeDeadlineExceeded].
	CodeDeadlineExceeded = jobs.CodeDeadlineExceeded
	// CodePanic is [jobs.CodePanic].
	CodePanic = jobs.CodePanic
)

// breakerCooldown is how long a tripped breaker fails a tenant's rows
// before letting them through again to see whether an operator fixed the
// consent (a long-running worker must not need a restart for that).
const breakerCooldown = 5 * time.Minute

// block is why a tenant (or one permission in it) is blocked.
type block struct {
	code    string // CodeTenantUnauthorized or CodeForbidden
	status  int    // the HTTP status that tripped it (0: token failure)
	message string // what Graph said, without secrets
	reqID   string
	until   time.Time
}

// breaker is a tenant's circuit breaker. A 401 (after the client's token
// refresh) blocks the whole tenant; a 403 blocks the permission of the
// kind that got it (graph.Kind.Permission): a tenant that consented to
// configuration writes but not app writes keeps its configuration rows.
// It is safe for concurrent use.
type breaker struct {
	mu         sync.Mutex
	blocks     map[string]block // "" = whole tenant; else a permission
	wasBlocked bool             // a block was set and not yet reported cooled
}

// blocked returns the block covering a write of kind k at now, if any.
func (b *breaker) blocked(k *graph.Kind, now time.Time) (block, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, scope := range []string{"", k.Permission} {
		if bl, ok := b.blocks[scope]; ok {
			if now.Before(bl.until) {
				return bl, true
			}
			delete(b.blocks, scope)
		}
	}
	return block{}, false
}

// trip blocks the tenant (401) or the kind's permission (403) when err
// calls for it, and returns the block; tripped is false when the scope was
// already blocked (jobs in flight when it tripped).
func (b *breaker) trip(k *graph.Kind, err error, now time.Time) (bl block, tripped bool) {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		return block{}, false
	}
	var scope string
	bl = block{status: ge.StatusCode, reqID: ge.RequestID, until: now.Add(breakerCooldown)}
	switch {
	case errors.Is(err, graph.ErrUnauthorized):
		bl.code = CodeTenantUnauthorized
		bl.message = "tenant token refused after a refresh: " + ge.Error()
	case errors.Is(err, graph.ErrForbidden):
		bl.code, scope = CodeForbidden, k.Permission
		bl.message = "forbidden (application permission " + k.Permission + " missing or not consented): " + ge.Error()
	default:
		return block{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.blocks == nil {
		b.blocks = make(map[string]block)
	}
	if cur, ok := b.blocks[scope]; ok && now.Before(cur.until) {
		return cur, false
	}
	b.blocks[scope] = bl
	b.wasBlocked = true
	return bl, true
}

// cooled reports, once, that the last block expired: the tenant is no
// longer blocked anywhere.
func (b *breaker) cooled(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.wasBlocked {
		return false
	}
	for scope, bl := range b.blocks {
		if now.Before(bl.until) {
			return false
		}
		delete(b.blocks, scope)
	}
	b.wasBlocked = false
	return true
}
