package imports

import (
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
)

// NewReceipt is the receipt of a request (nil when its body did not parse)
// given what [ParseRequest] or [Importer.Create] returned: the import and
// its counts, or the error in plain words with every invalid assignment
// (Index from 0). Errors that are not the request's fault (the store
// failing, ctx ending) are given as they are: the caller may say more.
func NewReceipt(req *Request, imp jobs.Import, err error) contract.Receipt {
	var sum ingest.Summary
	if req != nil {
		sum = req.Summary()
	}
	return receipt(req, sum, imp, err)
}

// receipt is NewReceipt with the summary of the rows' last pass: the
// request's own, or the one of its rows with their names resolved.
func receipt(req *Request, sum ingest.Summary, imp jobs.Import, err error) contract.Receipt {
	rc := contract.Receipt{Rejected: []contract.Rejection{}}
	if req != nil {
		rc.RequestID = req.ID
		if req.InParts() {
			rc.Parts = req.Parts
		}
		rc.Rejected = rejections(sum)
	}
	var (
		re *RequestError
		se *SourceError
	)
	switch {
	case errors.As(err, &re):
		if re.Index >= 0 {
			rc.Rejected = append(rc.Rejected, contract.Rejection{Index: re.Index, Column: contract.Column(re.Field), Reason: re.Reason})
		}
		rc.Error = re.Error()
	case errors.As(err, &se) && errors.Is(err, ingest.ErrInvalidRows) && req != nil:
		rc.Error = fmt.Sprintf("%d of %d assignments invalid; nothing enqueued", sum.Invalid, sum.Rows)
	case err != nil:
		rc.Error = err.Error()
	default:
		rc.ImportID, rc.Accepted, rc.Duplicates = imp.ID, imp.Jobs, imp.Duplicates
	}
	return rc
}

// rejections lists the invalid assignments of sum.
func rejections(sum ingest.Summary) []contract.Rejection {
	out := make([]contract.Rejection, 0, len(sum.Errors))
	for _, e := range sum.Errors {
		out = append(out, contract.Rejection{Index: e.Row - 1, Column: e.Column, Reason: e.Reason})
	}
	return out
}
