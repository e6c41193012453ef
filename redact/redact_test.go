package redact_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkassign/bulkassign/redact"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestString(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("eyJ0eXAi", 190) // 1,520 bytes, token-like
	tests := []struct {
		name    string
		given   string
		secrets []string
		want    string
	}{
		{"one-character secret leaves text intact", "Access token is empty.", []string{"e"}, "Access token is empty."},
		{"short secret leaves text intact", "Access token has expired", []string{"token"}, "Access token has expired"},
		{"long secret replaced everywhere", "a " + long + " b " + long, []string{long}, "a " + redact.Mask + " b " + redact.Mask},
		{"several secrets", "secret=client-secret-1234 pw=hunter2hunter2", []string{"client-secret-1234", "hunter2hunter2", ""}, "secret=" + redact.Mask + " pw=" + redact.Mask},
		{"no secrets", "nothing here", nil, "nothing here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact.String(tt.given, tt.secrets...); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		given, want string
	}{
		{"http://user:PASSWORD@127.0.0.1:8080/x", "http://***@127.0.0.1:8080/x"},
		{"https://graph.microsoft.com", "https://graph.microsoft.com"},
		{"nats://s3cr3t-token@host:4222", "nats://***@host:4222"},
		{"nats://a:pw1@h1:4222,nats://b:pw2@h2:4222", "nats://***@h1:4222,nats://***@h2:4222"},
		{"http://user:pa ss/w#rd@host", "http://***@host"}, // url.Parse refuses it
		{"http://u:p", "http://u:p"},                       // no user information
		{"not a url", "not a url"},
	}
	for _, tt := range tests {
		if got := redact.URL(tt.given); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.given, got, tt.want)
		}
	}
}

func TestURLSecrets(t *testing.T) {
	t.Parallel()
	got := redact.URLSecrets("nats://alice:pw-one-long@h1,nats://tokenonly@h2,nats://h3")
	want := []string{"alice:pw-one-long", "pw-one-long", "tokenonly"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSetWriter(t *testing.T) {
	t.Parallel()
	var s redact.Set
	var buf bytes.Buffer
	w := s.Writer(&buf)
	s.Add("x", "client-secret-value")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { s.Add("another-secret-value") })
	}
	wg.Wait()
	n, err := w.Write([]byte("error: bad client-secret-value for x\n"))
	if err != nil || n != len("error: bad client-secret-value for x\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, err := w.Write([]byte("another-secret-value\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "error: bad "+redact.Mask+" for x\n"+redact.Mask+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if w.Unwrap() != &buf {
		t.Error("Unwrap does not return the underlying writer")
	}
}
