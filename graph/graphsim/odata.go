package graphsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxTop is the largest $top a list accepts (Graph's cap for directory
// lists).
const maxTop = 999

// field is one property of a listed object.
type field struct {
	name  string
	value string
}

// entry is a listed object: its properties in the order Graph shows them.
type entry []field

// get returns the value of the named property ("" and false when absent).
func (e entry) get(name string) (string, bool) {
	for _, f := range e {
		if f.name == name {
			return f.value, true
		}
	}
	return "", false
}

// errFilter is a $filter the simulator does not understand.
var errFilter = errors.New("invalid filter clause")

// parseEq reads the one filter form the simulator supports,
// "<property> eq '<literal>'", where ” inside the literal stands for '.
// The query string is already URL-decoded.
func parseEq(filter string) (prop, literal string, err error) {
	s := strings.TrimSpace(filter)
	prop, rest, ok := strings.Cut(s, " ")
	rest = strings.TrimLeft(rest, " ")
	op, rest, ok2 := strings.Cut(rest, " ")
	rest = strings.TrimSpace(rest)
	if !ok || !ok2 || prop == "" || op != "eq" || len(rest) < 2 || rest[0] != '\'' || rest[len(rest)-1] != '\'' {
		return "", "", errFilter
	}
	body := rest[1 : len(rest)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] != '\'' {
			b.WriteByte(body[i])
			continue
		}
		if i+1 >= len(body) || body[i+1] != '\'' {
			return "", "", errFilter // a lone quote ends the literal early
		}
		b.WriteByte('\'')
		i++
	}
	return prop, b.String(), nil
}

// listEntries answers a GET of a collection of named objects: $filter
// "<nameProp> eq '…'" (exact match), $select of the objects' properties,
// paging. typ names the element type in error messages.
func (s *Server) listEntries(r *http.Request, rq *request, typ, nameProp string, props []string, all []entry) *reply {
	q := r.URL.Query()
	items := all
	if f := q.Get("$filter"); f != "" {
		prop, lit, err := parseEq(f)
		if err != nil {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid filter clause: '"+clip(f)+"' (supported: "+nameProp+" eq 'value').")
		}
		if prop != nameProp {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Could not find a property named '"+clip(prop)+"' on type 'microsoft.graph."+typ+"' that supports this filter.")
		}
		items = nil
		for _, e := range all {
			if v, _ := e.get(nameProp); v == lit {
				items = append(items, e)
			}
		}
	}
	selected := props
	if sel := q.Get("$select"); sel != "" {
		selected = nil
		for p := range strings.SplitSeq(sel, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(props, p) {
				return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Could not find a property named '"+clip(p)+"' on type 'microsoft.graph."+typ+"'.")
			}
			selected = append(selected, p)
		}
	}
	out := make([]json.RawMessage, 0, len(items))
	for _, e := range items {
		var o jsonObject
		for _, f := range e {
			if f.name == propODataType || slices.Contains(selected, f.name) {
				o.value(f.name, f.value)
			}
		}
		out = append(out, o.bytes())
	}
	return s.page(r, rq, out)
}

// page answers one page of items: from $skiptoken (an offset), $top
// (1–999) or PageSize items, with an absolute @odata.nextLink that keeps
// the request's other query options when more follow.
func (s *Server) page(r *http.Request, rq *request, items []json.RawMessage) *reply {
	q := r.URL.Query()
	off, size := 0, s.cfg.PageSize
	if tok := q.Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid $skiptoken.")
		}
		off = n
	}
	if top := q.Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 || n > maxTop {
			return errorReply(rq, http.StatusBadRequest, CodeBadRequest, "Invalid $top: it must be between 1 and "+strconv.Itoa(maxTop)+".")
		}
		size = n
	}
	end := min(off+size, len(items))
	value := []json.RawMessage{}
	if off < len(items) {
		value = items[off:end]
	}
	out := map[string]any{"value": value}
	if end < len(items) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		var keep []string
		for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
			if key, _, _ := strings.Cut(part, "="); part != "" && key != "$skiptoken" && key != "%24skiptoken" {
				keep = append(keep, part)
			}
		}
		keep = append(keep, "$skiptoken="+strconv.Itoa(end))
		out["@odata.nextLink"] = scheme + "://" + r.Host + r.URL.EscapedPath() + "?" + strings.Join(keep, "&")
	}
	b, _ := json.Marshal(out) // raw messages and strings always marshal
	return jsonReply(http.StatusOK, b)
}
