package worker

import (
	"time"

	"github.com/bulkassign/bulkassign/jobs"
)

// putIntent records that a write of the key is about to be sent (settled
// false), or stores the last error of a failed attempt.
func (h *handling) putIntent(settled bool, last *verdict) error {
	in := jobs.Intent{
		Owner: h.owner, Attempt: h.intent.Attempt, At: time.Now(),
		ImportID: h.job.ImportID, Row: h.job.Row, Settled: settled,
		LastHTTPStatus: h.intent.LastHTTPStatus, LastCode: h.intent.LastCode,
		LastMessage: h.intent.LastMessage, LastRequestID: h.intent.LastRequestID,
		Tries: h.attempt, TriesImportID: h.job.ImportID, TriesRow: h.job.Row,
	}
	if !settled && last == nil {
		in.Attempt++
		in.AssignmentID = h.removing
	}
	if last != nil {
		in.LastHTTPStatus, in.LastCode, in.LastMessage, in.LastRequestID = last.httpStatus, last.code, last.message, last.requestID
		if !settled && h.hasIntent && h.intent.ImportID != "" {
			// Keep who wrote the unsettled intent: a reconcile must credit
			// the write to that row.
			in.ImportID, in.Row, in.AssignmentID = h.intent.ImportID, h.intent.Row, h.intent.AssignmentID
		}
	}
	ctx, cancel := h.recordCtx()
	defer cancel()
	if err := h.w.store.PutIntent(ctx, h.job.Key, in); err != nil {
		return err
	}
	h.intent, h.hasIntent = in, true
	if !settled {
		h.inDoubt = true
	}
	return nil
}
