package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bulkassign/bulkassign/ingest"
)

// ErrChanged is wrapped by [CSV.Emit] when the file's bytes differ from
// those [CSV.Scan] read.
var ErrChanged = errors.New("the file changed while it was being enqueued")

// CSV is the rows of a CSV file (the format is package ingest's).
type CSV struct {
	open func() (io.ReadCloser, error)
	opts ingest.Options
	sum  ingest.Summary
}

// NewCSV returns the rows of the CSV that open opens, read with opts
// (opts.ImportID is set by Create). open is called once per pass and must
// give the same bytes every time (a file; a stream spooled to one).
func NewCSV(open func() (io.ReadCloser, error), opts ingest.Options) *CSV {
	return &CSV{open: open, opts: opts}
}

// CSVFile returns the rows of the CSV file at path, read with opts.
func CSVFile(path string, opts ingest.Options) *CSV {
	return NewCSV(func() (io.ReadCloser, error) { return os.Open(path) }, opts)
}

// Summary returns the summary of the last pass: the rows, and what is wrong
// with the invalid ones.
func (c *CSV) Summary() ingest.Summary { return c.sum }

// Scan implements [RowSource]: it reads and checks the whole file.
func (c *CSV) Scan(ctx context.Context) (Content, error) {
	var s scan
	sum, err := c.pass(ctx, c.opts, &s)
	if err != nil {
		return Content{}, err
	}
	return s.content(sum, sum.SHA256), nil
}

// Emit implements [RowSource]. It fails with [ErrChanged] when the file is
// no longer the one Scan read (the rows handed to sink so far stay).
func (c *CSV) Emit(ctx context.Context, importID string, sink ingest.Sink) error {
	scanned := c.sum.SHA256
	opts := c.opts
	opts.ImportID = importID
	sum, err := c.pass(ctx, opts, sink)
	if err == nil && sum.SHA256 != scanned {
		err = ErrChanged
	}
	return err
}

// pass reads the file once into sink.
func (c *CSV) pass(ctx context.Context, opts ingest.Options, sink ingest.Sink) (ingest.Summary, error) {
	f, err := c.open()
	if err != nil {
		return ingest.Summary{}, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	c.sum, err = ingest.Ingest(ctx, f, opts, sink)
	return c.sum, err
}
