package imports

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/bulkassign/bulkassign/contract"
	"github.com/bulkassign/bulkassign/jobs"
)

// Report formats.
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
)

// ErrFormat is wrapped by [CheckFormat] for a report format that is
// neither csv nor json.
var ErrFormat = errors.New("unknown report format")

// CheckFormat accepts the report formats: csv and json.
func CheckFormat(format string) error {
	if format != FormatCSV && format != FormatJSON {
		return fmt.Errorf("%w %q (csv or json)", ErrFormat, format)
	}
	return nil
}

// Report writes the report of imp's rows that have a result so far to w,
// as CSV ([contract.ReportColumns], sorted by row) or JSON (an array of
// objects with the same fields), and returns where imp stands: a row
// without a result yet is left out, [Progress.Err] says whether such rows
// are missing for good.
func (im *Importer) Report(ctx context.Context, imp jobs.Import, w io.Writer, format string) (Progress, error) {
	if err := CheckFormat(format); err != nil {
		return Progress{}, err
	}
	p, err := im.Progress(ctx, imp)
	if err != nil {
		return Progress{}, err
	}
	if err := WriteReport(w, format, p.Results); err != nil {
		return p, fmt.Errorf("write report: %w", err)
	}
	return p, nil
}

// reportRow is one row of a JSON report: the CSV report's columns.
type reportRow struct {
	Row          int             `json:"row"`
	Tenant       string          `json:"tenant_id"`
	Kind         string          `json:"kind"`
	PolicyID     string          `json:"policy_id"`
	Target       string          `json:"target"`
	GroupID      string          `json:"group_id"`
	Status       contract.Status `json:"status"`
	AssignmentID string          `json:"assignment_id"`
	HTTPStatus   int             `json:"http_status"`
	ErrorCode    string          `json:"error_code"`
	ErrorMessage string          `json:"error_message"`
	Attempts     int             `json:"attempts"`
	Key          string          `json:"key"`
	FilterID     string          `json:"filter_id"`
	FilterType   string          `json:"filter_type"`
	Intent       string          `json:"intent"`
	APIVersion   string          `json:"api_version"`
	DuplicateOf  int             `json:"duplicate_of"`
	Action       string          `json:"action"`
	GroupName    string          `json:"group_name"`
	FilterName   string          `json:"filter_name"`
	PolicyName   string          `json:"policy_name"`
}

// rowOf is the report row of r.
func rowOf(r jobs.Result) reportRow {
	row := reportRow{
		Row: r.Row, Tenant: r.Tenant, Kind: r.Kind, PolicyID: r.PolicyID, Target: r.Target, GroupID: r.GroupID,
		Status: r.Status, AssignmentID: r.AssignmentID, HTTPStatus: r.HTTPStatus, ErrorCode: r.ErrorCode,
		ErrorMessage: r.ErrorMessage, Attempts: r.Attempts, Key: r.Key,
		FilterID: r.FilterID, FilterType: r.FilterType, Intent: r.Intent, APIVersion: r.APIVersion,
		DuplicateOf: r.DuplicateOf,
	}
	// The action and names are the job's: a row refused before it became
	// one (invalid) has none.
	if j := r.Job; j != nil {
		row.Action = cmp.Or(j.Action, jobs.ActionAdd)
		row.GroupName, row.FilterName, row.PolicyName = j.GroupName, j.FilterName, j.PolicyName
	}
	return row
}

// WriteReport writes results as the report does ([Importer.Report]), as
// CSV or JSON, in the order given: for a caller that chooses which rows
// to show (the HTTP API's status filter).
func WriteReport(w io.Writer, format string, results []jobs.Result) error {
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(contract.ReportColumns()); err != nil {
			return err
		}
		for _, res := range results {
			r := rowOf(res)
			if err := cw.Write([]string{
				strconv.Itoa(r.Row), r.Tenant, r.Kind, r.PolicyID, r.Target, r.GroupID, string(r.Status),
				r.AssignmentID, itoaOrEmpty(r.HTTPStatus), r.ErrorCode, r.ErrorMessage, strconv.Itoa(r.Attempts), r.Key,
				r.FilterID, r.FilterType, r.Intent, r.APIVersion, itoaOrEmpty(r.DuplicateOf),
				r.Action, r.GroupName, r.FilterName, r.PolicyName,
			}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		rows := make([]reportRow, len(results))
		for i, r := range results {
			rows[i] = rowOf(r)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return CheckFormat(format)
}

// itoaOrEmpty spells a number for a CSV cell; 0 (none) is an empty cell.
func itoaOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
