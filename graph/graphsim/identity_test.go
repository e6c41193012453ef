package graphsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

const graphScope = "https://graph.microsoft.com/.default"

// claims decodes a token's payload.
func claims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func credential(t testing.TB, idp *IdentityProvider, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenA, DefaultClientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: idp.Client(),
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: idp.URL() + "/"},
		},
		DisableInstanceDiscovery:   true,
		AdditionallyAllowedTenants: []string{"*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestIdentityProviderWithAzidentity(t *testing.T) {
	t.Parallel()
	idp := newIdentityProvider(t)
	cred := credential(t, idp, DefaultClientSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tokens := map[string]string{}
	for _, tenant := range []string{tenA, tenB, tenA} {
		tok, err := cred.GetToken(ctx, azpolicy.TokenRequestOptions{Scopes: []string{graphScope}, TenantID: tenant})
		if err != nil {
			t.Fatalf("GetToken %s: %v", tenant, err)
		}
		if time.Until(tok.ExpiresOn) < 50*time.Minute {
			t.Errorf("expires on %v", tok.ExpiresOn)
		}
		c := claims(t, tok.Token)
		if c["tid"] != tenant || c["appid"] != DefaultClientID || c["aud"] != "https://graph.microsoft.com" || c["jti"] == "" {
			t.Errorf("claims %v", c)
		}
		if prev, ok := tokens[tenant]; ok && prev != tok.Token {
			t.Errorf("tenant %s: token not cached", tenant)
		}
		tokens[tenant] = tok.Token
	}
	if tokens[tenA] == tokens[tenB] {
		t.Error("two tenants got the same token")
	}
	if idp.TokenRequests(tenA) != 1 || idp.TokenRequests(tenB) != 1 || idp.IssuedTokens() != 2 {
		t.Errorf("requests %d/%d, issued %d", idp.TokenRequests(tenA), idp.TokenRequests(tenB), idp.IssuedTokens())
	}

	// The simulator takes the tenant from the token.
	s := start(t, Config{})
	c := newClient(t, s, "")
	c.token = tokens[tenB]
	mustStatus(t, c.do("POST", "/beta/deviceManagement/deviceConfigurations/"+pol1+"/assignments", groupBody(dcType, grp1)), http.StatusCreated)
	if len(s.Assignments(tenB, "deviceConfigurations", pol1)) != 1 {
		t.Errorf("assignment not in the token's tenant: %v", s.AllAssignments())
	}
}

func TestIdentityProviderRejectsBadSecret(t *testing.T) {
	t.Parallel()
	idp := newIdentityProvider(t)
	cred := credential(t, idp, "wrong")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cred.GetToken(ctx, azpolicy.TokenRequestOptions{Scopes: []string{graphScope}, TenantID: tenB})
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("GetToken with a wrong secret: %v", err)
	}
	if idp.IssuedTokens() != 0 || idp.TokenRequests(tenB) == 0 {
		t.Errorf("issued %d, requests %d", idp.IssuedTokens(), idp.TokenRequests(tenB))
	}
	idp.SetCredentials(DefaultClientID, "wrong")
	if _, err := credential(t, idp, "wrong").GetToken(ctx, azpolicy.TokenRequestOptions{Scopes: []string{graphScope}, TenantID: tenB}); err != nil {
		t.Errorf("after SetCredentials: %v", err)
	}
}

func TestIdentityProviderTokenEndpoint(t *testing.T) {
	t.Parallel()
	idp := newIdentityProvider(t)
	idp.SetExpiresIn(90 * time.Second)
	hc := idp.Client()
	post := func(tenant string, form url.Values) (int, map[string]any) {
		resp, err := hc.PostForm(idp.URL()+"/"+tenant+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	base := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "scope": {graphScope}}
	with := func(kv ...string) url.Values {
		f := url.Values{}
		for k, v := range base {
			f[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		err    string
	}{
		{"secret", tenA, with("client_secret", DefaultClientSecret), 200, ""},
		{"assertion", tenA, with("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", "a.b.c"), 200, ""},
		{"bad assertion", tenA, with("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", "nope"), 401, "invalid_client"},
		{"wrong client", tenA, with("client_id", "someone-else", "client_secret", DefaultClientSecret), 401, "invalid_client"},
		{"no secret", tenA, with(), 401, "invalid_client"},
		{"wrong grant", tenA, with("grant_type", "password", "client_secret", DefaultClientSecret), 400, "unsupported_grant_type"},
		{"bad scope", tenA, with("scope", "User.Read", "client_secret", DefaultClientSecret), 400, "invalid_scope"},
		{"bad tenant", "not_a_tenant", with("client_secret", DefaultClientSecret), 400, "invalid_tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := post(tt.tenant, tt.form)
			if status != tt.status || (tt.err != "" && out["error"] != tt.err) {
				t.Fatalf("got %d %v", status, out)
			}
			if status == 200 && (out["expires_in"] != float64(90) || out["token_type"] != "Bearer") {
				t.Errorf("token answer %v", out)
			}
		})
	}

	resp, err := hc.Get(idp.URL() + "/" + tenA + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var oc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&oc)
	if oc["issuer"] != idp.URL()+"/"+tenA+"/v2.0" || oc["token_endpoint"] != idp.URL()+"/"+tenA+"/oauth2/v2.0/token" || oc["authorization_endpoint"] == nil || oc["jwks_uri"] == nil {
		t.Errorf("openid configuration %v", oc)
	}
}

func TestIdentityProviderInstanceDiscovery(t *testing.T) {
	t.Parallel()
	idp := newIdentityProvider(t)
	resp, err := idp.Client().Get(idp.URL() + "/common/discovery/instance?api-version=1.1&authorization_endpoint=" +
		url.QueryEscape(idp.URL()+"/"+tenA+"/oauth2/v2.0/authorize"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Endpoint string `json:"tenant_discovery_endpoint"`
		Metadata []struct {
			Aliases []string `json:"aliases"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(idp.URL(), "https://")
	if resp.StatusCode != 200 || !strings.HasPrefix(out.Endpoint, idp.URL()+"/") || len(out.Metadata) != 1 || out.Metadata[0].Aliases[0] != host {
		t.Errorf("instance discovery %d %+v", resp.StatusCode, out)
	}
}
