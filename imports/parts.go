package imports

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// FormatParts is the [jobs.Request] format of a request sent in parts: its
// body is the request_id, whose parts the store keeps
// ([jobs.Store.PutPart]) until the import is enqueued.
const FormatParts = "parts"

// ErrPartsDisagree is wrapped (in a *[RequestError]) when the parts of a
// request disagree on how many there are, or on name, tenant_id or
// skip_invalid.
var ErrPartsDisagree = errors.New("the parts of the request disagree")

// AssembleParts returns the one request of every part of a request in
// parts (parts 1 to n, each as [ParseRequest] reads it): their
// assignments in part order, the header of part 1. Row numbers continue
// across parts; a rejection's index is its position in the whole. It
// fails with a *[RequestError] wrapping [ErrPartsDisagree] when the parts
// disagree.
func AssembleParts(parts map[int][]byte, opts RequestOptions) (*Request, error) {
	var (
		whole  *Request
		digest = sha256.New()
	)
	for n := 1; n <= len(parts); n++ {
		body, ok := parts[n]
		if !ok {
			return nil, &RequestError{Index: -1, Field: "part", Err: ErrPartsDisagree, Reason: fmt.Sprintf("part %d is missing", n)}
		}
		p, err := ParseRequest(body, RequestOptions{MaxBytes: len(body), Tenant: opts.Tenant})
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", n, err)
		}
		if whole == nil {
			whole = &Request{RequestHeader: p.RequestHeader}
			whole.Part = 0
		}
		h := p.RequestHeader
		if h.Parts != whole.Parts || h.Name != whole.Name || h.Tenant != whole.Tenant || h.SkipInvalid != whole.SkipInvalid {
			return nil, &RequestError{Index: -1, Err: ErrPartsDisagree,
				Reason: fmt.Sprintf("part %d disagrees with part 1 on parts, name, tenant_id or skip_invalid: every part must give the same", n)}
		}
		whole.elems = append(whole.elems, p.elems...)
		digest.Write([]byte(p.sha))
	}
	if whole == nil || len(parts) != whole.Parts {
		return nil, &RequestError{Index: -1, Field: "parts", Err: ErrPartsDisagree, Reason: fmt.Sprintf("%d parts kept, the request has %d", len(parts), whole.partsOrZero())}
	}
	whole.sha = hex.EncodeToString(digest.Sum(nil))
	whole.body = []byte(whole.ID)
	whole.format = FormatParts
	return whole, nil
}

func (r *Request) partsOrZero() int {
	if r == nil {
		return 0
	}
	return r.Parts
}
