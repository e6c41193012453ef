package main

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkassign/bulkassign/graph/graphtest"
	"github.com/bulkassign/bulkassign/jobs"
)

// randomSecret returns n characters of a token alphabet from rng.
func randomSecret(rng *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// assertNoSecret fails the test when any secret (or its first 32
// characters: a clipped copy) appears in any of the texts.
func assertNoSecret(t *testing.T, texts map[string]string, secrets ...string) {
	t.Helper()
	for where, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s[:min(len(s), 32)]) {
				t.Errorf("a secret (%.6s…) is in %s", s, where)
			}
		}
	}
}

// readIf returns a file's content, or "" when it does not exist.
func readIf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// TestNoSecretAnywhere: a realistic 1,500-character token, a client
// secret, a certificate password and passwords in --graph-url and
// --nats-url never appear in the output of the CLI (logs at debug level,
// errors, progress), its reports or its /metrics.
func TestNoSecretAnywhere(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	token, clientSecret, certPassword, urlPassword := randomSecret(rng, 1500), randomSecret(rng, 40), randomSecret(rng, 24), randomSecret(rng, 16)

	t.Run("token", func(t *testing.T) {
		t.Parallel()
		cfg := fastSim()
		cfg.Latency = 200 * time.Millisecond
		e := newE2E(t, cfg)
		rows := genRows(41, 2, 30)
		e.sim.SetMissingPolicy(rows[0].policy) // failures, with their messages, in logs and report
		path := e.writeCSV("token.csv", rows)
		metricsAddr := graphtest.ClosedAddr(t)
		p := e.startWith([]string{"BULKASSIGN_GRAPH_TOKEN=" + token, "BULKASSIGN_QUIET=false"},
			"run", path, "--log-level", "debug", "--metrics-addr", metricsAddr, "--write-limit", "60", "--write-window", "1s")
		var scraped string
		waitFor(t, time.Minute, "a /metrics scrape during the run", func() bool {
			select {
			case <-p.done:
				t.Fatalf("run ended before /metrics was scraped:\n%s", p.out.String())
			default:
			}
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			scraped = string(b)
			return resp.StatusCode == 200 && strings.Contains(scraped, "bulkassign_")
		})
		waitProc(t, p, 2*time.Minute)
		if p.exitCode() != exitFailed {
			t.Fatalf("exit %d, want %d (some rows fail)\n%s", p.exitCode(), exitFailed, p.out.String())
		}
		if !strings.Contains(p.out.String(), "level=DEBUG") {
			t.Fatal("no debug log: the test tests nothing")
		}
		assertNoSecret(t, map[string]string{"output": p.out.String(), "report": readIf(t, path+".report.csv"), "/metrics": scraped}, token)
	})

	t.Run("client secret and certificate password", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, fastSim())
		idp := graphtest.NewIdentityProvider(t)
		rows := genRows(42, 1, 3)
		path := e.writeCSV("secret.csv", rows)
		caFile := trustFile(t, idp.URL())
		p := e.startWith([]string{
			"BULKASSIGN_GRAPH_TOKEN=",
			"SSL_CERT_FILE=" + caFile,
			"AZURE_TENANT_ID=" + rows[0].tenant,
			"AZURE_CLIENT_ID=" + graphtest.DefaultClientID,
			"AZURE_CLIENT_SECRET=" + clientSecret, // the identity provider refuses it
			"AZURE_CLIENT_CERTIFICATE_PASSWORD=" + certPassword,
			"AZURE_AUTHORITY_HOST=" + idp.URL(),
		}, "run", path, "--log-level", "debug")
		waitProc(t, p, time.Minute)
		report := readIf(t, path+".report.csv")
		if p.exitCode() != exitFailed || !strings.Contains(report, jobs.CodeTenantUnauthorized) {
			t.Fatalf("exit %d, want %d with rows %s\n%s\n%s", p.exitCode(), exitFailed, jobs.CodeTenantUnauthorized, p.out.String(), report)
		}
		if idp.TokenRequests(rows[0].tenant) == 0 {
			t.Fatal("the secret was never sent: the test tests nothing")
		}
		assertNoSecret(t, map[string]string{"output": p.out.String(), "report": report}, clientSecret, certPassword)
	})

	t.Run("URL passwords", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, fastSim())
		path := e.writeCSV("url.csv", genRows(43, 1, 2))
		runs := [][]string{
			{"run", path, "--graph-url", "http://user:" + urlPassword + "@" + strings.TrimPrefix(e.sim.URL(), "http://")},
			{"run", path, "--graph-url", "http://user:" + urlPassword + " x@127.0.0.1:1"}, // not a valid URL
			{"status", "--nats-url", "nats://user:" + urlPassword + "@" + graphtest.ClosedAddr(t)},
			{"status", "--nats-url", "nats://user:" + urlPassword + "%zz@127.0.0.1:1"}, // not a valid URL
		}
		for _, args := range runs {
			p := e.start(append(args, "--log-level", "debug")...)
			waitProc(t, p, time.Minute)
			if p.exitCode() == 0 {
				t.Errorf("%v: exit 0\n%s", args[:2], p.out.String())
			}
			assertNoSecret(t, map[string]string{fmt.Sprintf("output of %s", args[:2]): p.out.String()}, urlPassword)
		}
		if n := e.sim.Stats().Requests; n != 0 {
			t.Errorf("%d requests with a refused --graph-url", n)
		}
	})
}

// trustFile writes the certificate the TLS server at url presents to a PEM
// file, for SSL_CERT_FILE: the process under test then trusts it.
func trustFile(t *testing.T, url string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the test server's own certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []byte
	for _, c := range conn.ConnectionState().PeerCertificates {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
