package worker

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	const s = time.Second
	tests := []struct {
		name    string
		attempt int
		base    time.Duration
		ceiling time.Duration
		u       float64
		want    time.Duration
	}{
		{"first attempt, top of range", 1, s, time.Minute, 0.999999999, s - 1},
		{"first attempt, middle", 1, s, time.Minute, 0.5, s / 2},
		{"zero draw is floored", 1, s, time.Minute, 0, minBackoff},
		{"doubles per attempt", 3, s, time.Minute, 0.5, 2 * s},
		{"capped at ceiling", 20, s, 5 * time.Minute, 0.5, 150 * s},
		{"capped with full draw", 40, s, 5 * time.Minute, 1, 5 * time.Minute},
		{"attempt 0 is the first", 0, s, time.Minute, 0.5, s / 2},
		{"ceiling below base is base", 5, s, time.Millisecond, 0.5, s / 2},
		{"floor never exceeds the cap", 1, 10 * time.Millisecond, time.Minute, 0, 10 * time.Millisecond},
		{"draw above 1 is clamped", 2, s, time.Minute, 7, 2 * s},
		{"no base means default", 2, 0, time.Minute, 0.5, baseBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backoff(tt.attempt, tt.base, tt.ceiling, tt.u); got != tt.want {
				t.Errorf("backoff(%d, %s, %s, %v) = %s, want %s", tt.attempt, tt.base, tt.ceiling, tt.u, got, tt.want)
			}
		})
	}
}

func TestBackoffGrowsAndStaysBounded(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt < 200; attempt++ {
		for _, u := range []float64{0, 0.25, 0.5, 0.999} {
			d := backoff(attempt, time.Second, 5*time.Minute, u)
			if d < minBackoff || d > 5*time.Minute {
				t.Fatalf("backoff(%d, u=%v) = %s, outside [%s, 5m]", attempt, u, d, minBackoff)
			}
		}
	}
}

func TestRetryFits(t *testing.T) {
	t.Parallel()
	pub := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deadline := jobDeadline(pub, 24*time.Hour)
	tests := []struct {
		name  string
		now   time.Time
		delay time.Duration
		want  bool
	}{
		{"fresh job", pub.Add(time.Minute), time.Minute, true},
		{"ends exactly at deadline", pub.Add(23 * time.Hour), time.Hour, true},
		{"would start after deadline", pub.Add(23 * time.Hour), time.Hour + time.Nanosecond, false},
		{"already past", pub.Add(25 * time.Hour), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryFits(tt.now, deadline, tt.delay); got != tt.want {
				t.Errorf("retryFits = %v, want %v", got, tt.want)
			}
		})
	}
}
