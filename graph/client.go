package graph

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/bulkassign/bulkassign/redact"
)

// Defaults of [Config].
const (
	DefaultTimeout   = 30 * time.Second
	DefaultUserAgent = "bulkassign/dev"
)

// Limits of one call.
const (
	// maxBody caps how much of a response body is read.
	maxBody = 4 << 20
	// maxDrain caps how much of an unread body is drained so that the
	// connection can be reused.
	maxDrain = 64 << 10
	// maxPages bounds the pages List follows (Graph pages hold 100 or more
	// assignments; no policy has 100,000).
	maxPages = 1000
)

// Operation names as they appear in [Error.Op].
const (
	OpCreate = "create"
	OpList   = "list"
	OpAssign = "assign"
	OpProbe  = "probe"
)

// Config configures a [Client].
type Config struct {
	// BaseURL is the Graph root without version, e.g.
	// "https://graph.microsoft.com" (http is accepted for a local
	// simulator). Default: Cloud.GraphURL().
	BaseURL string
	// Cloud picks the Graph host when BaseURL is empty. Default CloudGlobal.
	Cloud Cloud
	// Tokens hands out bearer tokens per tenant. Required.
	Tokens TokenSource
	// HTTPClient sends the requests. Default: one tuned keep-alive HTTP/2
	// client that does not follow redirects.
	HTTPClient *http.Client
	// Timeout bounds one request, body included. Default 30s.
	Timeout time.Duration
	// UserAgent is sent with every request. Default "bulkassign/dev".
	UserAgent string
	// TenantHeader, when set, names a header carrying the tenant on every
	// request (a simulator with a static token). Empty for Graph.
	TenantHeader string
}

// Client talks to Graph for many tenants over one reused HTTP client. It
// never retries, except once after a 401 with a fresh token. Every error
// it returns is an *[Error]. It is safe for concurrent use.
type Client struct {
	base         *url.URL
	baseStr      string
	tokens       TokenSource
	hc           *http.Client
	timeout      time.Duration
	userAgent    string
	tenantHeader string
	now          func() time.Time
}

// NewClient checks cfg, fills in defaults and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("graph client: Config.Tokens is required")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("graph client: negative Timeout %s", cfg.Timeout)
	}
	raw := strings.TrimRight(cmp.Or(cfg.BaseURL, cfg.Cloud.GraphURL()), "/")
	// The URL is only ever printed redacted: a password in it must not
	// reach an error message, and url.Parse's errors quote the whole URL.
	shown := truncate(redact.URL(raw))
	if shown != truncate(raw) {
		return nil, fmt.Errorf("graph client: BaseURL %q must not contain credentials", shown)
	}
	base, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("graph client: BaseURL %q: %w", shown, err)
	}
	if (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.User != nil ||
		base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("graph client: BaseURL %q must be http(s)://host[/path] without credentials, query or fragment", shown)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = newHTTPClient()
	}
	return &Client{
		base:         base,
		baseStr:      raw,
		tokens:       cfg.Tokens,
		hc:           hc,
		timeout:      cmp.Or(cfg.Timeout, DefaultTimeout),
		userAgent:    cmp.Or(cfg.UserAgent, DefaultUserAgent),
		tenantHeader: cfg.TenantHeader,
		now:          time.Now,
	}, nil
}

// NewHTTPClient returns the client [NewClient] uses by default, for callers
// that wrap its Transport (e.g. with metrics) and pass it as
// Config.HTTPClient.
func NewHTTPClient() *http.Client { return newHTTPClient() }

// newHTTPClient is the default client: many idle connections per host (one
// process writes to one Graph host for many tenants), HTTP/2 when the
// server offers it, bounded dial and handshake, no redirects (a redirect
// would be an unexpected answer, and following one across hosts is how
// tokens leak).
//
// The idle connections kept per host (maxIdlePerHost) are at least the
// requests a worker keeps in flight (--concurrency, up to 1,024): with
// fewer, every burst of answers closes the connections above the bound
// and the next requests dial again (a TCP, and with Graph a TLS,
// handshake each), which cost a twentieth of a row's CPU at
// --concurrency 256. Connections idle for IdleConnTimeout are closed.
func newHTTPClient() *http.Client {
	const maxIdlePerHost = 1024
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          maxIdlePerHost,
			MaxIdleConnsPerHost:   maxIdlePerHost,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Close releases the client's idle connections. The client stays usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Create posts one assignment to the policy's assignments collection
// (additive) and returns the created assignment with its ID.
func (c *Client) Create(ctx context.Context, tenant, version string, k *Kind, policyID string, a Assignment) (Assignment, error) {
	path, err := c.prepare(OpCreate, tenant, version, k, policyID, k.AssignmentsPath)
	if err != nil {
		return Assignment{}, err
	}
	body, err := k.Body(a, version)
	if err != nil {
		return Assignment{}, &Error{Op: OpCreate, Class: ClassPermanent, Err: err}
	}
	resp, gerr := c.call(ctx, OpCreate, tenant, http.MethodPost, c.baseStr+"/"+version+path, body)
	if gerr != nil {
		return Assignment{}, gerr
	}
	created, err := ParseAssignment(resp.body)
	if err != nil {
		// Graph said it created the assignment; without its answer the
		// caller must re-read to know.
		return Assignment{}, &Error{Op: OpCreate, Class: ClassTransient, Ambiguous: true, StatusCode: resp.status, Err: err}
	}
	return created, nil
}

// List returns every assignment of the policy, following @odata.nextLink
// (only to BaseURL's scheme and host; at most 1000 pages).
func (c *Client) List(ctx context.Context, tenant, version string, k *Kind, policyID string) ([]Assignment, error) {
	path, err := c.prepare(OpList, tenant, version, k, policyID, k.AssignmentsPath)
	if err != nil {
		return nil, err
	}
	next := c.baseStr + "/" + version + path
	seen := make(map[string]bool)
	var out []Assignment
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, &Error{Op: OpList, Class: ClassPermanent, Message: fmt.Sprintf("more than %d pages", maxPages)}
		}
		seen[next] = true
		resp, gerr := c.call(ctx, OpList, tenant, http.MethodGet, next, nil)
		if gerr != nil {
			return nil, gerr
		}
		var p struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return nil, &Error{Op: OpList, Class: ClassTransient, StatusCode: resp.status, Err: fmt.Errorf("decode page: %w", err)}
		}
		for _, raw := range p.Value {
			a, err := ParseAssignment(raw)
			if err != nil {
				return nil, &Error{Op: OpList, Class: ClassTransient, StatusCode: resp.status, Err: err}
			}
			out = append(out, a)
		}
		next = p.NextLink
		if next == "" {
			break
		}
		if err := c.checkNextLink(next); err != nil {
			return nil, &Error{Op: OpList, Class: ClassPermanent, Err: err}
		}
		if seen[next] {
			return nil, &Error{Op: OpList, Class: ClassPermanent, Message: "@odata.nextLink repeats a page already read"}
		}
	}
	return out, nil
}

// Probe checks that Graph serves tenant with the token it gets: it fetches
// the tenant's token and reads at most one assignment of the policy
// ($top=1), the cheapest read on what the tenant's rows will write. It
// returns nil on a 2xx answer and the call's *[Error] otherwise; a 404 (no
// such policy) or any other answer still shows that Graph is reachable and
// accepted the token, which only ErrUnauthorized (a token refused, even
// after a refresh, or not issued) and ErrForbidden deny.
func (c *Client) Probe(ctx context.Context, tenant, version string, k *Kind, policyID string) error {
	path, err := c.prepare(OpProbe, tenant, version, k, policyID, k.AssignmentsPath)
	if err != nil {
		return err
	}
	if _, gerr := c.call(ctx, OpProbe, tenant, http.MethodGet, c.baseStr+"/"+version+path+"?$top=1", nil); gerr != nil {
		return gerr
	}
	return nil
}

// Assign posts the full set to the policy's /assign action. Graph replaces
// the policy's assignments with exactly this set. It returns the set Graph
// answers with (200 {"value":[…]}), or nil when Graph answers 204.
func (c *Client) Assign(ctx context.Context, tenant, version string, k *Kind, policyID string, set []Assignment) ([]Assignment, error) {
	path, err := c.prepare(OpAssign, tenant, version, k, policyID, k.AssignPath)
	if err != nil {
		return nil, err
	}
	body, err := k.AssignBody(set, version)
	if err != nil {
		return nil, &Error{Op: OpAssign, Class: ClassPermanent, Err: err}
	}
	resp, gerr := c.call(ctx, OpAssign, tenant, http.MethodPost, c.baseStr+"/"+version+path, body)
	if gerr != nil {
		return nil, gerr
	}
	if resp.status == http.StatusNoContent || len(bytes.TrimSpace(resp.body)) == 0 {
		return nil, nil
	}
	var p struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return nil, &Error{Op: OpAssign, Class: ClassTransient, Ambiguous: true, StatusCode: resp.status, Err: fmt.Errorf("decode answer: %w", err)}
	}
	out := make([]Assignment, 0, len(p.Value))
	for _, raw := range p.Value {
		a, err := ParseAssignment(raw)
		if err != nil {
			return nil, &Error{Op: OpAssign, Class: ClassTransient, Ambiguous: true, StatusCode: resp.status, Err: err}
		}
		out = append(out, a)
	}
	return out, nil
}

// prepare validates the call's identifiers and returns the version-less
// path built by pathFn (which validates the policy id).
func (c *Client) prepare(op, tenant, version string, k *Kind, policyID string, pathFn func(string) (string, error)) (string, error) {
	fail := func(err error) (string, error) { return "", &Error{Op: op, Class: ClassPermanent, Err: err} }
	if k == nil {
		return fail(errors.New("nil kind"))
	}
	if version != V1 && version != Beta {
		return fail(fmt.Errorf("%w: API version %q (want %s or %s)", ErrInvalidAssignment, truncate(version), V1, Beta))
	}
	if !k.HasVersion(version) {
		return fail(fmt.Errorf("%w: kind %s does not exist in API version %s", ErrInvalidAssignment, k.Name, version))
	}
	if err := ValidateTenant(tenant); err != nil {
		return fail(fmt.Errorf("tenant: %w", err))
	}
	p, err := pathFn(policyID)
	if err != nil {
		return fail(fmt.Errorf("policy id: %w", err))
	}
	return p, nil
}

// checkNextLink refuses a nextLink that would send the tenant's token to
// another scheme or host than BaseURL's.
func (c *Client) checkNextLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("@odata.nextLink: %w", err)
	}
	if u.User != nil || !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return fmt.Errorf("@odata.nextLink points to %s://%s, not %s://%s: refusing to send the token there",
			u.Scheme, u.Host, c.base.Scheme, c.base.Host)
	}
	return nil
}

// response is a read 2xx answer.
type response struct {
	status int
	body   []byte
}

// call sends one request; after a 401 it invalidates the tenant's token
// and sends it once more with a new token.
func (c *Client) call(ctx context.Context, op, tenant, method, u string, body []byte) (response, *Error) {
	resp, gerr := c.send(ctx, op, tenant, method, u, body)
	if gerr == nil || gerr.Class != ClassUnauthorized || gerr.StatusCode != http.StatusUnauthorized {
		return resp, gerr
	}
	c.tokens.Invalidate(tenant)
	return c.send(ctx, op, tenant, method, u, body)
}

// send performs one HTTP exchange, token fetch included, under the
// per-request timeout.
func (c *Client) send(ctx context.Context, op, tenant, method, u string, body []byte) (response, *Error) {
	write := method != http.MethodGet
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	token, err := c.tokens.Token(ctx, tenant)
	if err != nil {
		return response{}, tokenError(op, contextError(ctx, err))
	}

	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return response{}, &Error{Op: op, Class: ClassPermanent, Err: err}
	}
	crid := uuid.NewString()
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("client-request-id", crid)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.tenantHeader != "" {
		req.Header.Set(c.tenantHeader, tenant)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		e := classifyTransport(op, write, wrote.Load(), contextError(ctx, err))
		e.ClientRequestID = crid
		return response{}, e
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		_ = resp.Body.Close()
	}()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && len(data) > maxBody {
		err = fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Remove an echoed token before the message is clipped: a token
		// cut in two is no longer found.
		data = []byte(redact.String(string(data), token))
	}
	if e := classifyResponse(op, write, resp.StatusCode, resp.Header, data, c.now()); e != nil {
		if e.ClientRequestID == "" {
			e.ClientRequestID = crid
		}
		return response{}, e
	}
	if err != nil {
		// A 2xx whose body broke off: the request was received (and, for a
		// write, probably applied).
		e := classifyTransport(op, write, true, contextError(ctx, err))
		e.StatusCode, e.ClientRequestID = resp.StatusCode, crid
		return response{}, e
	}
	return response{status: resp.StatusCode, body: data}, nil
}

// contextError makes sure a failure caused by ctx matches ctx's error with
// errors.Is (the transport does not always wrap it).
func contextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// tokenError classifies a token failure (Identity is set: nothing was sent
// to Graph):
//
//   - cancellation: transient;
//   - no answer from the identity provider (azidentity flattens network
//     errors into its message, leaving RawResponse nil): transient and
//     Unreachable;
//   - a network error or an identity provider answering 429 or 5xx:
//     transient;
//   - anything else (bad secret, tenant without consent or unknown, which
//     the identity provider answers with a 4xx): unauthorized.
func tokenError(op string, err error) *Error {
	e := &Error{Op: op, Identity: true, Class: ClassTransient, Err: err}
	var ne net.Error
	var af *azidentity.AuthenticationFailedError
	isAF := errors.As(err, &af)
	switch {
	case isContextErr(err):
	case isUnreachable(err) || (isAF && af.RawResponse == nil):
		e.Unreachable, e.Message = true, "cannot reach the identity provider"
	case errors.As(err, &ne) || (isAF &&
		(af.RawResponse.StatusCode == http.StatusTooManyRequests || af.RawResponse.StatusCode >= 500)):
		e.Message = "identity provider unavailable"
	default:
		e.Class, e.Message = ClassUnauthorized, "cannot get a token"
	}
	return e
}
