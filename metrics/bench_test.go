package metrics

import (
	"testing"
	"time"
)

// BenchmarkHotPath measures what the worker pays per job: an attempt, a
// finished row, a duration and the in-flight gauge.
func BenchmarkHotPath(b *testing.B) {
	m, _ := newBench(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.InFlight(1)
			m.JobAttempt("contoso.onmicrosoft.com", "created")
			m.RowFinished("contoso.onmicrosoft.com", "deviceConfiguration", "created")
			m.ObserveJobDuration("contoso.onmicrosoft.com", 3*time.Second)
			m.InFlight(-1)
		}
	})
}

// BenchmarkNil measures the cost of recording with metrics turned off.
func BenchmarkNil(b *testing.B) {
	var m *Metrics
	b.ReportAllocs()
	for b.Loop() {
		m.JobAttempt("contoso.onmicrosoft.com", "created")
		m.RowFinished("contoso.onmicrosoft.com", "deviceConfiguration", "created")
	}
}
