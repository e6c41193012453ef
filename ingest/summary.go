package ingest

// Summary describes one pass over an input.
type Summary struct {
	// Rows counts data rows (blank records excluded); Rows == Valid +
	// Invalid + Duplicates + Failed once the whole input has been read.
	Rows int `json:"rows"`
	// Valid counts rows that became (or would become) jobs.
	Valid int `json:"valid"`
	// Invalid counts rows that failed validation.
	Invalid int `json:"invalid"`
	// Duplicates counts valid rows repeating an earlier row's assignment.
	Duplicates int `json:"duplicates"`
	// Failed counts rows that could not be checked against Graph: a pass
	// that resolves names (package imports) could not look one up. Ingest
	// itself never reads Graph and leaves it 0.
	Failed int `json:"failed,omitempty"`
	// Errors holds the first [Options.MaxErrors] row errors, in row order.
	Errors []RowError `json:"errors,omitempty"`
	// ErrorCount is the number of row errors, kept or not (== Invalid).
	ErrorCount int `json:"error_count"`
	// SHA256 is the hex SHA-256 of every byte of the input; set only when
	// the whole input was read (no file error, no cancellation).
	SHA256 string `json:"sha256,omitempty"`
	// Unresolved counts valid rows that name a group, filter or policy
	// still to be resolved (only with [Options.AllowUnresolved]).
	Unresolved int `json:"unresolved,omitempty"`
	// Removals counts valid rows whose action is remove (only with
	// [Options.AllowUnresolved]).
	Removals int `json:"removals,omitempty"`
	// Tenants lists the distinct tenants of valid rows, sorted.
	Tenants []string `json:"tenants,omitempty"`

	complete    bool
	skipInvalid bool
}

// OK reports whether the input was read completely and is acceptable: it
// has at least one valid row, and no invalid row unless
// [Options.SkipInvalid] was set.
func (s Summary) OK() bool {
	return s.complete && s.Valid > 0 && (s.Invalid == 0 || s.skipInvalid)
}
