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

// WriteReport writes results as CSV (ReportColumns) or JSON (an array of
// Result objects), in the order given.
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
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if results == nil {
			results = []Result{}
		}
		return enc.Encode(results)
	}
	return fmt.Errorf("unknown report format %q (csv or json)", format)
}
