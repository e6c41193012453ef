package graph

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TokenSource hands out Graph access tokens per tenant.
type TokenSource interface {
	// Token returns a bearer token for tenant, cached until shortly before
	// it expires.
	Token(ctx context.Context, tenant string) (string, error)
	// Invalidate drops the tenant's cached token (after Graph answered 401)
	// so that the next Token call fetches a new one.
	Invalidate(tenant string)
}

// ErrNoToken is returned by a [TokenSource] that has no token to give.
var ErrNoToken = errors.New("no access token")

// StaticToken is a [TokenSource] that always returns token, for every
// tenant (BULKASSIGN_GRAPH_TOKEN, or a simulator). Invalidate does nothing:
// a rejected static token stays rejected.
func StaticToken(token string) TokenSource { return staticToken(token) }

type staticToken string

func (s staticToken) Token(context.Context, string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("static token: %w", ErrNoToken)
	}
	return string(s), nil
}

func (staticToken) Invalidate(string) {}

// refreshBefore is how long before its expiry a cached token is replaced.
const refreshBefore = 5 * time.Minute

// NewCredentialTokens is a [TokenSource] over an azcore credential: one
// token per tenant (TokenRequestOptions.TenantID, scope "<graph>/.default"
// of cloud), cached until 5 minutes before it expires, fetched at most once
// at a time per tenant (concurrent callers wait for the one fetch).
//
// After Invalidate, the next fetch for that tenant carries a claims request
// (the "nbf" claim a continuous-access-evaluation challenge carries) so that
// azidentity skips its own token cache and the identity provider issues a
// new token instead of returning the one Graph just refused.
func NewCredentialTokens(cred azcore.TokenCredential, cloud Cloud) TokenSource {
	return &credentialTokens{
		cred:    cred,
		scope:   cloud.Scope(),
		now:     time.Now,
		tenants: make(map[string]*tenantToken),
	}
}

type credentialTokens struct {
	cred  azcore.TokenCredential
	scope string
	now   func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantToken
}

// tenantToken is one tenant's cache entry. Guarded by credentialTokens.mu.
type tenantToken struct {
	token   string
	expires time.Time
	// stale is set by Invalidate: the next fetch must bypass azidentity's
	// cache.
	stale bool
	// fetching is non-nil while one caller fetches; it is closed when the
	// fetch ends (either way).
	fetching chan struct{}
}

func (c *credentialTokens) Token(ctx context.Context, tenant string) (string, error) {
	for {
		c.mu.Lock()
		t := c.tenants[tenant]
		if t == nil {
			t = &tenantToken{}
			c.tenants[tenant] = t
		}
		if t.token != "" && c.now().Before(t.expires.Add(-refreshBefore)) {
			tok := t.token
			c.mu.Unlock()
			return tok, nil
		}
		if wait := t.fetching; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue // the fetch ended: use its token, or try ourselves
			case <-ctx.Done():
				return "", fmt.Errorf("token for tenant %s: %w", tenant, ctx.Err())
			}
		}
		done := make(chan struct{})
		t.fetching = done
		stale := t.stale
		c.mu.Unlock()

		tok, err := c.fetch(ctx, tenant, stale)

		c.mu.Lock()
		t.fetching = nil
		if err == nil {
			t.token, t.expires, t.stale = tok.Token, tok.ExpiresOn, false
		}
		c.mu.Unlock()
		close(done)
		if err != nil {
			return "", fmt.Errorf("token for tenant %s: %w", tenant, err)
		}
		return tok.Token, nil
	}
}

func (c *credentialTokens) fetch(ctx context.Context, tenant string, stale bool) (azcore.AccessToken, error) {
	opts := policy.TokenRequestOptions{Scopes: []string{c.scope}, TenantID: tenant}
	if stale {
		opts.Claims = `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(c.now().Unix(), 10) + `"}}}`
	}
	tok, err := c.cred.GetToken(ctx, opts)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	if tok.Token == "" {
		return azcore.AccessToken{}, ErrNoToken
	}
	return tok, nil
}

func (c *credentialTokens) Invalidate(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tenants[tenant]; t != nil {
		t.token, t.expires, t.stale = "", time.Time{}, true
	}
}

// Environment variables read by [CredentialFromEnv].
const (
	EnvTenantID            = "AZURE_TENANT_ID"
	EnvClientID            = "AZURE_CLIENT_ID"
	EnvClientSecret        = "AZURE_CLIENT_SECRET"
	EnvCertificatePath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	// EnvAuthorityHost overrides the cloud's identity provider (a private
	// or test one), as azidentity's own credentials read it.
	EnvAuthorityHost = "AZURE_AUTHORITY_HOST"
)

// AuthorityHost is the identity provider [CredentialFromEnv] gets tokens
// from unless its options name one: AZURE_AUTHORITY_HOST when set (with a
// trailing slash), else cloud.LoginURL().
func AuthorityHost(cloud Cloud) string {
	if h := os.Getenv(EnvAuthorityHost); h != "" {
		return strings.TrimRight(h, "/") + "/"
	}
	return cloud.LoginURL()
}

// ErrMissingEnv is wrapped when a required environment variable is unset.
var ErrMissingEnv = errors.New("missing environment variable")

// CredentialFromEnv builds an app-only credential from AZURE_TENANT_ID (the
// app's home tenant), AZURE_CLIENT_ID and either AZURE_CLIENT_SECRET or
// AZURE_CLIENT_CERTIFICATE_PATH (PEM or PKCS#12, optional
// AZURE_CLIENT_CERTIFICATE_PASSWORD); the secret wins when both are set.
// The credential may get tokens for any tenant that consented to the app
// (AdditionallyAllowedTenants "*") from [AuthorityHost], unless opts names
// another authority host. When the authority is not the cloud's own (a
// private or test identity provider) instance discovery is off, since only
// Microsoft's hosts answer it.
// Errors name the missing variable, never a secret's value.
func CredentialFromEnv(cloud Cloud, opts *azcore.ClientOptions) (azcore.TokenCredential, error) {
	var co azcore.ClientOptions
	if opts != nil {
		co = *opts
	}
	disableDiscovery := false
	if co.Cloud.ActiveDirectoryAuthorityHost == "" {
		co.Cloud.ActiveDirectoryAuthorityHost = AuthorityHost(cloud)
	}
	if co.Cloud.ActiveDirectoryAuthorityHost != cloud.LoginURL() {
		disableDiscovery = true
	}
	tenant, err := requireEnv(EnvTenantID)
	if err != nil {
		return nil, err
	}
	if err := ValidateTenant(tenant); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvTenantID, err)
	}
	clientID, err := requireEnv(EnvClientID)
	if err != nil {
		return nil, err
	}
	allTenants := []string{"*"}
	if secret := os.Getenv(EnvClientSecret); secret != "" {
		cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:              co,
			AdditionallyAllowedTenants: allTenants,
			DisableInstanceDiscovery:   disableDiscovery,
		})
		if err != nil {
			// azidentity's errors do not echo the secret.
			return nil, fmt.Errorf("client secret credential: %w", err)
		}
		return cred, nil
	}
	path := os.Getenv(EnvCertificatePath)
	if path == "" {
		return nil, fmt.Errorf("%w: set %s or %s", ErrMissingEnv, EnvClientSecret, EnvCertificatePath)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCertificatePath, err)
	}
	certs, key, err := azidentity.ParseCertificates(data, []byte(os.Getenv(EnvCertificatePassword)))
	if err != nil {
		// The parse error names neither the password nor the key.
		return nil, fmt.Errorf("%s: read certificate and key: %w", EnvCertificatePath, err)
	}
	cred, err := azidentity.NewClientCertificateCredential(tenant, clientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
		ClientOptions:              co,
		AdditionallyAllowedTenants: allTenants,
		DisableInstanceDiscovery:   disableDiscovery,
	})
	if err != nil {
		return nil, fmt.Errorf("client certificate credential: %w", err)
	}
	return cred, nil
}

func requireEnv(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%w %s", ErrMissingEnv, name)
	}
	return v, nil
}
