package graphtest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/graph/graphtest"
)

// A simulator behind any http.Server (here httptest); the tenant comes from
// the X-Bulkassign-Tenant header because the token is not a JWT.
func ExampleNew() {
	sim := graphtest.New(graphtest.Config{Window: time.Second, AppWriteLimit: 1})
	hs := httptest.NewServer(sim.Handler())
	defer hs.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	k, _ := graph.LookupKind("deviceConfigurations")
	const policyID = "aaaaaaaa-1111-4111-8111-111111111111"
	path, _ := k.AssignmentsPath(policyID)
	for _, group := range []string{"11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb"} {
		body, _ := k.Body(graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: group}}, graph.V1)
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/v1.0"+path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer static-token")
		req.Header.Set(graphtest.TenantHeader, "contoso.onmicrosoft.com")
		resp, err := hc.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			fmt.Println(resp.StatusCode, "Retry-After:", resp.Header.Get("Retry-After"))
			continue
		}
		a, _ := graph.ParseAssignment(b)
		fmt.Println(resp.StatusCode, a.ID)
	}
	fmt.Println("applied:", sim.CreatesApplied(), "max writes in a window:", sim.MaxWritesInWindow()["contoso.onmicrosoft.com"])
	// Output:
	// 201 aaaaaaaa-1111-4111-8111-111111111111_11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa
	// 429 Retry-After: 1
	// applied: 1 max writes in a window: 1
}

// MintToken makes a JWT-shaped token whose claims name the tenant and app;
// the simulator reads them, so one static token per tenant works.
func ExampleMintToken() {
	tok := graphtest.MintToken("contoso.onmicrosoft.com", "my-app", "", time.Hour)
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var c struct {
		Tid   string `json:"tid"`
		AppID string `json:"appid"`
		Aud   string `json:"aud"`
	}
	_ = json.Unmarshal(payload, &c)
	fmt.Println(c.Tid, c.AppID, c.Aud)
	// Output: contoso.onmicrosoft.com my-app https://graph.microsoft.com
}
