package graphtest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/graph/graphtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestHelpersServeUntilTheTestEnds starts both servers and the identity
// provider in a subtest and checks that they answer while it runs and are
// closed when it ends.
func TestHelpersServeUntilTheTestEnds(t *testing.T) {
	var plain, tls *graphtest.Server
	var idp *graphtest.IdentityProvider
	t.Run("running", func(t *testing.T) {
		plain = graphtest.Start(t, graphtest.Config{})
		tls = graphtest.StartTLS(t, graphtest.Config{})
		idp = graphtest.NewIdentityProvider(t)
		for _, s := range []*graphtest.Server{plain, tls} {
			req, _ := http.NewRequest("GET", s.URL()+"/v1.0/deviceManagement/deviceConfigurations/aaaaaaaa-1111-4111-8111-111111111111/assignments", nil)
			req.Header.Set("Authorization", "Bearer "+graphtest.MintToken("contoso.onmicrosoft.com", "app", "", time.Hour))
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %d", s.URL(), resp.StatusCode)
			}
		}
		if !strings.HasPrefix(tls.URL(), "https://") {
			t.Errorf("StartTLS URL %s", tls.URL())
		}
		resp, err := idp.Client().PostForm(idp.URL()+"/contoso.onmicrosoft.com/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {graphtest.DefaultClientID},
			"client_secret": {graphtest.DefaultClientSecret}, "scope": {"https://graph.microsoft.com/.default"},
		})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || idp.IssuedTokens() != 1 {
			t.Errorf("token: %d, issued %d", resp.StatusCode, idp.IssuedTokens())
		}
	})
	for _, u := range []string{plain.URL(), tls.URL(), idp.URL()} {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
		if resp, err := hc.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after its test ended", u)
		}
		hc.CloseIdleConnections()
	}
}
