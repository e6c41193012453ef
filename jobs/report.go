package jobs

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// ReportColumns are the report's CSV columns, in order (a public contract).
var ReportColumns = []string{
	"row", "tenant_id", "kind", "policy_id", "target", "group_id", "status",
	"assignment_id", "http_status", "error_code", "error_message", "attempts", "key",
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
			http := ""
			if r.HTTPStatus != 0 {
				http = strconv.Itoa(r.HTTPStatus)
			}
			if err := cw.Write([]string{
				strconv.Itoa(r.Row), r.Tenant, r.Kind, r.PolicyID, r.Target, r.GroupID, string(r.Status),
				r.AssignmentID, http, r.ErrorCode, r.ErrorMessage, strconv.Itoa(r.Attempts), r.Key,
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
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return fmt.Errorf("unknown report format %q (csv or json)", format)
}
