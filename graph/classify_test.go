package graph

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func graphErrBody(code, msg string) string {
	return `{"error":{"code":"` + code + `","message":"` + msg + `","innerError":{"request-id":"req-1","date":"2026-08-20T10:00:00","client-request-id":"crid-1"}}}`
}

func TestClassifyResponse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 20, 10, 0, 0, 0, time.UTC)
	in90 := now.Add(90 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name   string
		status int
		write  bool
		header map[string]string
		body   string

		wantNil       bool
		class         Class
		sentinels     []error
		notSentinels  []error
		code          string
		ambiguous     bool
		retryAfter    time.Duration
		hasRetryAfter bool
		requestID     string
	}{
		{name: "201", status: 201, write: true, wantNil: true},
		{name: "200", status: 200, wantNil: true},
		{name: "204", status: 204, write: true, wantNil: true},
		{name: "400", status: 400, write: true, body: graphErrBody("BadRequest", "Invalid target"),
			class: ClassPermanent, sentinels: []error{ErrPermanent}, notSentinels: []error{ErrRouteNotSupported, ErrForbidden},
			code: "BadRequest", requestID: "req-1"},
		{name: "400 route", status: 400, write: true, body: graphErrBody(RouteErrorCode, "No OData route exists that match template"),
			class: ClassRouteNotSupported, sentinels: []error{ErrRouteNotSupported}, notSentinels: []error{ErrPermanent},
			code: RouteErrorCode, requestID: "req-1"},
		{name: "401", status: 401, body: graphErrBody("InvalidAuthenticationToken", "Access token has expired"),
			class: ClassUnauthorized, sentinels: []error{ErrUnauthorized}, notSentinels: []error{ErrPermanent}, code: "InvalidAuthenticationToken"},
		{name: "403", status: 403, write: true, body: graphErrBody("Forbidden", "Application is not authorized"),
			class: ClassPermanent, sentinels: []error{ErrPermanent, ErrForbidden}, notSentinels: []error{ErrUnauthorized}, code: "Forbidden"},
		{name: "404", status: 404, body: graphErrBody("ResourceNotFound", "not found"),
			class: ClassPermanent, sentinels: []error{ErrPermanent}, notSentinels: []error{ErrForbidden}, code: "ResourceNotFound"},
		{name: "409", status: 409, write: true, body: graphErrBody("Conflict", "exists"),
			class: ClassPermanent, sentinels: []error{ErrPermanent}, code: "Conflict"},
		{name: "429 integer", status: 429, write: true, header: map[string]string{"Retry-After": "7"}, body: graphErrBody("TooManyRequests", "slow down"),
			class: ClassThrottled, sentinels: []error{ErrThrottled}, notSentinels: []error{ErrTransient, ErrAmbiguous},
			code: "TooManyRequests", retryAfter: 7 * time.Second, hasRetryAfter: true},
		{name: "429 fractional", status: 429, write: true, header: map[string]string{"Retry-After": "2.128"},
			class: ClassThrottled, sentinels: []error{ErrThrottled}, retryAfter: 2128 * time.Millisecond, hasRetryAfter: true},
		{name: "429 http date from Date header", status: 429, write: true,
			header: map[string]string{"Retry-After": in90, "Date": now.Add(30 * time.Second).Format(http.TimeFormat)},
			class:  ClassThrottled, retryAfter: 60 * time.Second, hasRetryAfter: true},
		{name: "429 http date from now", status: 429, write: true, header: map[string]string{"Retry-After": in90},
			class: ClassThrottled, retryAfter: 90 * time.Second, hasRetryAfter: true},
		{name: "429 http date in the past", status: 429, write: true,
			header: map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)},
			class:  ClassThrottled, retryAfter: 0, hasRetryAfter: true},
		{name: "429 absent", status: 429, write: true, body: graphErrBody("TooManyRequests", "x"),
			class: ClassThrottled, hasRetryAfter: false, code: "TooManyRequests"},
		{name: "429 garbage", status: 429, write: true, header: map[string]string{"Retry-After": "soon"},
			class: ClassThrottled, hasRetryAfter: false},
		{name: "429 negative", status: 429, write: true, header: map[string]string{"Retry-After": "-3"},
			class: ClassThrottled, hasRetryAfter: false},
		{name: "429 huge", status: 429, write: true, header: map[string]string{"Retry-After": "99999999999999999999"},
			class: ClassThrottled, retryAfter: maxRetryAfter, hasRetryAfter: true},
		{name: "500 write", status: 500, write: true, body: graphErrBody("InternalServerError", "oops"),
			class: ClassTransient, sentinels: []error{ErrTransient, ErrAmbiguous}, notSentinels: []error{ErrPermanent},
			code: "InternalServerError", ambiguous: true},
		{name: "500 read", status: 500, write: false,
			class: ClassTransient, sentinels: []error{ErrTransient}, notSentinels: []error{ErrAmbiguous}},
		{name: "502", status: 502, write: true, class: ClassTransient, sentinels: []error{ErrAmbiguous}, ambiguous: true},
		{name: "503 with Retry-After", status: 503, write: true, header: map[string]string{"Retry-After": "30"},
			class: ClassTransient, sentinels: []error{ErrTransient, ErrAmbiguous}, ambiguous: true,
			retryAfter: 30 * time.Second, hasRetryAfter: true},
		{name: "504", status: 504, write: true, class: ClassTransient, ambiguous: true},
		{name: "509", status: 509, write: true, class: ClassTransient, ambiguous: true},
		{name: "501", status: 501, write: true, class: ClassPermanent},
		{name: "408", status: 408, write: true, class: ClassTransient, notSentinels: []error{ErrAmbiguous}},
		{name: "302", status: 302, write: true, class: ClassPermanent},
		{name: "400 html body", status: 400, write: true, body: "<html>bad</html>",
			header: map[string]string{"request-id": "hdr-req", "client-request-id": "hdr-crid"},
			class:  ClassPermanent, requestID: "hdr-req"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			e := classifyResponse("create", tt.write, tt.status, h, []byte(tt.body), now)
			if tt.wantNil {
				if e != nil {
					t.Fatalf("got %v, want nil", e)
				}
				return
			}
			if e == nil {
				t.Fatal("got nil error")
			}
			if e.Class != tt.class || e.StatusCode != tt.status || e.Ambiguous != tt.ambiguous {
				t.Errorf("class %s status %d ambiguous %v; want %s %d %v", e.Class, e.StatusCode, e.Ambiguous, tt.class, tt.status, tt.ambiguous)
			}
			if e.HasRetryAfter != tt.hasRetryAfter || e.RetryAfter != tt.retryAfter {
				t.Errorf("retry after %s (%v), want %s (%v)", e.RetryAfter, e.HasRetryAfter, tt.retryAfter, tt.hasRetryAfter)
			}
			if e.Code != tt.code {
				t.Errorf("code %q, want %q", e.Code, tt.code)
			}
			if tt.requestID != "" && e.RequestID != tt.requestID {
				t.Errorf("request-id %q, want %q", e.RequestID, tt.requestID)
			}
			var err error = e
			for _, s := range tt.sentinels {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v) false", s)
				}
			}
			for _, s := range tt.notSentinels {
				if errors.Is(err, s) {
					t.Errorf("errors.Is(%v) true", s)
				}
			}
		})
	}
}

func TestClassifyKeepsTracingIDs(t *testing.T) {
	t.Parallel()
	e := classifyResponse("list", false, 404, http.Header{}, []byte(graphErrBody("ResourceNotFound", "gone")), time.Now())
	if e.RequestID != "req-1" || e.ClientRequestID != "crid-1" || e.Date != "2026-08-20T10:00:00" || e.Message != "gone" {
		t.Errorf("ids from innerError: %+v", e)
	}
	h := http.Header{}
	h.Set("request-id", "r2")
	h.Set("client-request-id", "c2")
	h.Set("Date", "Thu, 20 Aug 2026 10:00:00 GMT")
	e = classifyResponse("list", false, 404, h, []byte(`{"error":{"code":"x"}}`), time.Now())
	if e.RequestID != "r2" || e.ClientRequestID != "c2" || e.Date != "Thu, 20 Aug 2026 10:00:00 GMT" {
		t.Errorf("ids from headers: %+v", e)
	}
	for _, want := range []string{"list", "permanent", "404", "x", "r2"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("Error() = %q lacks %q", e.Error(), want)
		}
	}
	long := strings.Repeat("é", 2000)
	e = classifyResponse("list", false, 400, http.Header{}, []byte(graphErrBody("BadRequest", long)), time.Now())
	if len(e.Message) > maxMessage+len("…") || !strings.HasSuffix(e.Message, "…") {
		t.Errorf("message not clipped: %d bytes", len(e.Message))
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		given, date string
		want        time.Duration
		ok          bool
	}{
		{"0", "", 0, true},
		{"1", "", time.Second, true},
		{" 5 ", "", 5 * time.Second, true},
		{"2.128", "", 2128 * time.Millisecond, true},
		{"0.0001", "", time.Millisecond, true}, // rounded up, never 0 for a positive wait
		{"1e3", "", 0, false},
		{"0x10", "", 0, false},
		{"NaN", "", 0, false},
		{"Inf", "", 0, false},
		{"1.", "", 0, false},
		{".5", "", 0, false},
		{"1.2.3", "", 0, false},
		{"", "", 0, false},
		{"Thu, 20 Aug 2026 10:00:10 GMT", "", 10 * time.Second, true},
		{"Thursday, 20-Aug-26 10:00:10 GMT", "", 10 * time.Second, true}, // RFC 850
		{"Thu Aug 20 10:00:10 2026", "", 10 * time.Second, true},         // ANSI C
		{"Thu, 20 Aug 2026 10:00:10 GMT", "Thu, 20 Aug 2026 10:00:05 GMT", 5 * time.Second, true},
		{"Thu, 20 Aug 2026 10:00:10 GMT", "not a date", 10 * time.Second, true},
		{"Thu, 20 Aug 2026 09:00:00 GMT", "", 0, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.given, tt.date, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q, %q) = %s, %v; want %s, %v", tt.given, tt.date, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClassifyTransport(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection reset by peer")
	tests := []struct {
		write, wrote, ambiguous bool
	}{
		{write: true, wrote: true, ambiguous: true},
		{write: true, wrote: false, ambiguous: false},
		{write: false, wrote: true, ambiguous: false},
	}
	for _, tt := range tests {
		e := classifyTransport("create", tt.write, tt.wrote, cause)
		if e.Class != ClassTransient || e.Ambiguous != tt.ambiguous || !errors.Is(e, cause) || !errors.Is(e, ErrTransient) {
			t.Errorf("write=%v wrote=%v: %+v", tt.write, tt.wrote, e)
		}
	}
}

func TestCloud(t *testing.T) {
	t.Parallel()
	tests := []struct {
		given       string
		want        Cloud
		graph, auth string
	}{
		{"", CloudGlobal, "https://graph.microsoft.com", "https://login.microsoftonline.com/"},
		{"Global", CloudGlobal, "https://graph.microsoft.com", "https://login.microsoftonline.com/"},
		{"usgov", CloudUSGov, "https://graph.microsoft.us", "https://login.microsoftonline.us/"},
		{"usgov-dod", CloudUSGovDoD, "https://dod-graph.microsoft.us", "https://login.microsoftonline.us/"},
		{"china", CloudChina, "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn/"},
	}
	for _, tt := range tests {
		c, err := ParseCloud(tt.given)
		if err != nil || c != tt.want || c.GraphURL() != tt.graph || c.LoginURL() != tt.auth || c.Scope() != tt.graph+"/.default" {
			t.Errorf("ParseCloud(%q) = %q (%s, %s, %s), %v", tt.given, c, c.GraphURL(), c.LoginURL(), c.Scope(), err)
		}
	}
	if _, err := ParseCloud("mars"); !errors.Is(err, ErrUnknownCloud) {
		t.Errorf("ParseCloud(mars) = %v", err)
	}
	if Cloud("").GraphURL() != CloudGlobal.GraphURL() || Cloud("").String() != "global" {
		t.Error("zero Cloud is not global")
	}
}
