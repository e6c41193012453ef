package worker

import (
	"errors"
	"time"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/worker/label"
)

// verdictKind is what happens to a message after one handling.
type verdictKind int

const (
	// vDone: the row has its final status; record it and Ack.
	vDone verdictKind = iota + 1
	// vRetry: a failed attempt; remember the error and NakWithDelay, unless
	// the retry would start after the job's deadline (then vDone failed).
	vRetry
	// vHandBack: not an attempt (shutdown, NATS trouble, a duplicate
	// delivery); NakWithDelay without recording anything.
	vHandBack
)

// verdict is the result of one handling of a job.
type verdict struct {
	kind         verdictKind
	status       jobs.Status // vDone
	assignmentID string
	outcome      bool // vDone: store an outcome (the assignment exists)
	httpStatus   int
	code         string // Graph error code, or one of this package's codes
	message      string
	requestID    string
	delay        time.Duration // vRetry, vHandBack
	label        label.Outcome // JobAttempt outcome
}

func done(s jobs.Status, id string, httpStatus int) verdict {
	return verdict{kind: vDone, status: s, assignmentID: id, outcome: true, httpStatus: httpStatus, label: statusOutcome(s)}
}

func handBack(d time.Duration, outcome label.Outcome) verdict {
	return verdict{kind: vHandBack, delay: d, label: outcome}
}

// failed is a final failure carrying Graph's error details.
func failed(err error, outcome label.Outcome) verdict {
	v := verdict{kind: vDone, status: jobs.StatusFailed, label: outcome}
	v.setError(err)
	return v
}

// setError copies err's details (status, Graph code, message, request-id).
func (v *verdict) setError(err error) {
	var ge *graph.Error
	if errors.As(err, &ge) {
		v.httpStatus, v.code, v.requestID = ge.StatusCode, ge.Code, ge.RequestID
		v.message = ge.Error()
		return
	}
	v.message = err.Error()
}

// recorded is the verdict for a key whose outcome this import recorded:
// the recorded status when this row recorded it (the crash came between
// outcome and result), existing for another row (absent for a removal).
func recorded(o jobs.Outcome, row int) verdict {
	v := verdict{kind: vDone, status: jobs.StatusExisting, assignmentID: o.AssignmentID, label: label.Existing}
	if o.Status == jobs.StatusRemoved || o.Status == jobs.StatusAbsent {
		v.status, v.label = jobs.StatusAbsent, label.Absent
	}
	if o.Row == row {
		v.status, v.label = o.Status, statusOutcome(o.Status)
	}
	return v
}

// statusOutcome is the attempt outcome of a verdict that settles its row
// with status s.
func statusOutcome(s jobs.Status) label.Outcome {
	switch s {
	case jobs.StatusCreated:
		return label.Created
	case jobs.StatusExisting:
		return label.Existing
	case jobs.StatusDuplicate:
		return label.Duplicate
	case jobs.StatusInvalid:
		return label.Invalid
	case jobs.StatusConflict:
		return label.Conflict
	case jobs.StatusRemoved:
		return label.Removed
	case jobs.StatusAbsent:
		return label.Absent
	}
	return label.Failed
}
