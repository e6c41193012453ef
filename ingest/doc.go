// Package ingest turns CSV files (and queue messages) into validated
// [jobs.Job] values.
//
// # CSV format
//
// The first record is a header. Column names are matched case-insensitively
// after trimming spaces, in any order:
//
//	tenant_id, kind, policy_id, target, group_id, collection_id,
//	filter_id, filter_type, intent, api_version
//
// kind, policy_id and target are required; tenant_id is required unless
// [Options.Tenant] supplies a default (a row's own tenant_id wins over it).
// Unknown columns are a file error unless [Options.AllowExtraColumns] is set.
// Input may start with a UTF-8 byte order mark, use CRLF line ends, and quote
// fields (with embedded commas, quotes and newlines) as RFC 4180 describes.
//
// # Row numbers
//
// Row numbers count CSV records with the header as row 1, so the first data
// row is row 2, as a spreadsheet shows it. A quoted field that spans several
// lines keeps its record one row. Empty lines are not records and are not
// counted; a record whose fields are all blank (",,,," as spreadsheets
// export) keeps its number but is skipped: it is neither counted in
// [Summary.Rows] nor reported.
//
// # Validation
//
// Every data row is checked column by column, and the first failing column
// is reported as a [RowError] (row, column, reason). Identifiers are checked
// with the graph package's validators before they can reach a URL path;
// values are normalised (lower-case GUIDs, canonical kind, target short name,
// intent and API version). An empty api_version defaults to the kind's
// default ([graph.Kind.DefaultVersion]): beta when the row has a filter or
// the kind exists only in beta, v1.0 otherwise. "v1" is accepted as v1.0. A
// filter with an explicit api_version v1.0 is reported under api_version,
// because the filter itself is valid and the version is what conflicts.
//
// Rows that describe the same assignment ([jobs.Job.ComputeKey]) are
// duplicates: the first becomes a job, later ones a result with status
// duplicate naming the first row. Duplicate detection keeps one compact entry
// per distinct assignment (16 bytes of the key and a 4-byte row number);
// everything else is streamed, so memory does not grow with file size beyond
// that set: a map[[16]byte]int32 of about 28 bytes per distinct assignment
// (27 MB live for 1,000,000 distinct rows; about 70 MB peak heap with GC
// slack). A file of any length over 1000 distinct assignments peaks under
// 7 MB of heap.
//
// # Limits
//
// A field longer than [MaxFieldLen] bytes is a row error. A record longer than
// [MaxRecordLen] bytes is a file error: the CSV reader would otherwise buffer
// it whole.
//
// # Queue messages
//
// A queue message carries rows as JSON objects whose fields are the column
// names: one object, or an array of them ([SplitMessages]). [ParseMessage]
// checks one; [IngestMessages] checks the elements of one message as a
// file's rows are checked (row n is the n-th element), duplicates
// included. A field error is a [RowError] whose Column names the column as
// data ([contract.Column]).
//
// Ingest does not know NATS: [Ingest] hands jobs and results to a [Sink] the
// caller wires to the queue.
package ingest
