package worker

import (
	"time"

	"github.com/bulkassign/bulkassign/worker/label"
)

// Metrics is the part of *metrics.Metrics the worker calls. A nil Metrics
// in Config records nothing.
type Metrics interface {
	RowFinished(tenant, kind, status string)
	JobAttempt(tenant string, outcome label.Outcome)
	Throttled(tenant string, retryAfter time.Duration, hadHeader bool)
	SetTenantRate(tenant string, perSecond float64)
	SetTenantPaused(tenant string, paused bool)
	SetTenantBlocked(tenant string, blocked bool)
	InFlight(delta int)
	MalformedMessage(source string)
	DeadLettered()
	Redelivered(tenant string)
	Panic()
	ObserveJobDuration(tenant string, d time.Duration)
	StoreError(operation label.StoreOp)
	SetStoreHealthy(healthy bool)
}

type noMetrics struct{}

func (noMetrics) RowFinished(string, string, string)       {}
func (noMetrics) JobAttempt(string, label.Outcome)         {}
func (noMetrics) Throttled(string, time.Duration, bool)    {}
func (noMetrics) SetTenantRate(string, float64)            {}
func (noMetrics) SetTenantPaused(string, bool)             {}
func (noMetrics) SetTenantBlocked(string, bool)            {}
func (noMetrics) InFlight(int)                             {}
func (noMetrics) MalformedMessage(string)                  {}
func (noMetrics) DeadLettered()                            {}
func (noMetrics) Redelivered(string)                       {}
func (noMetrics) Panic()                                   {}
func (noMetrics) ObserveJobDuration(string, time.Duration) {}
func (noMetrics) StoreError(label.StoreOp)                 {}
func (noMetrics) SetStoreHealthy(bool)                     {}
