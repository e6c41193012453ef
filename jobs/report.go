package jobs

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// ReportColumns are the report's CSV columns, in order (a public contract:
// columns are only ever appended).
var ReportColumns = []string{
	"row", "tenant_id", "kind", "policy_id", "target", "group_id", "status",
	"assignment_id", "http_status", "error_code", "error_message", "attempts", "key",
	"filter_id", "filter_type", "intent", "api_version", "duplicate_of",
}

// reportRow is one row of a JSON report: the CSV report's columns.
type reportRow struct {
	Row          int    `json:"row"`
	Tenant       string `json:"tenant_id"`
	Kind         string `json:"kind"`
	PolicyID     string `json:"policy_id"`
	Target       string `json:"target"`
	GroupID      string `json:"group_id"`
	Status       Status `json:"status"`
	AssignmentID string `json:"assignment_id"`
	HTTPStatus   int    `json:"http_status"`
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	Attempts     int    `json:"attempts"`
	Key          string `json:"key"`
	FilterID     string `json:"filter_id"`
	FilterType   string `json:"filter_type"`
	Intent       string `json:"intent"`
	APIVersion   string `json:"api_version"`
	DuplicateOf  int    `json:"duplicate_of"`
}

// WriteReport writes results as CSV (ReportColumns) or JSON (an array of
// objects with the same fields), in the order given.
func WriteReport(w io.Writer, format string, results []Result) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(ReportColumns); err != nil {
			return err
		}
		for _, r := range results {
			if err := cw.Write([]string{
				strconv.Itoa(r.Row), r.Tenant, r.Kind, r.PolicyID, r.Target, r.GroupID, string(r.Status),
				r.AssignmentID, itoaOrEmpty(r.HTTPStatus), r.ErrorCode, r.ErrorMessage, strconv.Itoa(r.Attempts), r.Key,
				r.FilterID, r.FilterType, r.Intent, r.APIVersion, itoaOrEmpty(r.DuplicateOf),
			}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		rows := make([]reportRow, len(results))
		for i, r := range results {
			rows[i] = reportRow{
				Row: r.Row, Tenant: r.Tenant, Kind: r.Kind, PolicyID: r.PolicyID, Target: r.Target, GroupID: r.GroupID,
				Status: r.Status, AssignmentID: r.AssignmentID, HTTPStatus: r.HTTPStatus, ErrorCode: r.ErrorCode,
				ErrorMessage: r.ErrorMessage, Attempts: r.Attempts, Key: r.Key,
				FilterID: r.FilterID, FilterType: r.FilterType, Intent: r.Intent, APIVersion: r.APIVersion,
				DuplicateOf: r.DuplicateOf,
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return fmt.Errorf("unknown report format %q (csv or json)", format)
}

// itoaOrEmpty spells a number for a CSV cell; 0 (none) is an empty cell.
func itoaOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
