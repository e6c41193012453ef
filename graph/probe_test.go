package graph_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// TestProbe: one read per probe; 200 and 404 are answers (reachable,
// token accepted); a token refused after the refresh is ErrUnauthorized.
func TestProbe(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t, graphtest.Config{})
	c := simClient(t, s)
	ctx := context.Background()
	k := kind(t, "deviceConfigurations")

	if err := c.Probe(ctx, simTenant, graph.V1, k, policyID); err != nil {
		t.Fatalf("probe of a reachable tenant: %v", err)
	}
	if n := s.Stats().Requests; n != 1 {
		t.Errorf("probe made %d requests, want 1", n)
	}

	const missing = "9a9a9a9a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	s.SetMissingPolicy(missing)
	err := c.Probe(ctx, simTenant, graph.V1, k, missing)
	ge := asGraphError(t, err)
	if ge.StatusCode != 404 || ge.Op != graph.OpProbe || errors.Is(err, graph.ErrUnauthorized) || errors.Is(err, graph.ErrUnreachable) {
		t.Errorf("probe of a missing policy: %+v", ge)
	}

	s.RejectToken("sim-token")
	err = c.Probe(ctx, simTenant, graph.V1, k, policyID)
	if ge := asGraphError(t, err); !errors.Is(err, graph.ErrUnauthorized) || ge.StatusCode != 401 || ge.Identity {
		t.Errorf("probe with a rejected token: %+v", ge)
	}
}

// TestClientUnreachable: a closed port and a name that does not resolve
// are Unreachable transient failures, never ambiguous, for reads and
// writes; the error names the host.
func TestClientUnreachable(t *testing.T) {
	t.Parallel()
	if _, err := net.DefaultResolver.LookupHost(context.Background(), "nonexistent.invalid"); err == nil {
		t.Fatal("nonexistent.invalid resolves on this machine")
	}
	for _, base := range []string{"http://" + graphtest.ClosedAddr(t), "http://nonexistent.invalid"} {
		c := newClient(t, graph.Config{BaseURL: base, Tokens: graph.StaticToken("t"), Timeout: 5 * time.Second})
		k := kind(t, "deviceConfigurations")
		_, errList := c.List(context.Background(), tenant, graph.V1, k, policyID)
		_, errCreate := c.Create(context.Background(), tenant, graph.V1, k, policyID, groupAssignment(groupA))
		for _, err := range []error{errList, errCreate} {
			ge := asGraphError(t, err)
			if !errors.Is(err, graph.ErrUnreachable) || !errors.Is(err, graph.ErrTransient) || ge.Ambiguous || ge.Identity {
				t.Errorf("%s: %+v", base, ge)
			}
			if host := strings.TrimPrefix(base, "http://"); !strings.Contains(err.Error(), host) {
				t.Errorf("%s: error does not name the host: %v", base, err)
			}
		}
	}
}

// TestClientCanceledIsNotUnreachable: a caller giving up is not a verdict
// on the endpoint.
func TestClientCanceledIsNotUnreachable(t *testing.T) {
	t.Parallel()
	c := newClient(t, graph.Config{BaseURL: "http://" + graphtest.ClosedAddr(t), Tokens: graph.StaticToken("t")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Probe(ctx, tenant, graph.V1, kind(t, "deviceConfigurations"), policyID)
	if !errors.Is(err, context.Canceled) || errors.Is(err, graph.ErrUnreachable) {
		t.Errorf("got %v", err)
	}
}

// TestTokenErrors: an identity provider that does not resolve is
// Identity+Unreachable; a refused secret is Identity+Unauthorized; Graph
// is never asked.
func TestTokenErrors(t *testing.T) {
	t.Parallel()
	idp := graphtest.NewIdentityProvider(t)
	s := graphtest.Start(t, graphtest.Config{})
	opts := idpClientOptions(idp)
	opts.Cloud.ActiveDirectoryAuthorityHost = "https://nonexistent.invalid/"
	opts.Retry.MaxRetries = -1
	down, err := azidentity.NewClientSecretCredential(homeTenant, graphtest.DefaultClientID, graphtest.DefaultClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: opts, AdditionallyAllowedTenants: []string{"*"}, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	k := kind(t, "deviceConfigurations")
	c := newClient(t, graph.Config{BaseURL: s.URL(), Tokens: graph.NewCredentialTokens(down, graph.CloudGlobal)})
	err = c.Probe(context.Background(), tenantOne, graph.V1, k, policyID)
	if ge := asGraphError(t, err); !ge.Identity || !errors.Is(err, graph.ErrUnreachable) || ge.StatusCode != 0 {
		t.Errorf("unresolvable identity provider: %+v: %v", ge, err)
	}

	c = newClient(t, graph.Config{BaseURL: s.URL(), Tokens: graph.NewCredentialTokens(secretCredential(t, idp, otherSecret), graph.CloudGlobal)})
	err = c.Probe(context.Background(), tenantOne, graph.V1, k, policyID)
	if ge := asGraphError(t, err); !ge.Identity || !errors.Is(err, graph.ErrUnauthorized) || errors.Is(err, graph.ErrUnreachable) {
		t.Errorf("refused secret: %+v: %v", ge, err)
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached Graph without a token", n)
	}
}

// TestAuthorityHost: AZURE_AUTHORITY_HOST overrides the cloud's login
// host. (Not parallel: t.Setenv.)
func TestAuthorityHost(t *testing.T) {
	t.Setenv(graph.EnvAuthorityHost, "")
	if got := graph.AuthorityHost(graph.CloudUSGov); got != graph.CloudUSGov.LoginURL() {
		t.Errorf("default: %s", got)
	}
	t.Setenv(graph.EnvAuthorityHost, "https://login.example.test")
	if got := graph.AuthorityHost(graph.CloudGlobal); got != "https://login.example.test/" {
		t.Errorf("override: %s", got)
	}
}
