package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jszwec/csvutil"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/jobs"
)

// Validate reads the whole input and checks every row without emitting
// anything. It returns a file error ([*FileError]) when the input as a whole
// is unusable, an error wrapping [ErrInvalidRows] when some row is invalid and
// opts.SkipInvalid is false, and otherwise nil. The Summary is filled in as
// far as the input was read.
func Validate(ctx context.Context, r io.Reader, opts Options) (Summary, error) {
	return run(ctx, r, opts, nil)
}

// Ingest reads the input in one streaming pass and hands every row to sink
// as it goes: a valid, first-seen row as a job; an invalid or duplicate row as
// its final result. It returns the same errors as [Validate], plus sink and
// context errors. Ingest emits valid rows even when others are invalid;
// callers wanting all-or-nothing run [Validate] first.
func Ingest(ctx context.Context, r io.Reader, opts Options, sink Sink) (Summary, error) {
	if sink == nil {
		return Summary{}, errors.New("ingest: nil sink")
	}
	return run(ctx, r, opts, sink)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// run is Validate (sink == nil) and Ingest.
func run(ctx context.Context, src io.Reader, opts Options, sink Sink) (Summary, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	p := &pass{rows: newRows(ctx, opts, sink)}

	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(src, h), 64<<10)
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	p.in = &boundedReader{r: br, max: MaxRecordLen}
	p.csv = csv.NewReader(p.in)
	p.csv.FieldsPerRecord = -1 // a wrong count is a row error, checked by csvutil
	p.csv.ReuseRecord = true
	p.in.csv = p.csv

	if err := p.readAll(); err != nil {
		return p.summary(), err
	}
	return p.finish(hex.EncodeToString(h.Sum(nil)))
}

// pass is the state of one run over a CSV input.
type pass struct {
	*rows
	in     *boundedReader
	csv    *csv.Reader
	dec    *csvutil.Decoder
	header []string // normalised column names (placeholders for unknown ones)
	names  []string // column names as written, trimmed
}

// rows is what a pass over a CSV file and one over a list of messages
// share: it checks each row, counts it, finds duplicates and hands the row
// to the sink (none when validating).
type rows struct {
	ctx     context.Context
	opts    Options
	sink    Sink
	sum     Summary
	seen    map[[16]byte]int32 // key prefix → first row
	tenants map[string]struct{}
}

func newRows(ctx context.Context, opts Options, sink Sink) *rows {
	p := &rows{ctx: ctx, opts: opts, sink: sink, seen: make(map[[16]byte]int32), tenants: make(map[string]struct{})}
	p.sum.skipInvalid = opts.SkipInvalid
	return p
}

func (p *rows) summary() Summary {
	s := p.sum
	s.Tenants = make([]string, 0, len(p.tenants))
	for t := range p.tenants {
		s.Tenants = append(s.Tenants, t)
	}
	slices.Sort(s.Tenants)
	if len(s.Tenants) == 0 {
		s.Tenants = nil
	}
	return s
}

// finish completes the summary of a pass that read its whole input, whose
// digest is sha, and returns an error wrapping [ErrInvalidRows] when rows
// are invalid and not to be skipped.
func (p *rows) finish(sha string) (Summary, error) {
	p.sum.complete = true
	p.sum.SHA256 = sha
	s := p.summary()
	if s.Invalid > 0 && !p.opts.SkipInvalid {
		return s, fmt.Errorf("ingest: %w: %d of %d rows", ErrInvalidRows, s.Invalid, s.Rows)
	}
	return s, nil
}

func (p *pass) readAll() error {
	if err := p.readHeader(); err != nil {
		return err
	}
	row := 1
	var raw rawRow
	for {
		if err := p.ctx.Err(); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		raw = rawRow{}
		err := p.dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if p.in.err != nil {
			return &FileError{Row: row + 1, Err: ErrRecordTooLong, Detail: fmt.Sprintf("over %d bytes (is this a CSV of assignments?)", MaxRecordLen)}
		}
		row++
		if row > math.MaxInt32 {
			return &FileError{Row: row, Err: ErrTooManyRows, Detail: fmt.Sprintf("more than %d", math.MaxInt32)}
		}
		p.in.recordDone()
		var rerr *RowError
		var pe *csv.ParseError
		switch {
		case err == nil:
			if blank(p.dec.Record()) {
				continue
			}
			rerr = p.checkFields(p.dec.Record())
		case errors.Is(err, csvutil.ErrFieldCount):
			rec := p.dec.Record()
			if blank(rec) {
				continue
			}
			rerr = &RowError{Reason: fmt.Sprintf("wrong number of fields: got %d, want %d", len(rec), len(p.header))}
		case errors.As(err, &pe):
			rerr = &RowError{Reason: fmt.Sprintf("malformed CSV: %v (line %d, column %d)", pe.Err, pe.Line, pe.Column)}
		default:
			return fmt.Errorf("ingest: read row %d: %w", row, err)
		}
		if err := p.row(row, raw, rerr); err != nil {
			return err
		}
	}
	if p.sum.Rows == 0 {
		return &FileError{Err: ErrNoRows, Detail: "the file has a header but no rows"}
	}
	return nil
}

// readHeader reads and checks the header record and builds the decoder.
func (p *pass) readHeader() error {
	rec, err := p.csv.Read()
	switch {
	case p.in.err != nil:
		return &FileError{Row: 1, Err: ErrNotCSV, Detail: fmt.Sprintf("header longer than %d bytes", MaxRecordLen)}
	case err == io.EOF:
		return &FileError{Err: ErrEmpty}
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return &FileError{Row: 1, Err: ErrNotCSV, Detail: fmt.Sprintf("header: %v", pe.Err)}
		}
		return fmt.Errorf("ingest: read header: %w", err)
	}
	p.in.recordDone()
	known := contract.CSVColumns()
	header := make([]string, len(rec))
	names := make([]string, len(rec))
	var unknown, dup []string
	seen := make(map[contract.Column]bool, len(rec))
	for i, name := range rec {
		if strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name) || hasControl(name) {
			return &FileError{Row: 1, Err: ErrNotCSV, Detail: "the header holds binary data"}
		}
		names[i] = strings.TrimSpace(name)
		n := contract.Column(strings.ToLower(names[i]))
		header[i] = string(n)
		if !slices.Contains(known, n) {
			unknown = append(unknown, quote(strings.TrimSpace(name)))
			header[i] = fmt.Sprintf("\x00extra%d", i) // never a field name
			continue
		}
		if seen[n] {
			dup = append(dup, string(n))
		}
		seen[n] = true
	}
	if len(seen) == 0 {
		return &FileError{Row: 1, Err: ErrNoHeader, Detail: "the first row names none of the columns " + columnList(known)}
	}
	if len(dup) > 0 {
		return &FileError{Row: 1, Err: ErrHeader, Detail: "duplicate columns: " + strings.Join(dup, ", ")}
	}
	if len(unknown) > 0 && !p.opts.AllowExtraColumns {
		return &FileError{Row: 1, Err: ErrHeader, Detail: fmt.Sprintf("unknown columns: %s (known: %s)", strings.Join(unknown, ", "), columnList(known))}
	}
	required := []contract.Column{contract.ColKind, contract.ColPolicy, contract.ColTarget}
	if seen[contract.ColPolicyName] {
		required = []contract.Column{contract.ColKind, contract.ColTarget}
	}
	if p.opts.Tenant == "" {
		required = append([]contract.Column{contract.ColTenant}, required...)
	}
	var missing []contract.Column
	for _, c := range required {
		if !seen[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		detail := "missing required columns: " + columnList(missing)
		if slices.Equal(missing, []contract.Column{contract.ColTenant}) {
			detail += " (or give a default tenant)"
		}
		return &FileError{Row: 1, Err: ErrHeader, Detail: detail}
	}
	p.header, p.names = header, names
	p.dec, err = csvutil.NewDecoder(p.csv, header...)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}

// checkFields finds an overlong field in a record.
func (p *pass) checkFields(rec []string) *RowError {
	for i, f := range rec {
		if len(f) > MaxFieldLen {
			col := p.header[i]
			if strings.HasPrefix(col, "\x00") {
				col = p.names[i] // an extra column
			}
			return tooLong(contract.Column(col), len(f))
		}
	}
	return nil
}

// row validates one data row (unless rerr already condemns it), counts it
// and emits it.
func (p *rows) row(row int, raw rawRow, rerr *RowError) error {
	p.sum.Rows++
	var j jobs.Job
	if rerr == nil {
		raw.trim()
		j, rerr = build(raw, p.opts.Tenant, p.opts.AllowUnresolved)
	}
	if rerr != nil {
		rerr.Row = row
		p.sum.Invalid++
		p.sum.ErrorCount++
		if len(p.sum.Errors) < p.opts.MaxErrors {
			p.sum.Errors = append(p.sum.Errors, *rerr)
		}
		if p.sink == nil {
			return nil
		}
		raw.trim()
		tenant := raw.Tenant
		if tenant == "" {
			tenant = p.opts.Tenant
		}
		res := jobs.Result{
			ImportID: p.opts.ImportID, Row: row,
			Tenant: clip(tenant), Kind: clip(raw.Kind), PolicyID: clip(raw.Policy),
			Target: clip(raw.Target), GroupID: clip(raw.Group),
			FilterID: clip(raw.Filter), FilterType: clip(raw.FilterType), Intent: clip(raw.Intent), APIVersion: clip(raw.APIVersion),
			Status: jobs.StatusInvalid, ErrorMessage: rerr.Message(), At: time.Now().UTC(),
		}
		if err := p.sink.Result(p.ctx, res); err != nil {
			return fmt.Errorf("ingest: row %d: result: %w", row, err)
		}
		return nil
	}
	j.ImportID, j.Row = p.opts.ImportID, row
	var k [16]byte
	if _, err := hex.Decode(k[:], []byte(j.Key[:32])); err != nil {
		return fmt.Errorf("ingest: row %d: key: %w", row, err)
	}
	if first, ok := p.seen[k]; ok {
		p.sum.Duplicates++
		if p.sink == nil {
			return nil
		}
		res := jobs.ResultFor(j, jobs.StatusDuplicate)
		res.DuplicateOf = int(first)
		res.At = time.Now().UTC()
		if err := p.sink.Result(p.ctx, res); err != nil {
			return fmt.Errorf("ingest: row %d: result: %w", row, err)
		}
		return nil
	}
	p.seen[k] = int32(row)
	p.sum.Valid++
	if j.Unresolved() {
		p.sum.Unresolved++
	}
	if j.Action == jobs.ActionRemove {
		p.sum.Removals++
	}
	if _, ok := p.tenants[j.Tenant]; !ok {
		p.tenants[j.Tenant] = struct{}{}
	}
	if p.sink == nil {
		return nil
	}
	if err := p.sink.Job(p.ctx, j); err != nil {
		return fmt.Errorf("ingest: row %d: job: %w", row, err)
	}
	return nil
}

// columnList spells columns for a message: "kind, policy_id".
func columnList(cols []contract.Column) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// clip bounds an unvalidated value copied into a result.
func clip(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max]
	}
	return s
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return true
		}
	}
	return false
}

// boundedReader fails once the record being read grows past max bytes, so
// that the CSV reader (which buffers a whole record) cannot be made to hold a
// huge one. It counts bytes handed to the CSV reader since the end of the
// last record; the CSV reader's look-ahead (4 KiB) is the only slack.
type boundedReader struct {
	r        io.Reader
	csv      *csv.Reader
	max      int64
	n        int64 // bytes handed out
	recStart int64 // csv input offset at the end of the last record
	err      error // sticky
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	room := b.max - (b.n - b.recStart)
	if room <= 0 {
		b.err = ErrRecordTooLong
		return 0, b.err
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// recordDone marks the end of a record.
func (b *boundedReader) recordDone() { b.recStart = b.csv.InputOffset() }
