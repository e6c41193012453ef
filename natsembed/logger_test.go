package natsembed

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestServerLoggerLevels(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *serverLogger)
		want string
	}{
		{"notice", func(l *serverLogger) { l.Noticef("n %d", 1) }, "level=INFO msg=\"n 1\""},
		{"warn", func(l *serverLogger) { l.Warnf("w %d", 2) }, "level=WARN msg=\"w 2\""},
		{"error", func(l *serverLogger) { l.Errorf("e %d", 3) }, "level=ERROR msg=\"e 3\""},
		{"debug", func(l *serverLogger) { l.Debugf("d %d", 4) }, "level=DEBUG msg=\"d 4\""},
		{"trace", func(l *serverLogger) { l.Tracef("t %d", 5) }, "level=DEBUG-4 msg=\"t 5\""},
		{"fatal", func(l *serverLogger) { l.Fatalf("f %d", 6) }, "level=ERROR msg=\"f 6\" component=nats-server fatal=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: levelTrace})))
			tt.log(l)
			if !strings.Contains(buf.String(), tt.want) {
				t.Fatalf("log = %q, want it to contain %q", buf.String(), tt.want)
			}
		})
	}
	l := newServerLogger(slog.New(slog.DiscardHandler))
	l.Fatalf("first")
	l.Fatalf("second")
	if l.fatal() != "first" {
		t.Fatalf("fatal() = %q, want the first fatal message", l.fatal())
	}
}
