package imports

import (
	"context"
	"errors"
	"log/slog"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/jobs"
)

// Submit turns a parsed request into its import and returns its receipt:
// what every intake of import requests (the queue, the HTTP API) calls
// after [ParseRequest]. source is the import's Source (e.g. "nats:<subject>",
// "http"); fallbackKey its idempotency key when the request has no
// request_id ("" for none: the import is then identified by its content).
//
// A request in parts is kept part by part (each checked as it arrives,
// the receipt saying how many arrived) until every part is kept; the part
// that completes it creates the import of all of them, keyed by its
// request_id, and drops the parts once it is enqueued. A part sent again
// once the import exists is answered with it.
//
// The error is nil when the request became an import or a kept part; it
// is the request's fault when [Refused] says so (the receipt then says why
// in plain words), and otherwise a failure of the store or ctx's end (try
// again: the import is resumed, not repeated).
func (im *Importer) Submit(ctx context.Context, req *Request, source, fallbackKey string) (contract.Receipt, error) {
	req.allowNames = im.cfg.Names != nil
	if !req.InParts() {
		return im.create(ctx, req, req.Spec(source, fallbackKey))
	}
	id, ok, err := im.store.ImportForKey(ctx, req.ID)
	if err != nil {
		return contract.Receipt{}, err
	}
	if ok {
		imp, err := im.store.Import(ctx, id)
		if err == nil {
			rc := NewReceipt(req, imp, nil)
			rc.PartsReceived = req.Parts
			return rc, im.store.DeleteParts(ctx, req.ID, req.Parts)
		}
		if !errors.Is(err, jobs.ErrNotFound) {
			return contract.Receipt{}, err
		}
	}
	// Each part is checked when it arrives, so that a bad part is refused
	// now rather than when the last arrives.
	if _, err := req.Scan(ctx); err != nil {
		if ctx.Err() != nil {
			return contract.Receipt{}, ctx.Err()
		}
		err = &SourceError{Err: err}
		return NewReceipt(req, jobs.Import{}, err), err
	}
	if err := im.store.PutPart(ctx, req.ID, req.Part, req.body); err != nil {
		return contract.Receipt{}, err
	}
	parts, err := im.store.Parts(ctx, req.ID)
	if err != nil {
		return contract.Receipt{}, err
	}
	if len(parts) < req.Parts {
		rc := NewReceipt(req, jobs.Import{}, nil)
		rc.PartsReceived = len(parts)
		return rc, nil
	}
	whole, err := AssembleParts(parts, RequestOptions{Tenant: req.Tenant})
	if err != nil {
		if derr := im.store.DeleteParts(ctx, req.ID, req.Parts); derr != nil {
			im.log.WarnContext(ctx, "drop the parts of a refused request", slog.String("request", req.ID), slog.Any("error", derr))
		}
		return NewReceipt(req, jobs.Import{}, err), err
	}
	whole.allowNames = req.allowNames
	rc, err := im.create(ctx, whole, whole.Spec(source, ""))
	rc.PartsReceived = len(parts)
	if err == nil {
		if err := im.store.DeleteParts(ctx, req.ID, req.Parts); err != nil {
			im.log.WarnContext(ctx, "drop the parts of an enqueued request", slog.String("request", req.ID), slog.Any("error", err))
		}
	}
	return rc, err
}

// create creates the import of a whole request, its names resolved when
// the importer resolves names and its rows give some, and returns its
// receipt. A request without names is created as it is, a [Keeper] that
// [Importer.Recover] can complete; one with names is not kept (its
// resolution cannot be replayed from its bytes alone): an interrupted
// enqueue of it is resumed when it is sent or delivered again.
func (im *Importer) create(ctx context.Context, req *Request, spec Spec) (contract.Receipt, error) {
	if im.cfg.Names == nil || !req.givesNames(ctx) {
		imp, err := im.Create(ctx, spec, req)
		return NewReceipt(req, imp, err), err
	}
	names, err := im.cfg.Names()
	if err != nil {
		return contract.Receipt{}, err
	}
	src, err := ResolveNames(req, NamesConfig{Names: names, Ingest: req.options()})
	if err != nil {
		return contract.Receipt{}, err
	}
	imp, err := im.Create(ctx, spec, src)
	return receipt(req, src.Summary(), imp, err), err
}

// Refused reports whether an error of [ParseRequest] or [Importer.Submit]
// is the request's fault (malformed, too large, invalid assignments, a
// reused request_id, parts that disagree): sending it again as it is
// cannot help.
func Refused(err error) bool {
	var (
		re *RequestError
		se *SourceError
	)
	return errors.As(err, &re) || errors.As(err, &se)
}
