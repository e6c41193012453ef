package graph

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const (
	groupID  = "11111111-2222-3333-4444-555555555555"
	filterID = "99999999-8888-7777-6666-555555555555"
)

func TestBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    string
		version string
		given   Assignment
		want    string // JSON; "" means an error is expected
	}{
		{"group", "deviceConfigurations", V1, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID}},
			`{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + groupID + `"}}`},
		{"exclusion group", "deviceCompliancePolicies", V1, Assignment{Target: Target{Type: TargetExclusionGroup, GroupID: groupID}},
			`{"@odata.type":"#microsoft.graph.deviceCompliancePolicyAssignment","target":{"@odata.type":"#microsoft.graph.exclusionGroupAssignmentTarget","groupId":"` + groupID + `"}}`},
		{"all devices", "configurationPolicies", Beta, Assignment{Target: Target{Type: TargetAllDevices}},
			`{"@odata.type":"#microsoft.graph.deviceManagementConfigurationPolicyAssignment","target":{"@odata.type":"#microsoft.graph.allDevicesAssignmentTarget"}}`},
		{"all licensed users", "deviceEnrollmentConfigurations", V1, Assignment{Target: Target{Type: TargetAllLicensedUsers}},
			`{"@odata.type":"#microsoft.graph.enrollmentConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.allLicensedUsersAssignmentTarget"}}`},
		{"configuration manager collection", "deviceConfigurations", Beta, Assignment{Target: Target{Type: TargetConfigMgrCollection, CollectionID: "SMS00001"}},
			`{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.configurationManagerCollectionAssignmentTarget","collectionId":"SMS00001"}}`},
		{"collection id not a collection", "deviceConfigurations", Beta, Assignment{Target: Target{Type: TargetConfigMgrCollection, CollectionID: "SMS0000Z"}}, ""},
		{"collection id missing", "deviceConfigurations", Beta, Assignment{Target: Target{Type: TargetConfigMgrCollection}}, ""},
		{"collection target not allowed", "mobileApps", Beta, Assignment{Intent: "required", Target: Target{Type: TargetConfigMgrCollection, CollectionID: "SMS00001"}}, ""},
		{"group id on all devices", "deviceConfigurations", V1, Assignment{Target: Target{Type: TargetAllDevices, GroupID: groupID}}, ""},
		{"group id missing", "deviceConfigurations", V1, Assignment{Target: Target{Type: TargetGroup}}, ""},
		{"exclusion not allowed for enrollment", "deviceEnrollmentConfigurations", V1, Assignment{Target: Target{Type: TargetExclusionGroup, GroupID: groupID}}, ""},
		{"filter on beta", "deviceConfigurations", Beta, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID, FilterID: filterID, FilterType: FilterExclude}},
			`{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + groupID + `","deviceAndAppManagementAssignmentFilterId":"` + filterID + `","deviceAndAppManagementAssignmentFilterType":"exclude"}}`},
		{"filter on v1.0", "deviceConfigurations", V1, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID, FilterID: filterID, FilterType: FilterInclude}}, ""},
		{"filter type none is no filter", "deviceConfigurations", V1, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID, FilterType: FilterNone}},
			`{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + groupID + `"}}`},
		{"filter without type", "deviceConfigurations", Beta, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID, FilterID: filterID}}, ""},
		{"filter type without id", "deviceConfigurations", Beta, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID, FilterType: FilterInclude}}, ""},
		{"filter type unknown", "deviceConfigurations", Beta, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID, FilterID: filterID, FilterType: "both"}}, ""},
		{"app intent", "mobileApps", V1, Assignment{Intent: "availableWithoutEnrollment", Target: Target{Type: TargetAllLicensedUsers}},
			`{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"availableWithoutEnrollment","target":{"@odata.type":"#microsoft.graph.allLicensedUsersAssignmentTarget"}}`},
		{"app without intent", "mobileApps", V1, Assignment{Target: Target{Type: TargetGroup, GroupID: groupID}}, ""},
		{"app with unknown intent", "mobileApps", V1, Assignment{Intent: "Required", Target: Target{Type: TargetGroup, GroupID: groupID}}, ""},
		{"intent on a configuration", "deviceConfigurations", V1, Assignment{Intent: "required", Target: Target{Type: TargetGroup, GroupID: groupID}}, ""},
		{"beta-only kind on v1.0", "configurationPolicies", V1, Assignment{Target: Target{Type: TargetAllDevices}}, ""},
		{"unknown version", "deviceConfigurations", "v2.0", Assignment{Target: Target{Type: TargetAllDevices}}, ""},
		{"unknown target", "deviceConfigurations", V1, Assignment{Target: Target{Type: "allUsers"}}, ""},
		{"nested certificate kind", "deviceConfigurations/microsoft.graph.iosScepCertificateProfile/rootCertificate", Beta,
			Assignment{Target: Target{Type: TargetGroup, GroupID: groupID}},
			`{"@odata.type":"#microsoft.graph.deviceConfigurationAssignment","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + groupID + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := mustKind(t, tt.kind)
			got, err := k.Body(tt.given, tt.version)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got body %s, want an error", got)
				}
				if !errors.Is(err, ErrInvalidAssignment) && !errors.Is(err, ErrInvalidID) {
					t.Errorf("error %v wraps neither ErrInvalidAssignment nor ErrInvalidID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Errorf("body %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestAssignBody(t *testing.T) {
	t.Parallel()
	existing, err := ParseAssignment([]byte(`{"id":"x_1","source":"direct","intent":"required","settings":{"notifications":"hideAll"},"target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + filterID + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	k := mustKind(t, "mobileApps")
	added := Assignment{Intent: "available", Target: Target{Type: TargetGroup, GroupID: groupID}}
	got, err := k.AssignBody([]Assignment{existing, added}, V1)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string][]map[string]any
	if err := json.Unmarshal(got, &body); err != nil {
		t.Fatal(err)
	}
	items := body["mobileAppAssignments"]
	if len(body) != 1 || len(items) != 2 {
		t.Fatalf("body %s", got)
	}
	if items[0]["settings"] == nil || items[0]["id"] != "x_1" {
		t.Errorf("existing assignment not re-sent as Graph returned it: %v", items[0])
	}
	if items[1]["intent"] != "available" || items[1]["@odata.type"] != "#microsoft.graph.mobileAppAssignment" {
		t.Errorf("new assignment: %v", items[1])
	}
	// A new assignment that does not validate fails the whole body.
	if _, err := k.AssignBody([]Assignment{existing, {Target: Target{Type: TargetGroup, GroupID: groupID}}}, V1); err == nil {
		t.Error("AssignBody accepted an app assignment without intent")
	}
	// An empty set is a valid (clearing) body.
	if got, err := k.AssignBody(nil, V1); err != nil || string(got) != `{"mobileAppAssignments":[]}` {
		t.Errorf("empty set: %s, %v", got, err)
	}
	// Autopilot's /assign takes device ids, not assignments.
	if _, err := mustKind(t, "windowsAutopilotDeploymentProfiles").AssignBody(nil, Beta); err == nil {
		t.Error("AssignBody for a kind without an /assign key succeeded")
	}
	if _, err := mustKind(t, "windowsAutopilotDeploymentProfiles").AssignPath(validGUID); err == nil {
		t.Error("AssignPath for a kind without an /assign key succeeded")
	}
}

func TestAssignPathCast(t *testing.T) {
	t.Parallel()
	p, err := mustKind(t, "mobileAppConfigurations").AssignPath(validGUID)
	if want := "/deviceAppManagement/mobileAppConfigurations/" + validGUID + "/microsoft.graph.managedDeviceMobileAppConfiguration/assign"; err != nil || p != want {
		t.Errorf("AssignPath = %q, %v; want %q", p, err, want)
	}
	p, err = mustKind(t, "deviceConfigurations/identityCertificate/rootCertificate").AssignPath(validGUID)
	if want := "/deviceManagement/deviceConfigurations/" + validGUID + "/identityCertificate/rootCertificate/assign"; err != nil || p != want {
		t.Errorf("AssignPath = %q, %v; want %q", p, err, want)
	}
}

func TestParseTargetTypeAndIntent(t *testing.T) {
	t.Parallel()
	for given, want := range map[string]TargetType{
		"group": TargetGroup, "GROUP": TargetGroup, "#microsoft.graph.groupAssignmentTarget": TargetGroup,
		"microsoft.graph.exclusionGroupAssignmentTarget": TargetExclusionGroup, " allDevices ": TargetAllDevices,
		"configurationManagerCollection": TargetConfigMgrCollection,
	} {
		if got, err := ParseTargetType(given); err != nil || got != want {
			t.Errorf("ParseTargetType(%q) = %q, %v", given, got, err)
		}
	}
	for _, bad := range []string{"", "user", "#microsoft.graph.deviceAndAppManagementAssignmentTarget"} {
		if _, err := ParseTargetType(bad); !errors.Is(err, ErrInvalidAssignment) {
			t.Errorf("ParseTargetType(%q) = %v", bad, err)
		}
	}
	if got, err := ParseIntent(" REQUIRED "); err != nil || got != "required" {
		t.Errorf("ParseIntent = %q, %v", got, err)
	}
	if _, err := ParseIntent("install"); err == nil {
		t.Error("ParseIntent(install) succeeded")
	}
}

func TestDefaultVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind      string
		hasFilter bool
		want      string
	}{
		{"deviceConfigurations", false, V1},
		{"deviceConfigurations", true, Beta},
		{"configurationPolicies", false, Beta},
		{"mobileApps", false, V1},
	}
	for _, tt := range tests {
		if got := mustKind(t, tt.kind).DefaultVersion(tt.hasFilter); got != tt.want {
			t.Errorf("%s filter=%v: %s, want %s", tt.kind, tt.hasFilter, got, tt.want)
		}
	}
}

func TestSameTarget(t *testing.T) {
	t.Parallel()
	a := Assignment{Target: Target{Type: TargetGroup, GroupID: groupID}}
	b := Assignment{Intent: "required", Target: Target{Type: TargetGroup, GroupID: groupID, FilterID: filterID}}
	lower := Assignment{Target: Target{Type: TargetGroup, GroupID: validGUID}}
	upper := Assignment{Target: Target{Type: TargetGroup, GroupID: validGUIDU}}
	if !a.SameTarget(b) || !lower.SameTarget(upper) {
		t.Error("same group not recognised")
	}
	// Graph keys an assignment by its group ({policyId}_{groupId}): a
	// policy cannot include and exclude one group, so both take one place.
	if !a.SameTarget(Assignment{Target: Target{Type: TargetExclusionGroup, GroupID: groupID}}) {
		t.Error("group and exclusion of the same group are not recognised as one place")
	}
	if a.SameTarget(Assignment{Target: Target{Type: TargetAllDevices}}) || a.SameTarget(Assignment{Target: Target{Type: TargetExclusionGroup, GroupID: validGUID}}) {
		t.Error("different targets taken for one place")
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	group := func(f, ft, intent string) Assignment {
		return Assignment{Intent: intent, Target: Target{Type: TargetGroup, GroupID: groupID, FilterID: f, FilterType: ft}}
	}
	const otherFilter = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	tests := []struct {
		name        string
		have, given Assignment
		want        Match
		oneWay      bool // the reverse differs: given asks no intent
	}{
		{"same, no filter", group("", "", ""), group("", "", ""), MatchSame, false},
		{"filter type none is no filter", group("", FilterNone, ""), group("", "", ""), MatchSame, false},
		{"filter type NONE with an id is no filter", group(filterID, "None", ""), group("", "", ""), MatchSame, false},
		{"type without id is no filter", group("", FilterInclude, ""), group("", "", ""), MatchSame, false},
		{"same filter, other case", group(strings.ToUpper(filterID), "Include", ""), group(filterID, FilterInclude, ""), MatchSame, false},
		{"same intent, other case", group("", "", "Required"), group("", "", "required"), MatchSame, false},
		{"group id case", Assignment{Target: Target{Type: TargetGroup, GroupID: validGUIDU}}, Assignment{Target: Target{Type: TargetGroup, GroupID: validGUID}}, MatchSame, false},
		{"has a filter, asked none", group(filterID, FilterInclude, ""), group("", "", ""), MatchConflict, false},
		{"has none, asked a filter", group("", FilterNone, ""), group(filterID, FilterExclude, ""), MatchConflict, false},
		{"other filter id", group(filterID, FilterInclude, ""), group(otherFilter, FilterInclude, ""), MatchConflict, false},
		{"other filter type", group(filterID, FilterInclude, ""), group(filterID, FilterExclude, ""), MatchConflict, false},
		{"other intent", group("", "", "available"), group("", "", "required"), MatchConflict, false},
		{"held intent apply, asked none", group("", "", "apply"), group("", "", ""), MatchSame, true},
		{"other group", group("", "", ""), Assignment{Target: Target{Type: TargetGroup, GroupID: validGUID}}, MatchNone, false},
		{"exclusion of the same group", group("", "", ""), Assignment{Target: Target{Type: TargetExclusionGroup, GroupID: groupID}}, MatchConflict, false},
		{"exclusion of another group", group("", "", ""), Assignment{Target: Target{Type: TargetExclusionGroup, GroupID: validGUID}}, MatchNone, false},
		{"all devices", Assignment{Target: Target{Type: TargetAllDevices}}, Assignment{Target: Target{Type: TargetAllDevices}}, MatchSame, false},
		{"all devices, filter differs", Assignment{Target: Target{Type: TargetAllDevices, FilterID: filterID, FilterType: FilterInclude}}, Assignment{Target: Target{Type: TargetAllDevices}}, MatchConflict, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.have.Compare(tt.given); got != tt.want {
				t.Errorf("Compare = %d, want %d", got, tt.want)
			}
			if got := tt.given.Compare(tt.have); !tt.oneWay && got != tt.want {
				t.Errorf("Compare is not symmetric: reversed = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestEveryKindHasBeta: merges read and write a policy's whole set in beta
// (the only version showing filters and policy-set sources), whatever
// version the rows asked for; that needs every kind in beta.
func TestEveryKindHasBeta(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		if !k.HasVersion(Beta) {
			t.Errorf("kind %s has no beta (versions %v)", k.Name, k.Versions)
		}
	}
}
