package graphsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Fixed ids used across the tests.
const (
	pol1   = "aaaaaaaa-1111-4111-8111-111111111111"
	pol2   = "bbbbbbbb-2222-4222-8222-222222222222"
	grp1   = "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	grp2   = "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	grp3   = "33333333-cccc-4ccc-8ccc-cccccccccccc"
	filt1  = "44444444-dddd-4ddd-8ddd-dddddddddddd"
	tenA   = "contoso.onmicrosoft.com"
	tenB   = "fabrikam.onmicrosoft.com"
	dcType = "#microsoft.graph.deviceConfigurationAssignment"
)

// start serves a simulator on loopback until the test ends.
func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	return started(t)(StartLoopback(cfg))
}

// startTLS is start over TLS with HTTP/2.
func startTLS(t testing.TB, cfg Config) *Server {
	t.Helper()
	return started(t)(StartLoopbackTLS(cfg))
}

// started fails the test on a start error and closes the server when the
// test ends.
func started(t testing.TB) func(*Server, error) *Server {
	return func(s *Server, err error) *Server {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
}

// newIdentityProvider starts an identity provider until the test ends.
func newIdentityProvider(t testing.TB) *IdentityProvider {
	idp := StartIdentityProvider()
	t.Cleanup(idp.Close)
	return idp
}

// tc is a test client: a real http.Client against a started simulator.
type tc struct {
	t      testing.TB
	base   string
	hc     *http.Client
	token  string // "" sends no Authorization
	tenant string // TenantHeader value, "" for none
}

// newClient returns a client with its own transport, closed at cleanup.
func newClient(t testing.TB, s *Server, tenant string) *tc {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &tc{t: t, base: s.URL(), hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}, token: "static-token", tenant: tenant}
}

// answer is a complete response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the Graph error code of the answer ("" when none).
func (a answer) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Error.Code
}

// try sends a request; body is marshalled unless it is []byte or nil.
func (c *tc) try(method, path string, body any) (answer, error) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	url := path
	if len(path) > 0 && path[0] == '/' {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatalf("request: %v", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.tenant != "" {
		req.Header.Set(TenantHeader, c.tenant)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// do is try that fails the test on a transport error.
func (c *tc) do(method, path string, body any) answer {
	c.t.Helper()
	a, err := c.try(method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// groupBody is a create body for a group target.
func groupBody(odataType, group string) map[string]any {
	return map[string]any{
		"@odata.type": odataType,
		"target":      map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group},
	}
}

// mustStatus fails unless a has the wanted status.
func mustStatus(t testing.TB, a answer, want int) {
	t.Helper()
	if a.status != want {
		t.Fatalf("status %d, want %d; body %s", a.status, want, a.body)
	}
}

// waitUntil blocks until the wall clock passes at (honouring a Retry-After
// is waiting for time itself, not synchronising with a goroutine).
func waitUntil(t testing.TB, at time.Time) {
	t.Helper()
	if d := time.Until(at); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		<-timer.C
	}
}
