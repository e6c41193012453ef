package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulkassign/bulkassign/worker/label"
)

// TestEveryWorkerLabelAccepted: every outcome and store operation the
// worker can report is counted under its own value, none as "other".
func TestEveryWorkerLabelAccepted(t *testing.T) {
	t.Parallel()
	m, _ := newTest(t)
	for _, o := range label.Outcomes() {
		m.JobAttempt("t1", o)
		if got := testutil.ToFloat64(m.attempts.WithLabelValues("t1", string(o))); got != 1 {
			t.Errorf("JobAttempt(%q) counted %v under %q, want 1", o, got, o)
		}
	}
	if got := testutil.ToFloat64(m.attempts.WithLabelValues("t1", otherValue)); got != 0 {
		t.Errorf("%v attempt outcomes counted as other, want 0", got)
	}
	for _, op := range label.StoreOps() {
		m.StoreError(op)
		if got := testutil.ToFloat64(m.storeErrors.WithLabelValues(string(op))); got != 1 {
			t.Errorf("StoreError(%q) counted %v under %q, want 1", op, got, op)
		}
	}
	if got := testutil.ToFloat64(m.storeErrors.WithLabelValues(otherValue)); got != 0 {
		t.Errorf("%v store operations counted as other, want 0", got)
	}
}
