package graph

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps a Retry-After so that an absurd value cannot overflow
// a time.Duration or park a tenant for days.
const maxRetryAfter = 24 * time.Hour

// maxMessage caps the Graph error message kept in an [Error].
const maxMessage = 512

// graphErrorBody is Graph's error envelope.
type graphErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
			Date            string `json:"date"`
		} `json:"innerError"`
	} `json:"error"`
}

// classifyResponse turns an HTTP answer into nil (2xx) or an *Error:
//
//   - 429: ClassThrottled;
//   - 408, 500, 502, 503, 504, 509 and other 5xx except 501 and 505:
//     ClassTransient, Ambiguous when the request was a write (the server may
//     have applied it before failing; 408 means the server never got the
//     whole request, so it is never ambiguous);
//   - 400 with code [RouteErrorCode]: ClassRouteNotSupported;
//   - 401: ClassUnauthorized;
//   - anything else (403, 404, 409, other 4xx, 501, 505, 1xx, 3xx):
//     ClassPermanent.
//
// Retry-After is read on every status (429 and 503 carry it). The Graph
// error code, message and innerError ids are copied; request-id,
// client-request-id and Date fall back to the response headers. now is the
// clock for an HTTP-date Retry-After when the response has no Date header.
func classifyResponse(op string, write bool, status int, h http.Header, body []byte, now time.Time) *Error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &Error{Op: op, StatusCode: status}
	var eb graphErrorBody
	if len(body) > 0 && json.Unmarshal(body, &eb) == nil {
		e.Code = eb.Error.Code
		e.Message = clip(eb.Error.Message, maxMessage)
		e.RequestID = eb.Error.InnerError.RequestID
		e.ClientRequestID = eb.Error.InnerError.ClientRequestID
		e.Date = eb.Error.InnerError.Date
	}
	if e.RequestID == "" {
		e.RequestID = h.Get("request-id")
	}
	if e.ClientRequestID == "" {
		e.ClientRequestID = h.Get("client-request-id")
	}
	if e.Date == "" {
		e.Date = h.Get("Date")
	}
	if v := h.Get("Retry-After"); v != "" {
		e.RetryAfter, e.HasRetryAfter = parseRetryAfter(v, h.Get("Date"), now)
	}
	switch {
	case status == http.StatusTooManyRequests:
		e.Class = ClassThrottled
	case status == http.StatusRequestTimeout:
		e.Class = ClassTransient
	case status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported:
		e.Class = ClassTransient
		e.Ambiguous = write
	case status == http.StatusBadRequest && strings.EqualFold(e.Code, RouteErrorCode):
		e.Class = ClassRouteNotSupported
	case status == http.StatusUnauthorized:
		e.Class = ClassUnauthorized
	default:
		e.Class = ClassPermanent
	}
	return e
}

// classifyTransport turns a failure without an HTTP answer (dial, reset,
// EOF, timeout, cancellation, or an answer whose body could not be read)
// into a ClassTransient *Error wrapping err.
//
// It is Ambiguous when the request was a write and its body had been fully
// written (wrote): from the client's side a request sitting in the server's
// socket when the connection broke cannot be told apart from one the server
// applied before failing, so the caller must re-read before writing again.
// A failure before the request was fully written (connection refused, DNS,
// reset while sending) is not ambiguous: Graph never saw a whole request.
// One without any connection is Unreachable (see [isUnreachable]).
func classifyTransport(op string, write, wrote bool, err error) *Error {
	e := &Error{Op: op, Class: ClassTransient, Ambiguous: write && wrote, Err: err}
	if !wrote && isUnreachable(err) {
		e.Unreachable, e.Message = true, "cannot reach Graph"
	}
	return e
}

// isUnreachable reports a failure to connect at all: the host name did not
// resolve, dialling (the host, or the proxy) failed or timed out, or the
// server's certificate was not trusted. A cancelled or expired context is
// not: the caller gave up, the endpoint may be fine.
func isUnreachable(err error) bool {
	if isContextErr(err) {
		return false
	}
	var dns *net.DNSError
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	return errors.As(err, &dns) || errors.As(err, &cert) ||
		(errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect"))
}

// parseRetryAfter reads a Retry-After value: whole or fractional seconds
// ("2", "2.128"), or an HTTP date, taken relative to the response's Date
// header when it has one and to now otherwise; a date in the past means 0.
// ok is false for anything else (negative, garbage, NaN).
func parseRetryAfter(v, date string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDecimal(v) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return 0, false
		}
		if f >= maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		// Round up to the millisecond: waiting a hair too long is harmless,
		// coming back early gets throttled again.
		return time.Duration(math.Ceil(f*1000)) * time.Millisecond, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	ref := now
	if date != "" {
		if d, err := http.ParseTime(date); err == nil {
			ref = d
		}
	}
	d := at.Sub(ref)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}

// isDecimal reports whether s is digits with at most one '.' between digits.
func isDecimal(s string) bool {
	dot, digits := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// isContextErr reports whether err is a context cancellation or deadline.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
