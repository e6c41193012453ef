package graph_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// Real azidentity credentials against graphtest's identity provider over
// TLS on loopback.

const (
	homeTenant  = "a0a0a0a0-b1b1-4c2c-8d3d-e4e4e4e4e4e4"
	tenantOne   = "11aa11aa-22bb-4c33-8d44-55ee55ee55ee"
	tenantTwo   = "contoso.onmicrosoft.com"
	otherSecret = "not-the-secret-value"
)

func idpClientOptions(idp *graphtest.IdentityProvider) azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: idp.Client(),
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: idp.URL() + "/"},
	}
}

func secretCredential(t *testing.T, idp *graphtest.IdentityProvider, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(homeTenant, graphtest.DefaultClientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:              idpClientOptions(idp),
		AdditionallyAllowedTenants: []string{"*"},
		DisableInstanceDiscovery:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// tid reads the tenant claim of a JWT-shaped token.
func tid(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not JWT-shaped")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Tid string `json:"tid"`
		Aud string `json:"aud"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Aud != "https://graph.microsoft.com" {
		t.Errorf("token audience %q, want the global Graph host", c.Aud)
	}
	return c.Tid
}

func TestCredentialTokensPerTenantCachedAndInvalidated(t *testing.T) {
	t.Parallel()
	idp := graphtest.NewIdentityProvider(t)
	ts := graph.NewCredentialTokens(secretCredential(t, idp, graphtest.DefaultClientSecret), graph.CloudGlobal)
	ctx := context.Background()

	one, err := ts.Token(ctx, tenantOne)
	if err != nil {
		t.Fatal(err)
	}
	two, err := ts.Token(ctx, tenantTwo)
	if err != nil {
		t.Fatal(err)
	}
	if one == two || tid(t, one) != tenantOne || tid(t, two) != tenantTwo {
		t.Fatalf("tenants share a token or carry the wrong tid (%s, %s)", tid(t, one), tid(t, two))
	}

	// Cached: many concurrent callers, no new token request.
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := ts.Token(ctx, tenantOne); err != nil || got != one {
				t.Errorf("cached token: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := idp.TokenRequests(tenantOne); n != 1 {
		t.Errorf("%d token requests for tenant one, want 1", n)
	}

	// Invalidate forces a new token from the identity provider (not the
	// one azidentity cached), for that tenant only.
	ts.Invalidate(tenantOne)
	fresh, err := ts.Token(ctx, tenantOne)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == one || idp.TokenRequests(tenantOne) != 2 {
		t.Errorf("after Invalidate: same token %v, %d requests", fresh == one, idp.TokenRequests(tenantOne))
	}
	if got, _ := ts.Token(ctx, tenantTwo); got != two || idp.TokenRequests(tenantTwo) != 1 {
		t.Error("invalidating tenant one touched tenant two")
	}
	// And the new token is cached again.
	if got, _ := ts.Token(ctx, tenantOne); got != fresh || idp.TokenRequests(tenantOne) != 2 {
		t.Error("the refreshed token was not cached")
	}
}

func TestCredentialTokensConcurrentFirstFetch(t *testing.T) {
	t.Parallel()
	idp := graphtest.NewIdentityProvider(t)
	ts := graph.NewCredentialTokens(secretCredential(t, idp, graphtest.DefaultClientSecret), graph.CloudGlobal)
	var wg sync.WaitGroup
	tokens := make([]string, 16)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tokens[i], _ = ts.Token(context.Background(), tenantOne)
		}()
	}
	wg.Wait()
	for _, tok := range tokens {
		if tok == "" || tok != tokens[0] {
			t.Fatal("concurrent callers got different or no tokens")
		}
	}
	if n := idp.TokenRequests(tenantOne); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestCredentialTokensRefreshNearExpiry(t *testing.T) {
	t.Parallel()
	idp := graphtest.NewIdentityProvider(t)
	idp.SetExpiresIn(4 * time.Minute) // inside the 5-minute refresh margin
	ts := graph.NewCredentialTokens(secretCredential(t, idp, graphtest.DefaultClientSecret), graph.CloudGlobal)
	ctx := context.Background()
	first, err := ts.Token(ctx, tenantOne)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ts.Token(ctx, tenantOne)
	if err != nil {
		t.Fatal(err)
	}
	if first == second || idp.TokenRequests(tenantOne) != 2 {
		t.Errorf("a token 4 minutes from expiry was reused (%d requests)", idp.TokenRequests(tenantOne))
	}
}

func TestCredentialTokensBadSecret(t *testing.T) {
	t.Parallel()
	idp := graphtest.NewIdentityProvider(t)
	s := graphtest.Start(t, graphtest.Config{})
	ts := graph.NewCredentialTokens(secretCredential(t, idp, otherSecret), graph.CloudGlobal)
	c := newClient(t, graph.Config{BaseURL: s.URL(), Tokens: ts})
	_, err := c.Create(context.Background(), tenantOne, graph.V1, kind(t, "deviceConfigurations"), policyID, groupAssignment(groupA))
	ge := asGraphError(t, err)
	if ge.Class != graph.ClassUnauthorized || ge.StatusCode != 0 {
		t.Errorf("got %+v", ge)
	}
	if strings.Contains(err.Error(), otherSecret) {
		t.Error("the client secret is in the error")
	}
	if s.Stats().Requests != 0 {
		t.Error("a request reached Graph without a token")
	}
}

// TestClientRefreshesRejectedToken is the whole flow: real credential,
// identity provider, client and simulator. The simulator refuses the first
// token as revoked; the client invalidates it, gets a new one and succeeds.
func TestClientRefreshesRejectedToken(t *testing.T) {
	t.Parallel()
	idp := graphtest.NewIdentityProvider(t)
	s := graphtest.Start(t, graphtest.Config{})
	ts := graph.NewCredentialTokens(secretCredential(t, idp, graphtest.DefaultClientSecret), graph.CloudGlobal)
	first, err := ts.Token(context.Background(), tenantOne)
	if err != nil {
		t.Fatal(err)
	}
	s.RejectToken(first)
	c := newClient(t, graph.Config{BaseURL: s.URL(), Tokens: ts})
	k := kind(t, "deviceConfigurations")
	a, err := c.Create(context.Background(), tenantOne, graph.V1, k, policyID, groupAssignment(groupA))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || idp.TokenRequests(tenantOne) != 2 || s.Stats().Requests != 2 {
		t.Errorf("id %q, %d token requests, %d Graph requests; want an id, 2, 2", a.ID, idp.TokenRequests(tenantOne), s.Stats().Requests)
	}
	// The simulator filed it under the token's tenant.
	if got := s.Assignments(tenantOne, k.Name, policyID); len(got) != 1 {
		t.Errorf("simulator holds %d assignments for the tenant", len(got))
	}
}

// The environment tests cannot run in parallel (t.Setenv).

func clearAzureEnv(t *testing.T) {
	for _, v := range []string{graph.EnvTenantID, graph.EnvClientID, graph.EnvClientSecret, graph.EnvCertificatePath, graph.EnvCertificatePassword, graph.EnvAuthorityHost} {
		t.Setenv(v, "")
	}
}

func TestCredentialFromEnvMissing(t *testing.T) {
	clearAzureEnv(t)
	const secret = "s3cr3t-value-never-printed"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing", nil, graph.EnvTenantID},
		{"no client id", map[string]string{graph.EnvTenantID: homeTenant, graph.EnvClientSecret: secret}, graph.EnvClientID},
		{"no secret or certificate", map[string]string{graph.EnvTenantID: homeTenant, graph.EnvClientID: graphtest.DefaultClientID}, graph.EnvClientSecret},
		{"bad tenant", map[string]string{graph.EnvTenantID: "../x", graph.EnvClientID: graphtest.DefaultClientID, graph.EnvClientSecret: secret}, graph.EnvTenantID},
		{"missing certificate file", map[string]string{graph.EnvTenantID: homeTenant, graph.EnvClientID: graphtest.DefaultClientID, graph.EnvCertificatePath: filepath.Join(t.TempDir(), "none.pem"), graph.EnvCertificatePassword: secret}, graph.EnvCertificatePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearAzureEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := graph.CredentialFromEnv(graph.CloudGlobal, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
}

func TestCredentialFromEnvSecret(t *testing.T) {
	clearAzureEnv(t)
	idp := graphtest.NewIdentityProvider(t)
	t.Setenv(graph.EnvTenantID, homeTenant)
	t.Setenv(graph.EnvClientID, graphtest.DefaultClientID)
	t.Setenv(graph.EnvClientSecret, graphtest.DefaultClientSecret)
	opts := idpClientOptions(idp)
	cred, err := graph.CredentialFromEnv(graph.CloudGlobal, &opts)
	if err != nil {
		t.Fatal(err)
	}
	// Any tenant, not only AZURE_TENANT_ID: AdditionallyAllowedTenants "*".
	tok, err := graph.NewCredentialTokens(cred, graph.CloudGlobal).Token(context.Background(), tenantTwo)
	if err != nil || tid(t, tok) != tenantTwo {
		t.Fatalf("token for another tenant: %v", err)
	}
}

func TestCredentialFromEnvCertificate(t *testing.T) {
	clearAzureEnv(t)
	idp := graphtest.NewIdentityProvider(t)
	path := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(path, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(graph.EnvTenantID, homeTenant)
	t.Setenv(graph.EnvClientID, graphtest.DefaultClientID)
	t.Setenv(graph.EnvCertificatePath, path)
	opts := idpClientOptions(idp)
	cred, err := graph.CredentialFromEnv(graph.CloudGlobal, &opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := graph.NewCredentialTokens(cred, graph.CloudGlobal).Token(context.Background(), tenantOne)
	if err != nil || tid(t, tok) != tenantOne {
		t.Fatalf("token with a certificate: %v", err)
	}

	// A PEM without a key is refused, naming the variable.
	certOnly := filepath.Join(t.TempDir(), "cert.pem")
	pemBytes := selfSignedPEM(t)
	if err := os.WriteFile(certOnly, pemBytes[:strings.Index(string(pemBytes), "-----BEGIN PRIVATE KEY")], 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(graph.EnvCertificatePath, certOnly)
	if _, err := graph.CredentialFromEnv(graph.CloudGlobal, &opts); err == nil || !strings.Contains(err.Error(), graph.EnvCertificatePath) {
		t.Errorf("certificate without key: %v", err)
	}
}

// selfSignedPEM returns a certificate and its PKCS#8 key, PEM-encoded.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048) // azidentity signs assertions with RSA only
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bulkassign test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	k8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8})...)
}

// TestCredentialTokensIdentityProviderDown: an unreachable identity
// provider is a transient failure (nothing reached Graph), not an
// authorization verdict.
func TestCredentialTokensIdentityProviderDown(t *testing.T) {
	t.Parallel()
	idp := graphtest.NewIdentityProvider(t)
	opts := idpClientOptions(idp)
	opts.Cloud.ActiveDirectoryAuthorityHost = "https://127.0.0.1:1/" // nothing listens on port 1
	opts.Retry.MaxRetries = -1
	cred, err := azidentity.NewClientSecretCredential(homeTenant, graphtest.DefaultClientID, graphtest.DefaultClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: opts, AdditionallyAllowedTenants: []string{"*"}, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := graphtest.Start(t, graphtest.Config{})
	c := newClient(t, graph.Config{BaseURL: s.URL(), Tokens: graph.NewCredentialTokens(cred, graph.CloudGlobal)})
	_, err = c.List(context.Background(), tenantOne, graph.V1, kind(t, "deviceConfigurations"), policyID)
	if ge := asGraphError(t, err); ge.Class != graph.ClassTransient || ge.Ambiguous {
		t.Errorf("got %+v: %v", ge, err)
	}
}
