package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// keepAlive tells JetStream every third of AckWait that the message is
// still being worked on, until stop is called: long waits (a Retry-After,
// a policy lock) never let AckWait expire.
func keepAlive(msg message, ackWait time.Duration) (stop func()) {
	every := max(ackWait/3, 50*time.Millisecond)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// holdLease renews lease every third of ttl until stop is called. When the
// lease is lost (taken over, or not renewed before it expired) it calls
// lost, which cancels the job's Graph calls: a job that no longer owns its
// key must not write it.
func holdLease(lease *jobs.Lease, ttl time.Duration, lost func()) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
				err := lease.Renew(ctx)
				cancel()
				if errors.Is(err, jobs.ErrLeaseLost) || (err != nil && time.Now().After(lease.Expires())) {
					lost()
					return
				}
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// keyLeaseTTL is the TTL of a key lease: the consumer's AckWait (at least
// minLeaseTTL). A job is redelivered AckWait after its worker stopped
// sending InProgress, when the dead worker's lease has run out too; a
// longer TTL would hand the redelivery back as "held" again and again.
func keyLeaseTTL(ackWait time.Duration) time.Duration {
	return max(ackWait, minLeaseTTL)
}
