// Package preflight checks, before an import is enqueued, that each of its
// tenants can be served at all: that Graph and the identity provider answer
// and that the tenant's token is accepted. A tenant that fails gets a
// [Verdict] whose code (jobs.CodeTenantUnauthorized, jobs.CodeForbidden,
// jobs.CodeGraphUnreachable, jobs.CodeIdentityUnreachable) its rows are
// reported failed with at once, instead of retrying until their job
// deadline.
//
// Each tenant costs one token and one read: the first page ($top=1) of the
// assignments of one policy its rows write ([Target], gathered by a
// [Collector] during validation). Any answer from Graph other than 401 and
// 403 passes, 404 (no such policy) and 429 included: the tenant is
// reachable and its token accepted, and what remains is the worker's to
// handle. Only a failure to reach an endpoint at all is retried, with
// backoff, until [Config.ConnectDeadline].
package preflight

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
)

// Prober is the part of *graph.Client preflight uses.
type Prober interface {
	Probe(ctx context.Context, tenant, version string, k *graph.Kind, policyID string) error
}

// Config configures [Check]. The zero value is usable.
type Config struct {
	// ConnectDeadline bounds how long a tenant whose Graph or identity
	// endpoint cannot be reached is tried again before it fails as
	// unreachable. Default 2 min.
	ConnectDeadline time.Duration
	// Concurrency bounds the tenants checked at once. Default 16.
	Concurrency int
	// GraphHost and IdentityHost name the endpoints' hosts in messages,
	// e.g. "graph.microsoft.com"; never with credentials. Default: none
	// named.
	GraphHost, IdentityHost string
	// OnWait, when set, is called once for each tenant that could not be
	// reached and will be tried again until the connect deadline: with the
	// failure (a *graph.Error) and the deadline. It is called from Check's
	// goroutines, possibly at the same time for several tenants.
	OnWait func(tenant string, err error, until time.Time)
	// Logger receives an info record per tenant that fails. Default:
	// discard.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.ConnectDeadline = cmp.Or(c.ConnectDeadline, 2*time.Minute)
	c.Concurrency = cmp.Or(c.Concurrency, 16)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return c
}

// validate reports an invalid field.
func (c Config) validate() error {
	var errs []error
	if c.ConnectDeadline <= 0 {
		errs = append(errs, fmt.Errorf("connect deadline %s: want > 0", c.ConnectDeadline))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want >= 1", c.Concurrency))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("preflight config: %w", err)
	}
	return nil
}

// Target is what a tenant is checked with: one policy its rows write.
type Target struct {
	Tenant     string
	Kind       *graph.Kind
	APIVersion string
	PolicyID   string
}

// Verdict is the outcome of one tenant's check.
type Verdict struct {
	Tenant string
	// Code is "" when the tenant passed, else the error code its rows fail
	// with.
	Code string
	// Message says what failed and where (a host, never a secret).
	Message string
	// HTTPStatus and RequestID come from Graph's answer, when there was one.
	HTTPStatus int
	RequestID  string
}

// OK reports whether the tenant passed.
func (v Verdict) OK() bool { return v.Code == "" }

// Result is the failed result of job j of a tenant that did not pass: no
// Graph attempt was made for it.
func (v Verdict) Result(j jobs.Job) jobs.Result {
	r := jobs.ResultFor(j, jobs.StatusFailed)
	r.ErrorCode, r.ErrorMessage, r.HTTPStatus, r.RequestID = v.Code, v.Message, v.HTTPStatus, v.RequestID
	r.At = time.Now().UTC()
	return r
}

// Retry timing of unreachable endpoints.
const (
	firstRetry = 500 * time.Millisecond
	maxRetry   = 15 * time.Second
)

// Check checks every target, at most Concurrency at once, and returns one
// verdict per target, in order. Only ctx ending makes it fail (with ctx's
// error); a tenant that cannot be served is a verdict.
func Check(ctx context.Context, p Prober, targets []Target, cfg Config) ([]Verdict, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	out := make([]Verdict, len(targets))
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = check(ctx, p, t, cfg)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// check probes one tenant until it passes, fails for good, or stays
// unreachable past the connect deadline.
func check(ctx context.Context, p Prober, t Target, cfg Config) Verdict {
	until := time.Now().Add(cfg.ConnectDeadline)
	dctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var unreachable *graph.Error // the last failure to reach an endpoint
	for attempt := 1; ; attempt++ {
		err := p.Probe(dctx, t.Tenant, t.APIVersion, t.Kind, t.PolicyID)
		v, again := judge(t, err, cfg)
		if !again {
			if !v.OK() {
				cfg.Logger.Info("preflight: tenant fails", slog.String("tenant", t.Tenant), slog.String("code", v.Code), slog.String("message", v.Message))
			}
			return v
		}
		var ge *graph.Error
		if errors.As(err, &ge) && ge.Unreachable {
			unreachable = ge
		} else if unreachable == nil && errors.As(err, &ge) {
			unreachable = ge // no answer before the deadline cut the probe
		}
		if ctx.Err() != nil {
			return Verdict{Tenant: t.Tenant}
		}
		if attempt == 1 && cfg.OnWait != nil && dctx.Err() == nil {
			cfg.OnWait(t.Tenant, err, until)
		}
		if !sleep(dctx, min(firstRetry<<(attempt-1), maxRetry)) {
			if ctx.Err() != nil {
				return Verdict{Tenant: t.Tenant}
			}
			v = unreachableVerdict(t, unreachable, attempt, cfg)
			cfg.Logger.Info("preflight: tenant unreachable", slog.String("tenant", t.Tenant), slog.String("code", v.Code), slog.String("message", v.Message))
			return v
		}
	}
}

// judge turns a probe's outcome into a final verdict, or asks for another
// try (again) when nothing answered.
func judge(t Target, err error, cfg Config) (v Verdict, again bool) {
	v = Verdict{Tenant: t.Tenant}
	var ge *graph.Error
	if err == nil || !errors.As(err, &ge) {
		// Not a Graph error: a probe that could not even be built (the
		// row was validated) is the worker's to report, not preflight's.
		return v, false
	}
	v.HTTPStatus, v.RequestID = ge.StatusCode, ge.RequestID
	defer func() { v.Message = oneLine(v.Message) }()
	switch {
	case errors.Is(err, graph.ErrUnauthorized) && ge.Identity:
		v.Code = jobs.CodeTenantUnauthorized
		v.Message = fmt.Sprintf("%s would not issue a token for tenant %s: %v", at("the identity provider", cfg.IdentityHost), t.Tenant, err)
	case errors.Is(err, graph.ErrUnauthorized):
		v.Code = jobs.CodeTenantUnauthorized
		v.Message = fmt.Sprintf("%s refused the token of tenant %s, also after a refresh: %v", at("Graph", cfg.GraphHost), t.Tenant, err)
	case errors.Is(err, graph.ErrForbidden):
		v.Code = jobs.CodeForbidden
		v.Message = fmt.Sprintf("%s answered 403 for tenant %s: application permission %s missing or not consented: %v",
			at("Graph", cfg.GraphHost), t.Tenant, t.Kind.Permission, err)
	case errors.Is(err, graph.ErrUnreachable), ge.StatusCode == 0 && errors.Is(err, context.DeadlineExceeded):
		return v, true
	}
	return v, false
}

// unreachableVerdict is the verdict of a tenant whose endpoint did not
// answer: last says which endpoint and how.
func unreachableVerdict(t Target, last *graph.Error, attempts int, cfg Config) Verdict {
	v := Verdict{Tenant: t.Tenant, Code: jobs.CodeGraphUnreachable}
	what := at("Graph", cfg.GraphHost)
	if last != nil && last.Identity {
		v.Code, what = jobs.CodeIdentityUnreachable, at("the identity provider", cfg.IdentityHost)
	}
	if last == nil || (!last.Unreachable && errors.Is(last, context.DeadlineExceeded)) {
		v.Message = fmt.Sprintf("cannot reach %s for tenant %s: no answer within the connect deadline %s", what, t.Tenant, cfg.ConnectDeadline)
		return v
	}
	plural := "s"
	if attempts == 1 {
		plural = ""
	}
	v.Message = oneLine(fmt.Sprintf("cannot reach %s for tenant %s within the connect deadline %s (%d attempt%s): %v",
		what, t.Tenant, cfg.ConnectDeadline, attempts, plural, last))
	return v
}

// oneLine folds the line breaks and runs of spaces of a message (azidentity
// writes its errors over several lines) into single spaces, for a report
// cell and a log line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// at names an endpoint and its host, when known.
func at(endpoint, host string) string {
	if host == "" {
		return endpoint
	}
	return endpoint + " at " + host
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
