package natsembed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

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
