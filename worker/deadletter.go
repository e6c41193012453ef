package worker

import (
	"context"
	"log/slog"
)

// deadLetter terminates a message that is not a valid job, after copying
// it to the dead-letter stream.
func (w *Worker) deadLetter(rc *runCtx, msg message, cause error) {
	reason := cause.Error()
	if len(reason) > 200 {
		reason = reason[:200]
	}
	w.m.MalformedMessage("job")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rc.hard), recordTimeout)
	defer cancel()
	if err := w.store.DeadLetter(ctx, msg, reason); err != nil {
		w.logInfra("dead letter", err)
		_ = msg.NakWithDelay(handBackDelay) // try again later; never lose it
		return
	}
	w.m.DeadLettered()
	w.log.Warn("malformed job message dead-lettered", slog.String("subject", msg.Subject()), slog.String("reason", reason))
	if err := msg.TermWithReason(reason); err != nil {
		w.logInfra("term", err)
	}
}
