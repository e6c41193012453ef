package graphsim

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/google/uuid"
)

// Credentials an [IdentityProvider] accepts until SetCredentials changes them.
const (
	DefaultClientID     = "b1f7a8c2-5d3e-4f60-9a1b-2c3d4e5f6a7b"
	DefaultClientSecret = "graphtest-client-secret"
)

// IdentityProvider is a Microsoft Entra ID token endpoint over TLS for the
// client-credentials flow, good enough for azidentity and MSAL:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration
//	POST /{tenant}/oauth2/v2.0/token      (client_secret or client_assertion)
//	GET  /{tenant}/discovery/v2.0/keys    (an empty key set)
//	GET  /common/discovery/instance       (instance discovery)
//
// Tokens are JWT-shaped but not signed (the signature part is random
// bytes): tid is the tenant of the request path, appid and azp the client
// id, jti unique. The simulator reads tid and appid from them.
//
// With azidentity set ClientOptions.Transport to [IdentityProvider.Client],
// Cloud.ActiveDirectoryAuthorityHost to URL()+"/", AdditionallyAllowedTenants
// to ["*"] for per-tenant tokens, and DisableInstanceDiscovery: true. The
// last one is required: MSAL sends instance discovery for an authority host
// it does not know to login.microsoftonline.com, not to the authority, so
// without it GetToken tries the internet and fails. The discovery endpoint
// is served anyway for clients that ask the authority itself.
type IdentityProvider struct {
	srv *httptest.Server

	mu        sync.Mutex
	clientID  string
	secret    string
	expiresIn time.Duration
	requests  map[string]int
	issued    int
}

// StartIdentityProvider starts an identity provider on a loopback TLS port
// until [IdentityProvider.Close]. It accepts [DefaultClientID] with
// [DefaultClientSecret]; tokens live an hour.
func StartIdentityProvider() *IdentityProvider {
	idp := &IdentityProvider{
		clientID: DefaultClientID, secret: DefaultClientSecret,
		expiresIn: time.Hour, requests: make(map[string]int),
	}
	idp.srv = httptest.NewTLSServer(http.HandlerFunc(idp.serveHTTP))
	return idp
}

// Close stops the provider, waiting for its requests to finish; it may be
// called more than once.
func (p *IdentityProvider) Close() { p.srv.Close() }

// URL is the authority host, e.g. "https://127.0.0.1:41234" (no slash).
func (p *IdentityProvider) URL() string { return p.srv.URL }

// Client returns an HTTP client that trusts the provider's certificate.
func (p *IdentityProvider) Client() *http.Client { return p.srv.Client() }

// SetCredentials changes the client id and secret the token endpoint
// accepts.
func (p *IdentityProvider) SetCredentials(clientID, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clientID, p.secret = clientID, secret
}

// SetExpiresIn changes the lifetime of tokens issued from now on.
func (p *IdentityProvider) SetExpiresIn(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expiresIn = d
}

// TokenRequests is the number of token requests for tenant (lower case),
// successful or not.
func (p *IdentityProvider) TokenRequests(tenant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[strings.ToLower(tenant)]
}

// IssuedTokens is the number of tokens issued, all tenants.
func (p *IdentityProvider) IssuedTokens() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issued
}

func (p *IdentityProvider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	path := strings.Join(segs[min(1, len(segs)):], "/")
	tenant := strings.ToLower(segs[0])
	switch {
	case r.Method == http.MethodGet && tenant == "common" && path == "discovery/instance":
		p.instanceDiscovery(w, r)
	case !validAuthorityTenant(tenant):
		oauthError(w, http.StatusBadRequest, "invalid_tenant", "AADSTS90002: Tenant not found.")
	case r.Method == http.MethodGet && path == "v2.0/.well-known/openid-configuration":
		p.openIDConfiguration(w, tenant)
	case r.Method == http.MethodGet && path == "discovery/v2.0/keys":
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
	case r.Method == http.MethodPost && path == "oauth2/v2.0/token":
		p.token(w, r, tenant)
	default:
		oauthError(w, http.StatusNotFound, "invalid_request", "AADSTS900561: unknown endpoint.")
	}
}

func validAuthorityTenant(t string) bool {
	return t == "common" || t == "organizations" || graph.ValidateTenant(t) == nil
}

func (p *IdentityProvider) openIDConfiguration(w http.ResponseWriter, tenant string) {
	base := p.srv.URL + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "graphsim",
		"cloud_graph_host_name":                 "graph.microsoft.com",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

func (p *IdentityProvider) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": p.srv.URL + "/common/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []any{map[string]any{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	})
}

// token serves the client-credentials grant.
func (p *IdentityProvider) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: the request body must be a form.")
		return
	}
	p.mu.Lock()
	p.requests[tenant]++
	clientID, secret, ttl := p.clientID, p.secret, p.expiresIn
	p.mu.Unlock()
	f := r.PostForm
	scope := resourceScope(f.Get("scope"))
	switch {
	case f.Get("grant_type") != "client_credentials":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: only client_credentials is supported here.")
		return
	case scope == "":
		oauthError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: the scope must end with /.default.")
		return
	case f.Get("client_id") != clientID:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS700016: application not found in the directory.")
		return
	}
	if assertion := f.Get("client_assertion"); assertion != "" {
		// Certificate credentials: the assertion must be JWT-shaped; its
		// signature is not checked.
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || strings.Count(assertion, ".") != 2 {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS700027: client assertion is not a valid JWT.")
			return
		}
	} else if subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(secret)) != 1 || secret == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: invalid client secret provided.")
		return
	}
	audience := strings.TrimSuffix(scope, "/.default")
	tok := MintToken(tenant, clientID, audience, ttl)
	p.mu.Lock()
	p.issued++
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(ttl.Seconds()),
		"ext_expires_in": int(ttl.Seconds()),
		"access_token":   tok,
	})
}

// resourceScope returns the one "…/.default" scope of a token request,
// ignoring the OpenID scopes MSAL adds; "" when there is not exactly one.
func resourceScope(scope string) string {
	var found []string
	for _, f := range strings.Fields(scope) {
		switch f {
		case "openid", "profile", "offline_access":
			continue
		}
		found = append(found, f)
	}
	if len(found) != 1 || !strings.HasSuffix(found[0], "/.default") {
		return ""
	}
	return found[0]
}

// MintToken returns a JWT-shaped, unsigned access token for tenant and app
// (claims tid, appid, azp, aud, iss, iat, nbf, exp, unique jti, roles). The
// simulator takes the tenant and app from it, so a test can use one as a
// static token. audience defaults to https://graph.microsoft.com.
func MintToken(tenant, appID, audience string, ttl time.Duration) string {
	now := time.Now()
	header := map[string]string{"typ": "JWT", "alg": "RS256", "kid": "graphsim"}
	claims := map[string]any{
		"aud":   cmp.Or(audience, "https://graph.microsoft.com"),
		"iss":   "https://sts.windows.net/" + tenant + "/",
		"tid":   tenant,
		"appid": appID,
		"azp":   appID,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(ttl).Unix(),
		"jti":   uuid.NewString(),
		"roles": []string{"DeviceManagementConfiguration.ReadWrite.All", "DeviceManagementServiceConfig.ReadWrite.All", "DeviceManagementApps.ReadWrite.All", "DeviceManagementScripts.ReadWrite.All"},
	}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": desc, "error_codes": []int{status},
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":  uuid.NewString(), "correlation_id": uuid.NewString(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
