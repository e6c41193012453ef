package ingest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
)

// FuzzIngest feeds arbitrary bytes through Validate and Ingest. It asserts
// that nothing panics, both passes agree, every emitted job passes
// jobs.Job.Validate, keys are unique, and every data row is accounted for
// exactly once. Seeds: testdata/fuzz/FuzzIngest and the f.Add calls below.
//
//	go test -run=^$ -fuzz=FuzzIngest -fuzztime=10s ./ingest/
func FuzzIngest(f *testing.F) {
	f.Add([]byte(hdr+okRow+okRowB+okRow), false)
	f.Add([]byte("kind,policy_id,target,group_id\ndeviceConfigurations,"+policyA+",group,"+groupA+"\n"), true)
	f.Add([]byte("\xEF\xBB\xBFtenant_id,kind,policy_id,target,intent\r\n"+tenantA+",mobileApps,"+policyA+",allDevices,\"required\"\r\n"), false)
	f.Add([]byte(hdr+tenantA+",deviceConfigurations\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, defaultTenant bool) {
		opts := Options{ImportID: "fuzz", AllowExtraColumns: true, MaxErrors: 5}
		if defaultTenant {
			opts.Tenant = "contoso.onmicrosoft.com"
		}
		ctx := context.Background()
		vs, verr := Validate(ctx, bytes.NewReader(data), opts)
		var c collector
		s, err := Ingest(ctx, bytes.NewReader(data), opts, &c)
		if (verr == nil) != (err == nil) || (err != nil && verr.Error() != err.Error()) || !reflect.DeepEqual(vs, s) {
			t.Fatalf("Validate (%+v, %v) and Ingest (%+v, %v) disagree", vs, verr, s, err)
		}
		var fe *FileError
		if err != nil && !errors.Is(err, ErrInvalidRows) {
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is neither a *FileError nor ErrInvalidRows", err)
			}
			return
		}
		if s.Rows != s.Valid+s.Invalid+s.Duplicates {
			t.Fatalf("rows %d != valid %d + invalid %d + duplicates %d", s.Rows, s.Valid, s.Invalid, s.Duplicates)
		}
		if s.ErrorCount != s.Invalid || len(s.Errors) != min(s.Invalid, 5) {
			t.Fatalf("error count %d kept %d for %d invalid", s.ErrorCount, len(s.Errors), s.Invalid)
		}
		if len(c.jobs) != s.Valid || len(c.results) != s.Invalid+s.Duplicates {
			t.Fatalf("%d jobs %d results for %+v", len(c.jobs), len(c.results), s)
		}
		rows := map[int]bool{}
		keys := map[string]bool{}
		for _, j := range c.jobs {
			if err := j.Validate(); err != nil {
				t.Fatalf("emitted job %+v: %v", j, err)
			}
			if keys[j.Key] || rows[j.Row] || j.ImportID != "fuzz" {
				t.Fatalf("job %+v repeats a key or row", j)
			}
			keys[j.Key], rows[j.Row] = true, true
		}
		for _, r := range c.results {
			if rows[r.Row] || r.ImportID != "fuzz" {
				t.Fatalf("result %+v repeats a row", r)
			}
			rows[r.Row] = true
			if r.DuplicateOf != 0 && r.DuplicateOf >= r.Row {
				t.Fatalf("duplicate %+v names a later row", r)
			}
		}
	})
}

// FuzzParseMessage asserts that ParseMessage never panics and returns only
// valid jobs.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`{"tenant_id":"` + tenantA + `","kind":"deviceConfigurations","policy_id":"` + policyA + `","target":"group","group_id":"` + groupA + `"}`))
	f.Add([]byte(`{"kind":"mobileApps","policy_id":"` + policyA + `","target":"allDevices","intent":"required","row":3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := ParseMessage(data, Options{Tenant: "contoso.com"})
		if err != nil {
			return
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("ParseMessage returned an invalid job %+v: %v", j, err)
		}
	})
}
