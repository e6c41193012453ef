// Package contract holds bulkassign's public contract in one place: the row
// statuses of a report ([Status]), the error codes bulkassign gives failed
// rows ([CodeTenantUnauthorized] …), the columns of an input CSV and of a
// queue message ([Column], [CSVColumns]) and the columns of a report
// ([ReportColumns]). Every package that reads or writes them (ingest, jobs,
// metrics, imports, the CLI) takes them from here, so that a value is
// spelt once. They are only ever added to, never renamed.
//
// The package imports nothing of bulkassign's and nothing outside the
// standard library, so that any package may depend on it.
package contract
