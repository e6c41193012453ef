package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bulkassign/bulkassign/ingest"
	"github.com/bulkassign/bulkassign/jobs"
)

func ExampleValidate() {
	csv := "tenant_id,kind,policy_id,target,group_id\n" +
		"contoso.onmicrosoft.com,deviceConfigurations,0f9e8d7c-6b5a-4d3c-8b2a-1f0e9d8c7b6a,group,6e0b3f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b\n" +
		"contoso.onmicrosoft.com,deviceConfigurations,0f9e8d7c-6b5a-4d3c-8b2a-1f0e9d8c7b6a,group,x\n" +
		"contoso.onmicrosoft.com,DeviceConfigurations,0F9E8D7C-6B5A-4D3C-8B2A-1F0E9D8C7B6A,#microsoft.graph.groupAssignmentTarget,6E0B3F6A-1C2D-4E5F-8A9B-0C1D2E3F4A5B\n"
	s, err := ingest.Validate(context.Background(), strings.NewReader(csv), ingest.Options{})
	fmt.Println("invalid rows:", errors.Is(err, ingest.ErrInvalidRows))
	fmt.Printf("rows %d, valid %d, invalid %d, duplicates %d\n", s.Rows, s.Valid, s.Invalid, s.Duplicates)
	for _, e := range s.Errors {
		fmt.Println(e.Error())
	}
	// Output:
	// invalid rows: true
	// rows 3, valid 1, invalid 1, duplicates 1
	// row 3, column group_id: not a GUID: "x"
}

// printSink prints what Ingest emits.
type printSink struct{}

func (printSink) Job(_ context.Context, j jobs.Job) error {
	fmt.Printf("job row %d: %s %s %s %s %s\n", j.Row, j.Tenant, j.Kind, j.Target, j.GroupID, j.APIVersion)
	return nil
}

func (printSink) Result(_ context.Context, r jobs.Result) error {
	fmt.Printf("result row %d: %s (duplicate of %d)%s\n", r.Row, r.Status, r.DuplicateOf, r.ErrorMessage)
	return nil
}

func ExampleIngest() {
	csv := "kind,policy_id,target,group_id,filter_id,filter_type\n" +
		"configurationPolicies,0f9e8d7c-6b5a-4d3c-8b2a-1f0e9d8c7b6a,group,6e0b3f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b,,\n" +
		"deviceConfigurations,0f9e8d7c-6b5a-4d3c-8b2a-1f0e9d8c7b6a,allDevices,,1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d,include\n" +
		"configurationPolicies,0f9e8d7c-6b5a-4d3c-8b2a-1f0e9d8c7b6a,GROUP,6E0B3F6A-1C2D-4E5F-8A9B-0C1D2E3F4A5B,,\n"
	opts := ingest.Options{Tenant: "Contoso.onmicrosoft.com", ImportID: "imp-1"}
	s, err := ingest.Ingest(context.Background(), strings.NewReader(csv), opts, printSink{})
	fmt.Println(err, s.Tenants)
	// Output:
	// job row 2: contoso.onmicrosoft.com configurationPolicies group 6e0b3f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b beta
	// job row 3: contoso.onmicrosoft.com deviceConfigurations allDevices  beta
	// result row 4: duplicate (duplicate of 2)
	// <nil> [contoso.onmicrosoft.com]
}

func ExampleParseMessage() {
	msg := `{"tenant_id":"contoso.onmicrosoft.com","kind":"mobileApps","policy_id":"0f9e8d7c-6b5a-4d3c-8b2a-1f0e9d8c7b6a","target":"allLicensedUsers","intent":"REQUIRED","row":7}`
	j, err := ingest.ParseMessage([]byte(msg), ingest.Options{ImportID: "queue"})
	fmt.Println(j.Row, j.Kind, j.Target, j.Intent, j.APIVersion, err)
	_, err = ingest.ParseMessage([]byte(`{"tenant_id":"contoso.onmicrosoft.com","kind":"mobileApps","policy_id":"../../me"}`), ingest.Options{})
	fmt.Println(err)
	// Output:
	// 7 mobileApps allLicensedUsers required v1.0 <nil>
	// row 0, column policy_id: not a policy id (a GUID or {guid}_Suffix): "../../me"
}
