package graph_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulkassign/bulkassign/graph"
)

func ExampleKind_Body() {
	k, err := graph.LookupKind("deviceConfigurations")
	if err != nil {
		panic(err)
	}
	body, err := k.Body(graph.Assignment{Target: graph.Target{
		Type:       graph.TargetGroup,
		GroupID:    "11111111-2222-4333-8444-555555555555",
		FilterID:   "66666666-7777-4888-9999-aaaaaaaaaaaa",
		FilterType: graph.FilterInclude,
	}}, graph.Beta)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(body))

	// Filters exist only in beta.
	_, err = k.Body(graph.Assignment{Target: graph.Target{
		Type: graph.TargetGroup, GroupID: "11111111-2222-4333-8444-555555555555",
		FilterID: "66666666-7777-4888-9999-aaaaaaaaaaaa", FilterType: graph.FilterInclude,
	}}, graph.V1)
	fmt.Println(err)
	// Output:
	// {"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"11111111-2222-4333-8444-555555555555","deviceAndAppManagementAssignmentFilterId":"66666666-7777-4888-9999-aaaaaaaaaaaa","deviceAndAppManagementAssignmentFilterType":"include"}}
	// invalid assignment: assignment filters exist only in beta, not v1.0
}

func ExampleLookupKind() {
	k, err := graph.LookupKind("deviceManagement/deviceEnrollmentConfigurations")
	if err != nil {
		panic(err)
	}
	path, _ := k.AssignmentsPath("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d_DefaultLimit")
	assign, _ := k.AssignPath("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d_DefaultLimit")
	fmt.Println(k.Name, k.Strategy, k.AssignKey)
	fmt.Println(path)
	fmt.Println(assign)

	_, err = graph.LookupKind("devices")
	fmt.Println(err)
	// Output:
	// deviceEnrollmentConfigurations merge enrollmentConfigurationAssignments
	// /deviceManagement/deviceEnrollmentConfigurations/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d_DefaultLimit/assignments
	// /deviceManagement/deviceEnrollmentConfigurations/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d_DefaultLimit/assign
	// unknown kind "devices"
}

// ExampleClient shows a worker's view: create, and branch on the outcome
// class. It needs a Graph to talk to, so it has no output check.
func ExampleClient() {
	c, err := graph.NewClient(graph.Config{Tokens: graph.StaticToken("token")})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	k, _ := graph.LookupKind("deviceConfigurations")
	a := graph.Assignment{Target: graph.Target{Type: graph.TargetGroup, GroupID: "11111111-2222-4333-8444-555555555555"}}
	created, err := c.Create(context.Background(), "contoso.onmicrosoft.com", graph.V1, k, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", a)
	var ge *graph.Error
	switch {
	case err == nil:
		fmt.Println("created", created.ID)
	case errors.Is(err, graph.ErrThrottled) && errors.As(err, &ge) && ge.HasRetryAfter:
		fmt.Println("wait", ge.RetryAfter)
	case errors.Is(err, graph.ErrAmbiguous):
		fmt.Println("re-read the policy's assignments before writing again")
	case errors.Is(err, graph.ErrRouteNotSupported):
		fmt.Println("switch the kind to the merge strategy")
	default:
		fmt.Println("failed:", err)
	}
}
