package graphsim

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulkassign/bulkassign/graph"
)

// TenantHeader carries the tenant of a request whose bearer token is not a
// JWT with a tid claim (a static token shared by several tenants).
const TenantHeader = "X-Bulkassign-Tenant"

// DefaultTenant is the tenant of a request that names none.
const DefaultTenant = "default"

// DefaultApp is the app of a request whose token names none.
const DefaultApp = "app"

// Graph error codes the simulator answers with.
const (
	CodeBadRequest        = "BadRequest"
	CodeNotFound          = "ResourceNotFound"
	CodeConflict          = "Conflict"
	CodeTooManyRequests   = "TooManyRequests"
	CodeUnauthorized      = "InvalidAuthenticationToken"
	CodeServiceUnavail    = "ServiceUnavailable"
	CodeGatewayTimeout    = "GatewayTimeout"
	CodeMethodNotAllowed  = "MethodNotAllowed"
	CodeRouteNotSupported = graph.RouteErrorCode
)

// RetryAfterMode is how a 429 answer spells its Retry-After header.
type RetryAfterMode int

const (
	// RetryAfterSeconds is an integer number of seconds, rounded up
	// (the default).
	RetryAfterSeconds RetryAfterMode = iota
	// RetryAfterFractional is seconds with three decimals ("2.128"),
	// rounded up to the millisecond.
	RetryAfterFractional
	// RetryAfterDate is an HTTP date (now plus the wait, rounded up to the
	// second).
	RetryAfterDate
	// RetryAfterAbsent sends no Retry-After at all, as Intune often does.
	RetryAfterAbsent
)

// String names the mode.
func (m RetryAfterMode) String() string {
	switch m {
	case RetryAfterSeconds:
		return "seconds"
	case RetryAfterFractional:
		return "fractional"
	case RetryAfterDate:
		return "date"
	case RetryAfterAbsent:
		return "absent"
	}
	return fmt.Sprintf("RetryAfterMode(%d)", int(m))
}

// DuplicateMode is what a create of an assignment id that already exists
// answers. Graph does not document it, so both plausible answers exist.
type DuplicateMode int

const (
	// DuplicateError answers 409 with code [CodeConflict] and leaves the
	// existing assignment untouched (the default).
	DuplicateError DuplicateMode = iota
	// DuplicateReturnExisting answers 201 with the existing assignment,
	// unchanged, as if the create had succeeded.
	DuplicateReturnExisting
)

// String names the mode.
func (m DuplicateMode) String() string {
	switch m {
	case DuplicateError:
		return "error"
	case DuplicateReturnExisting:
		return "return-existing"
	}
	return fmt.Sprintf("DuplicateMode(%d)", int(m))
}

// NoKinds is an empty, non-nil kind list: Config{NotRouted: NoKinds} makes
// every kind route create (DeleteNotRouted: NoKinds, every delete). Do not
// modify it.
var NoKinds = []string{}

// Config configures a [Server]. The zero value is Intune-like: 100 writes per
// 20 s per app per tenant in each Intune service (200 in the devices
// service), no faults.
//
// Write limits are per Intune service ([graph.Kind.Service]), as in Graph:
// each service of a tenant has its own windows, and writes to one service
// never throttle writes to another.
type Config struct {
	// Window is the sliding throttling window. Default 20s.
	Window time.Duration
	// AppWriteLimit is the writes (POST, DELETE) allowed per window per app
	// per tenant in each Intune service but the devices service. Default
	// 100.
	AppWriteLimit int
	// TenantWriteLimit is the writes allowed per window per tenant in each
	// Intune service but the devices service, all apps together. Default
	// 200.
	TenantWriteLimit int
	// DevicesAppWriteLimit and DevicesTenantWriteLimit are the write limits
	// of the Intune devices service (scripts, health scripts). Defaults:
	// twice AppWriteLimit and TenantWriteLimit (Intune: 200 and 400).
	DevicesAppWriteLimit, DevicesTenantWriteLimit int
	// AppRequestLimit is the requests of any kind allowed per window per app
	// per tenant. Default 1000.
	AppRequestLimit int
	// TenantRequestLimit is the requests allowed per window per tenant.
	// Default 2000.
	TenantRequestLimit int
	// RetryAfter is how a 429 spells Retry-After. Default seconds.
	RetryAfter RetryAfterMode
	// RetryAfterValue, when positive, replaces the computed wait of window
	// throttling (by default the time until the window frees a slot).
	RetryAfterValue time.Duration
	// EarlyGrace is how long after a 429 a write from the same tenant is
	// still throttled but not counted in EarlyWrites: a client with several
	// writes in flight sent those before it could see the 429. Default 0
	// (every write before the deadline is early).
	EarlyGrace time.Duration
	// Duplicate is what a create of an existing id answers. Default error.
	Duplicate DuplicateMode
	// NotRouted lists kind names whose create answers 400
	// "No method match route template". nil means every registry kind whose
	// Strategy is merge; use [NoKinds] for none.
	NotRouted []string
	// DeleteNotRouted lists kind names whose DELETE of one assignment
	// answers 400 "No OData route exists". nil means the kinds reported so
	// (deviceCompliancePolicies, deviceEnrollmentConfigurations); use
	// [NoKinds] for none.
	DeleteNotRouted []string
	// PageSize is the list page size (assignments, groups, filters,
	// policies). Default 100.
	PageSize int

	// FaultRate is the fraction of writes answered 503 or 504 (half each)
	// without being applied.
	FaultRate float64
	// ResetBeforeRate is the fraction of writes whose connection is reset
	// after the request was read and before it is applied.
	ResetBeforeRate float64
	// ResetAfterRate is the fraction of writes applied and then answered by
	// a connection reset: the client cannot know the write happened.
	ResetAfterRate float64
	// ThrottleRate is the fraction of writes answered 429 at random, with a
	// Retry-After between RetryAfterMin and RetryAfterMax (spelt per
	// RetryAfter, or absent).
	ThrottleRate float64
	// RetryAfterMin and RetryAfterMax bound the Retry-After of random 429s.
	// Defaults 1s and RetryAfterMin.
	RetryAfterMin, RetryAfterMax time.Duration
	// Latency is added to every request, plus a uniform random part in
	// [0, Jitter). The wait ends early when the request's context ends.
	Latency, Jitter time.Duration
	// Seed seeds the random source of fault choices and jitter.
	Seed int64
	// Logger receives one debug record per request; nil discards. Tokens
	// are never logged.
	Logger *slog.Logger
}

// Faults is the part of [Config] that can change while a server runs
// (see [Server.SetFaults]). The fields mean what the [Config] fields of the
// same names mean. Rates are drawn once per write from one uniform number,
// so they are exclusive and must add up to at most 1.
type Faults struct {
	FaultRate                    float64       // 503/504 without applying
	ResetBeforeRate              float64       // reset, not applied
	ResetAfterRate               float64       // applied, then reset
	ThrottleRate                 float64       // random 429
	RetryAfterMin, RetryAfterMax time.Duration // Retry-After of random 429s
	Latency, Jitter              time.Duration // added to every request
}

// Faults returns the fault settings of c.
func (c Config) Faults() Faults {
	return Faults{
		FaultRate: c.FaultRate, ResetBeforeRate: c.ResetBeforeRate, ResetAfterRate: c.ResetAfterRate,
		ThrottleRate: c.ThrottleRate, RetryAfterMin: c.RetryAfterMin, RetryAfterMax: c.RetryAfterMax,
		Latency: c.Latency, Jitter: c.Jitter,
	}
}

// withDefaults fills every zero field with its default.
func (c Config) withDefaults() Config {
	c.Window = cmp.Or(c.Window, 20*time.Second)
	c.AppWriteLimit = cmp.Or(c.AppWriteLimit, 100)
	c.TenantWriteLimit = cmp.Or(c.TenantWriteLimit, 200)
	c.DevicesAppWriteLimit = cmp.Or(c.DevicesAppWriteLimit, 2*c.AppWriteLimit)
	c.DevicesTenantWriteLimit = cmp.Or(c.DevicesTenantWriteLimit, 2*c.TenantWriteLimit)
	c.AppRequestLimit = cmp.Or(c.AppRequestLimit, 1000)
	c.TenantRequestLimit = cmp.Or(c.TenantRequestLimit, 2000)
	c.PageSize = cmp.Or(c.PageSize, 100)
	if c.NotRouted == nil {
		for _, k := range graph.Kinds() {
			if k.Strategy == graph.StrategyMerge {
				c.NotRouted = append(c.NotRouted, k.Name)
			}
		}
	}
	if c.DeleteNotRouted == nil {
		c.DeleteNotRouted = []string{"deviceCompliancePolicies", "deviceEnrollmentConfigurations"}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// withDefaults fills the Retry-After bounds of random 429s.
func (f Faults) withDefaults() Faults {
	f.RetryAfterMin = cmp.Or(f.RetryAfterMin, time.Second)
	f.RetryAfterMax = max(f.RetryAfterMax, f.RetryAfterMin)
	return f
}

// validate checks the fault settings.
func (f Faults) validate() error {
	var errs []error
	for name, r := range map[string]float64{
		"FaultRate": f.FaultRate, "ResetBeforeRate": f.ResetBeforeRate,
		"ResetAfterRate": f.ResetAfterRate, "ThrottleRate": f.ThrottleRate,
	} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s %v is not in [0, 1]", name, r))
		}
	}
	if s := f.FaultRate + f.ResetBeforeRate + f.ResetAfterRate + f.ThrottleRate; s > 1 {
		errs = append(errs, fmt.Errorf("fault rates add up to %v, more than 1", s))
	}
	if f.RetryAfterMin < 0 || f.RetryAfterMax < 0 || f.Latency < 0 || f.Jitter < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	return errors.Join(errs...)
}

// Validate reports a configuration [New] would refuse: negative limits,
// rates outside [0, 1] or adding up to more than 1, unknown kinds in
// NotRouted or DeleteNotRouted, unknown modes.
func (c Config) Validate() error {
	var errs []error
	if c.Window < 0 || c.AppWriteLimit < 0 || c.TenantWriteLimit < 0 || c.DevicesAppWriteLimit < 0 ||
		c.DevicesTenantWriteLimit < 0 || c.AppRequestLimit < 0 ||
		c.TenantRequestLimit < 0 || c.PageSize < 0 || c.RetryAfterValue < 0 || c.EarlyGrace < 0 {
		errs = append(errs, errors.New("graphsim: window, limits, page size, Retry-After value and early grace must not be negative"))
	}
	if c.RetryAfter < RetryAfterSeconds || c.RetryAfter > RetryAfterAbsent {
		errs = append(errs, fmt.Errorf("graphsim: unknown %v", c.RetryAfter))
	}
	if c.Duplicate < DuplicateError || c.Duplicate > DuplicateReturnExisting {
		errs = append(errs, fmt.Errorf("graphsim: unknown %v", c.Duplicate))
	}
	for _, n := range c.NotRouted {
		if _, err := graph.LookupKind(n); err != nil {
			errs = append(errs, fmt.Errorf("graphsim: NotRouted: %w", err))
		}
	}
	for _, n := range c.DeleteNotRouted {
		if _, err := graph.LookupKind(n); err != nil {
			errs = append(errs, fmt.Errorf("graphsim: DeleteNotRouted: %w", err))
		}
	}
	if err := c.Faults().validate(); err != nil {
		errs = append(errs, fmt.Errorf("graphsim: %w", err))
	}
	return errors.Join(errs...)
}
