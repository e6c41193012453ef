package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrEmbeddedStart is wrapped by [StartEmbedded] when the server could not
// start (port in use, unusable data directory, JetStream not enabled).
var ErrEmbeddedStart = errors.New("embedded nats-server did not start")

// ErrDataDirLocked is wrapped (with [ErrEmbeddedStart]) when another
// embedded server, in this or another process, already uses the data
// directory: two servers writing one JetStream store would corrupt it.
var ErrDataDirLocked = errors.New("data directory in use by another embedded nats-server")

// errLocked is returned by lockFile when the lock is held elsewhere.
var errLocked = errors.New("locked")

// lockFileName is the lock file StartEmbedded holds in DataDir.
const lockFileName = "bulkassign.lock"

// EmbeddedConfig configures an in-process nats-server with JetStream.
type EmbeddedConfig struct {
	// DataDir is where JetStream keeps its files. Required: nats-server
	// silently falls back to a temporary folder without one, and a queue
	// that forgets its jobs on restart is worse than no queue. Commands use
	// "./bulkassign-data" unless told otherwise.
	DataDir string
	// Host is the listen address. Default "127.0.0.1". The embedded server
	// has no authentication: listen on another interface only on a trusted
	// network.
	Host string
	// Port is the client port. 0 means nats-server's default, 4222; -1
	// picks a random free port (tests).
	Port int
	// SyncAlways makes JetStream fsync every write before acknowledging
	// it. Default false. A single-node server writes every acknowledged
	// message to the operating system before the ack either way, so a
	// killed process (kill -9) loses nothing acknowledged; what SyncAlways
	// adds is surviving a machine or power failure, at a large cost in
	// publish throughput (see the package documentation, "Durability").
	SyncAlways bool
	// SyncInterval is how often JetStream fsyncs when SyncAlways is off.
	// Default nats-server's (2 minutes).
	SyncInterval time.Duration
	// StartTimeout bounds how long StartEmbedded waits for the server to
	// accept connections. Default 10 s.
	StartTimeout time.Duration
	// Logger receives the server's log, at matching levels. Default: discard.
	Logger *slog.Logger
}

// Embedded is a running in-process nats-server with JetStream.
type Embedded struct {
	srv  *server.Server
	lock *os.File
	once sync.Once
}

// StartEmbedded starts an in-process nats-server with JetStream storing on
// cfg.DataDir and waits until it accepts connections. It installs no signal
// handlers (the caller owns shutdown) and its fatal errors never exit the
// process: they make StartEmbedded return an error wrapping
// [ErrEmbeddedStart] instead. It creates DataDir if needed and locks it
// (file "bulkassign.lock") until Shutdown; a second server on the same
// directory fails with [ErrDataDirLocked].
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is required", ErrEmbeddedStart)
	}
	if cfg.Port < -1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d out of range", ErrEmbeddedStart, cfg.Port)
	}
	if cfg.SyncInterval < 0 {
		return nil, fmt.Errorf("%w: negative SyncInterval", ErrEmbeddedStart)
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	timeout := cmp.Or(cfg.StartTimeout, 10*time.Second)

	opts := &server.Options{
		ServerName:   "bulkassign",
		Host:         cmp.Or(cfg.Host, "127.0.0.1"),
		Port:         cfg.Port, // 0: server default 4222; -1: server.RANDOM_PORT
		JetStream:    true,
		StoreDir:     cfg.DataDir,
		NoSigs:       true,
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("%w: %w", ErrEmbeddedStart, err)
	}
	sl := newServerLogger(log)
	ctx := context.Background()
	srv.SetLoggerV2(sl, log.Enabled(ctx, slog.LevelDebug), log.Enabled(ctx, levelTrace), false)

	srv.Start()
	e := &Embedded{srv: srv, lock: lock}
	if err := e.waitReady(sl, timeout); err != nil {
		e.Shutdown()
		return nil, err
	}
	return e, nil
}

// waitReady waits for the server to accept connections, returning early
// with the server's own words when it reports a fatal error.
func (e *Embedded) waitReady(sl *serverLogger, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if e.srv.ReadyForConnections(50 * time.Millisecond) {
			if !e.srv.JetStreamEnabled() {
				return fmt.Errorf("%w: JetStream is not enabled%s", ErrEmbeddedStart, sl.fatalSuffix())
			}
			return nil
		}
		if msg := sl.fatal(); msg != "" {
			return fmt.Errorf("%w: %s", ErrEmbeddedStart, msg)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: not ready after %s", ErrEmbeddedStart, timeout)
		}
	}
}

// ClientURL is the URL clients connect to, e.g. "nats://127.0.0.1:4222",
// with the real port when Port was -1.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Server returns the underlying server, for options this package does not
// wrap (e.g. nats.InProcessServer).
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits until it has stopped, flushing
// JetStream to disk. Close client connections first. Safe to call more than
// once and concurrently.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		_ = e.lock.Close() // closing releases the lock
	})
}

// lockDataDir creates dir if needed and locks its lock file.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEmbeddedStart, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEmbeddedStart, err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w: %w: %s", ErrEmbeddedStart, ErrDataDirLocked, dir)
		}
		return nil, fmt.Errorf("%w: lock %s: %w", ErrEmbeddedStart, path, err)
	}
	return f, nil
}

// levelTrace is the slog level of nats-server's protocol trace: below
// Debug, so it is only produced when a logger asks for it explicitly.
const levelTrace = slog.LevelDebug - 4

// serverLogger adapts slog to nats-server's Logger. Fatalf logs at error
// level and is remembered; it never exits the process.
type serverLogger struct {
	log *slog.Logger

	mu         sync.Mutex
	firstFatal string
}

func newServerLogger(l *slog.Logger) *serverLogger {
	return &serverLogger{log: l.With(slog.String("component", "nats-server"))}
}

func (l *serverLogger) logf(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}

// Noticef logs at info level.
func (l *serverLogger) Noticef(format string, v ...any) { l.logf(slog.LevelInfo, format, v) }

// Warnf logs at warn level.
func (l *serverLogger) Warnf(format string, v ...any) { l.logf(slog.LevelWarn, format, v) }

// Errorf logs at error level.
func (l *serverLogger) Errorf(format string, v ...any) { l.logf(slog.LevelError, format, v) }

// Debugf logs at debug level.
func (l *serverLogger) Debugf(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }

// Tracef logs at trace level (below debug).
func (l *serverLogger) Tracef(format string, v ...any) { l.logf(levelTrace, format, v) }

// Fatalf logs at error level and records the message; unlike nats-server's
// own logger it does not exit.
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.firstFatal == "" {
		l.firstFatal = msg
	}
	l.mu.Unlock()
	l.log.Error(msg, slog.Bool("fatal", true))
}

func (l *serverLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstFatal
}

func (l *serverLogger) fatalSuffix() string {
	if m := l.fatal(); m != "" {
		return ": " + m
	}
	return ""
}
