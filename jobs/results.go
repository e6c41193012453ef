package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// resultSubject is the results subject of an import.
func resultSubject(importID string) string { return ResultsSubjectPrefix + importID }

// PutResult stores the result of one row on the import's results subject
// and waits for JetStream's ack. The message id is importID:row, so a row
// recorded twice within the duplicate window is stored once; beyond it,
// [Store.Results] still keeps the first record of each row.
func (s *Store) PutResult(ctx context.Context, r Result) error {
	if err := ValidateImportID(r.ImportID); err != nil {
		return fmt.Errorf("put result: %w", err)
	}
	if r.Row < 1 {
		return fmt.Errorf("put result: row %d: want >= 1", r.Row)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("put result: %w", err)
	}
	msg := &nats.Msg{
		Subject: resultSubject(r.ImportID),
		Data:    data,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{r.ImportID + ":" + strconv.Itoa(r.Row)}},
	}
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("put result %s row %d: %w", r.ImportID, r.Row, err)
	}
	return nil
}

// Results returns the results of an import stored when the call began: one
// per row (the first record of each row wins), sorted by row.
func (s *Store) Results(ctx context.Context, importID string) ([]Result, error) {
	if err := ValidateImportID(importID); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	subj := resultSubject(importID)
	last, err := s.results.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return []Result{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("results %s: %w", importID, err)
	}
	byRow := map[int]Result{}
	err = s.readResults(ctx, subj, last.Sequence, func(r Result) {
		if _, seen := byRow[r.Row]; !seen {
			byRow[r.Row] = r
		}
	})
	if err != nil {
		return nil, fmt.Errorf("results %s: %w", importID, err)
	}
	out := make([]Result, 0, len(byRow))
	for _, r := range byRow {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Result) int { return a.Row - b.Row })
	return out, nil
}

// WatchResults calls fn once for each row of the import that has a result:
// first for those already stored, then for new ones as they arrive, until
// ctx is done; it then returns ctx.Err(). Calls are sequential, in stream
// order; the first record of each row wins.
func (s *Store) WatchResults(ctx context.Context, importID string, fn func(Result)) error {
	if err := ValidateImportID(importID); err != nil {
		return fmt.Errorf("watch results: %w", err)
	}
	seen := map[int]bool{}
	err := s.readResults(ctx, resultSubject(importID), 0, func(r Result) {
		if !seen[r.Row] {
			seen[r.Row] = true
			fn(r)
		}
	})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("watch results %s: %w", importID, err)
}

// ResultCount returns the number of result records stored for an import:
// one per row that has a result, plus any row recorded again after the
// duplicate window. Cheap: one stream info request, for progress displays.
func (s *Store) ResultCount(ctx context.Context, importID string) (uint64, error) {
	if err := ValidateImportID(importID); err != nil {
		return 0, fmt.Errorf("result count: %w", err)
	}
	subj := resultSubject(importID)
	info, err := s.results.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, fmt.Errorf("result count %s: %w", importID, err)
	}
	return info.State.Subjects[subj], nil
}

// readResults reads the results on subj in stream order through an
// ordered consumer, calling fn for each, until it has read the record with
// stream sequence until (0: never), ctx is done or reading fails.
// Unreadable records are logged and skipped.
func (s *Store) readResults(ctx context.Context, subj string, until uint64, fn func(Result)) error {
	cons, err := s.results.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(msg.Data(), &r); err != nil || r.Row < 1 {
			s.log.WarnContext(ctx, "skipping unreadable result record",
				slog.String("subject", subj), slog.Uint64("seq", md.Sequence.Stream), slog.Any("error", err))
		} else {
			fn(r)
		}
		if until != 0 && md.Sequence.Stream >= until {
			return nil
		}
	}
}

// ImportProgress is where an import stands, as [Store.Progress] finds it.
type ImportProgress struct {
	// Results holds one result per row that has one, sorted by row.
	Results []Result
	// Waiting is true while a row without a result may still get one: the
	// import is not fully enqueued, or jobs of its tenants are queued.
	Waiting bool
	// Missing counts the rows without a result that can no longer get one
	// (not Waiting, yet rows lack a result: a result or a job was lost,
	// e.g. in a damaged block of the store). 0 while Waiting.
	Missing int
	// MissingRows names the missing rows; empty when the import does not
	// record its row numbers (older imports), which only count them.
	MissingRows RowSet
}

// Complete reports whether every row of the import has its result.
func (p ImportProgress) Complete() bool { return !p.Waiting && p.Missing == 0 }

// Progress reads an import's results and tells whether the rows without a
// result are still on their way or missing. No result can arrive after the
// job of its row has left the jobs stream (a worker records the result
// before it acknowledges the job), so once no job of the import's tenants
// is queued, a row without a result has lost it for good. The queue is read
// before the results, so a job finished in between is not taken for lost.
func (s *Store) Progress(ctx context.Context, imp Import) (ImportProgress, error) {
	var p ImportProgress
	pending, err := s.PendingTenants(ctx)
	if err != nil {
		return p, fmt.Errorf("progress %s: %w", imp.ID, err)
	}
	queued := map[string]bool{}
	for t, n := range pending {
		queued[tenantToken(t)] = n > 0
	}
	p.Waiting = !imp.Enqueued
	for _, t := range imp.Tenants {
		p.Waiting = p.Waiting || queued[tenantToken(t)]
	}
	if p.Results, err = s.Results(ctx, imp.ID); err != nil {
		return p, err
	}
	if p.Waiting || len(p.Results) >= imp.Rows {
		return p, nil
	}
	p.Missing = imp.Rows - len(p.Results)
	if imp.RowSet.Len() == 0 {
		return p, nil
	}
	have := make(map[int]bool, len(p.Results))
	for _, r := range p.Results {
		have[r.Row] = true
	}
	for row := range imp.RowSet.Rows() {
		if !have[row] {
			p.MissingRows.Add(row)
		}
	}
	p.Missing = p.MissingRows.Len()
	return p, nil
}
