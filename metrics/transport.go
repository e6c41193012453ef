package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// InstrumentTransport wraps next (http.DefaultTransport when nil) so every
// Graph request is counted in bulkassign_graph_requests_total{code,method},
// timed in bulkassign_graph_request_duration_seconds{method} and tracked in
// bulkassign_graph_requests_in_flight; requests that fail without a response
// count in bulkassign_graph_transport_errors_total{method}.
//
// No label carries the URL (Graph paths contain object ids), the tenant or
// any header (Authorization carries a bearer token). On a nil *Metrics it
// returns next unchanged.
func (m *Metrics) InstrumentTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	errs := promhttp.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if err != nil {
			m.graphErrors.WithLabelValues(methodLabel(r.Method)).Inc()
		}
		return resp, err
	})
	return promhttp.InstrumentRoundTripperInFlight(m.graphInFlight,
		promhttp.InstrumentRoundTripperCounter(m.graphRequests,
			promhttp.InstrumentRoundTripperDuration(m.graphDuration, errs)))
}

// methodLabel folds a request method like promhttp does: known methods
// lower-case, anything else "unknown"; an empty method is GET.
func methodLabel(method string) string {
	switch method {
	case "", http.MethodGet, "get":
		return "get"
	case http.MethodPost, "post":
		return "post"
	case http.MethodPut, "put":
		return "put"
	case http.MethodPatch, "patch":
		return "patch"
	case http.MethodDelete, "delete":
		return "delete"
	case http.MethodHead, "head":
		return "head"
	case http.MethodOptions, "options":
		return "options"
	case http.MethodConnect, "connect":
		return "connect"
	case http.MethodTrace, "trace":
		return "trace"
	}
	return "unknown"
}
