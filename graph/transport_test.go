package graph

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests classify real transport failures on loopback: the client
// talks to real listeners and httptest servers that misbehave on purpose.

const testTenant = "contoso.onmicrosoft.com"

func newTestClient(t *testing.T, base string, timeout time.Duration) *Client {
	t.Helper()
	c, err := NewClient(Config{BaseURL: base, Tokens: StaticToken("tok-secret-123"), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// rawServer accepts connections on loopback and hands each to handle, in a
// goroutine the test owns and waits for.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// resetConn closes conn with an RST instead of a FIN.
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func postURL(base string) string {
	return base + "/beta/deviceManagement/deviceConfigurations/" + validGUID + "/assignments"
}

func TestTransportConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close()
	c := newTestClient(t, base, 5*time.Second)
	_, e := c.send(context.Background(), OpCreate, testTenant, http.MethodPost, postURL(base), []byte(`{}`))
	if e == nil || e.Class != ClassTransient || e.Ambiguous || !errors.Is(e, syscall.ECONNREFUSED) {
		t.Fatalf("got %+v, want transient, not ambiguous, ECONNREFUSED", e)
	}
	if e.ClientRequestID == "" {
		t.Error("client-request-id not kept for a transport failure")
	}
}

// TestTransportResetBeforeRequestRead: the server takes the connection and
// resets it without reading. With a body larger than the socket buffers the
// client cannot have finished writing: Graph never saw a whole request, so
// it is not ambiguous.
func TestTransportResetBeforeRequestRead(t *testing.T) {
	t.Parallel()
	base := rawServer(t, resetConn)
	c := newTestClient(t, base, 10*time.Second)
	body := make([]byte, 32<<20)
	_, e := c.send(context.Background(), OpCreate, testTenant, http.MethodPost, postURL(base), body)
	if e == nil || e.Class != ClassTransient || e.Ambiguous || e.StatusCode != 0 {
		t.Fatalf("got %+v, want transient and not ambiguous", e)
	}
}

// TestTransportCloseAfterAcceptSmallBody: with a small body the client's
// write usually lands in the kernel before the server closes; from the
// client's side that request cannot be told apart from one the server read
// and applied before dying, so either answer is acceptable here as long as
// it is transient. The deterministic halves are the tests above and below.
func TestTransportCloseAfterAcceptSmallBody(t *testing.T) {
	t.Parallel()
	base := rawServer(t, func(conn net.Conn) { _ = conn.Close() })
	c := newTestClient(t, base, 5*time.Second)
	_, e := c.send(context.Background(), OpCreate, testTenant, http.MethodPost, postURL(base), []byte(`{}`))
	if e == nil || e.Class != ClassTransient || e.StatusCode != 0 || e.Err == nil {
		t.Fatalf("got %+v, want a transient transport error", e)
	}
}

// TestTransportResetAfterBodyRead: the server reads the whole request and
// resets the connection instead of answering: it may have applied it.
func TestTransportResetAfterBodyRead(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		resetConn(conn)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, 5*time.Second)
	_, e := c.send(context.Background(), OpCreate, testTenant, http.MethodPost, postURL(srv.URL), []byte(`{"a":1}`))
	if e == nil || e.Class != ClassTransient || !e.Ambiguous || !errors.Is(e, ErrAmbiguous) {
		t.Fatalf("got %+v, want transient and ambiguous", e)
	}

	// The same failure on a read is not ambiguous: a GET changes nothing.
	_, e = c.send(context.Background(), OpList, testTenant, http.MethodGet, postURL(srv.URL), nil)
	if e == nil || e.Class != ClassTransient || e.Ambiguous {
		t.Fatalf("GET: got %+v, want transient and not ambiguous", e)
	}
}

// blockingServer reads the request, tells the test, and holds the answer
// until the client goes away.
func blockingServer(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	got := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestTransportTimeoutAfterSend(t *testing.T) {
	t.Parallel()
	srv, _ := blockingServer(t)
	c := newTestClient(t, srv.URL, 200*time.Millisecond)
	_, e := c.send(context.Background(), OpCreate, testTenant, http.MethodPost, postURL(srv.URL), []byte(`{"a":1}`))
	if e == nil || e.Class != ClassTransient || !e.Ambiguous || !errors.Is(e, context.DeadlineExceeded) {
		t.Fatalf("got %+v, want transient, ambiguous, deadline exceeded", e)
	}
}

func TestTransportCallerCancelAfterSend(t *testing.T) {
	t.Parallel()
	srv, got := blockingServer(t)
	c := newTestClient(t, srv.URL, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-got // the server has the whole request
		cancel()
	}()
	_, e := c.send(ctx, OpCreate, testTenant, http.MethodPost, postURL(srv.URL), []byte(`{"a":1}`))
	cancel()
	if e == nil || e.Class != ClassTransient || !e.Ambiguous || !errors.Is(e, context.Canceled) {
		t.Fatalf("got %+v, want transient, ambiguous, canceled", e)
	}
}

func TestTransportCanceledBeforeSend(t *testing.T) {
	t.Parallel()
	srv, got := blockingServer(t)
	c := newTestClient(t, srv.URL, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, e := c.send(ctx, OpCreate, testTenant, http.MethodPost, postURL(srv.URL), []byte(`{"a":1}`))
	if e == nil || e.Class != ClassTransient || e.Ambiguous || !errors.Is(e, context.Canceled) {
		t.Fatalf("got %+v, want transient, not ambiguous, canceled", e)
	}
	select {
	case <-got:
		t.Error("the server got a request the caller had canceled")
	default:
	}
}
