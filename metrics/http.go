package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts of the operational HTTP server and its probes.
const (
	readyTimeout    = 5 * time.Second  // one ready(ctx) call
	maxReadyMessage = 512              // bytes of the readiness error shown
	shutdownTimeout = 5 * time.Second  // graceful shutdown of Serve
	writeTimeout    = 30 * time.Second // one response, including a slow scrape
)

// Handler returns the operational HTTP handler:
//
//   - GET /metrics: everything g gathers, in the Prometheus text format or
//     OpenMetrics when the scraper asks for it. A collector that fails does
//     not fail the whole scrape.
//   - GET /healthz: liveness; 200 "ok" as long as the process serves HTTP.
//   - GET /readyz: readiness; 200 "ready" when ready(ctx) returns nil
//     (or ready is nil), else 503 with the error's text. ready must return
//     errors that are safe to show to anyone who can reach the port: no
//     tokens, secrets or connection strings with credentials.
//
// ready gets the request's context bounded by 5 s.
func Handler(g prometheus.Gatherer, ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready == nil {
			writeText(w, http.StatusOK, "ready")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			msg := err.Error()
			if len(msg) > maxReadyMessage {
				msg = msg[:maxReadyMessage] + "…"
			}
			writeText(w, http.StatusServiceUnavailable, "not ready: "+msg)
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, body)
}

// Serve listens on addr (host:port, e.g. ":9090") and serves h until ctx is
// done, then shuts the server down gracefully (in-flight requests get 5 s).
// It returns nil after a clean shutdown, or the listen or serve error.
// log may be nil.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	// Listening ignores cancellation: a ctx already done still ends in a
	// clean shutdown, not a listen error.
	var lc net.ListenConfig
	ln, err := lc.Listen(context.WithoutCancel(ctx), "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h, log)
}

// ServeListener is [Serve] on a listener the caller opened; it closes ln.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.InfoContext(ctx, "metrics server listening", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-errc:
		// Serve returned on its own: never ErrServerClosed here, since only
		// this function calls Shutdown.
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	log.InfoContext(ctx, "metrics server stopped")
	return nil
}
