package graph

import (
	"errors"
	"fmt"
	"time"
)

// Class is the outcome class of a failed Graph call.
type Class int

// Outcome classes. Callers usually ask with errors.Is and the sentinels
// below rather than reading Class directly.
const (
	// ClassPermanent: a 4xx other than 401, 429 and the route error; the
	// same request will fail again.
	ClassPermanent Class = iota + 1
	// ClassThrottled: 429. RetryAfter says how long to wait when Graph said.
	ClassThrottled
	// ClassTransient: 500, 502, 503, 504, 509, connection reset, timeout.
	// Ambiguous tells whether the request may have been applied.
	ClassTransient
	// ClassRouteNotSupported: 400 "No method match route template": the
	// collection does not route POST …/assignments; use the merge strategy.
	ClassRouteNotSupported
	// ClassUnauthorized: 401.
	ClassUnauthorized
)

// String names the class as it appears in logs and metrics.
func (c Class) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassThrottled:
		return "throttled"
	case ClassTransient:
		return "transient"
	case ClassRouteNotSupported:
		return "route_not_supported"
	case ClassUnauthorized:
		return "unauthorized"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Sentinels matched by [Error.Is].
var (
	ErrPermanent         = errors.New("graph: permanent error")
	ErrThrottled         = errors.New("graph: throttled")
	ErrTransient         = errors.New("graph: transient error")
	ErrRouteNotSupported = errors.New("graph: route not supported")
	ErrUnauthorized      = errors.New("graph: unauthorized")
	// ErrForbidden matches a 403 (also ErrPermanent): consent or permission
	// missing for the tenant.
	ErrForbidden = errors.New("graph: forbidden")
	// ErrAmbiguous matches a transient error after which the request may
	// have been applied (also ErrTransient).
	ErrAmbiguous = errors.New("graph: outcome unknown")
	// ErrUnreachable matches a failure without any answer from Graph or
	// from the identity provider (also ErrTransient): the host name did not
	// resolve, the connection was refused or could not be made, or the
	// server's certificate was not trusted. Error.Identity tells which.
	ErrUnreachable = errors.New("graph: endpoint unreachable")
)

// RouteErrorCode is the Graph error code of a collection that does not route
// the request.
const RouteErrorCode = "No method match route template"

// Error is a failed Graph call: an HTTP error answer, or a transport failure.
// It never holds a token or secret.
type Error struct {
	// Class is the outcome class.
	Class Class
	// Op names the operation ("create", "list", "assign").
	Op string
	// StatusCode is the HTTP status, 0 for a transport failure.
	StatusCode int
	// Code and Message come from Graph's error body.
	Code    string
	Message string
	// RequestID, ClientRequestID and Date come from innerError or headers.
	RequestID       string
	ClientRequestID string
	Date            string
	// RetryAfter is Graph's Retry-After; HasRetryAfter is false when the
	// header was absent or unreadable.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// Ambiguous is true when the request may have been applied: it failed
	// after the body was sent (5xx, timeout, reset after write).
	Ambiguous bool
	// Unreachable is true when nothing answered at all (see
	// ErrUnreachable); the request was never sent.
	Unreachable bool
	// Identity is true when the failure is getting the tenant's token from
	// the identity provider: nothing was sent to Graph.
	Identity bool
	// Err is the transport error, if any.
	Err error
}

// Error describes the failure without secrets.
func (e *Error) Error() string {
	s := "graph " + e.Op + ": " + e.Class.String()
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.StatusCode)
		if e.Code != "" {
			s += " " + e.Code
		}
		s += ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.HasRetryAfter {
		s += fmt.Sprintf(" [retry after %s]", e.RetryAfter)
	}
	if e.RequestID != "" {
		s += " [request-id " + e.RequestID + "]"
	}
	return s
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's class, ErrForbidden for a 403,
// ErrAmbiguous for an ambiguous transient error and ErrUnreachable for an
// unreachable endpoint.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrPermanent:
		return e.Class == ClassPermanent
	case ErrThrottled:
		return e.Class == ClassThrottled
	case ErrTransient:
		return e.Class == ClassTransient
	case ErrRouteNotSupported:
		return e.Class == ClassRouteNotSupported
	case ErrUnauthorized:
		return e.Class == ClassUnauthorized
	case ErrForbidden:
		return e.StatusCode == 403
	case ErrAmbiguous:
		return e.Class == ClassTransient && e.Ambiguous
	case ErrUnreachable:
		return e.Class == ClassTransient && e.Unreachable
	}
	return false
}
