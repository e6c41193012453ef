package service

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timeouts of the HTTP API server: generous enough for a CSV of the API's
// largest size on a slow link and for a plan that reads many tenants.
const (
	apiReadHeaderTimeout = 10 * time.Second
	apiReadTimeout       = 2 * time.Minute
	apiWriteTimeout      = 10 * time.Minute
	apiIdleTimeout       = 2 * time.Minute
	// apiShutdownTimeout bounds how long the requests in flight at the
	// stop (an import being enqueued) may take to finish.
	apiShutdownTimeout = 30 * time.Second
)

// serveAPI starts the HTTP API server, if any, and returns the function
// that stops it (step 1 of the stop): it stops taking requests and lets
// those in flight finish for up to apiShutdownTimeout, or until Abort,
// which cancels them. Calling it again does nothing.
func (s *Service) serveAPI() (stop func()) {
	ln := s.cfg.HTTPListener
	if ln == nil {
		return func() {}
	}
	srv := &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: apiReadHeaderTimeout,
		ReadTimeout:       apiReadTimeout,
		WriteTimeout:      apiWriteTimeout,
		IdleTimeout:       apiIdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Abort cancels the requests in flight.
		BaseContext: func(net.Listener) context.Context { return s.hard },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("HTTP API listening", slog.String("addr", ln.Addr().String()))
	return sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(s.hard, apiShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			s.log.Warn("HTTP API: requests still in flight at the stop were cut off", slog.Any("error", err))
			_ = srv.Close()
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP API server", slog.Any("error", err))
		}
		s.log.Info("HTTP API stopped")
	})
}
