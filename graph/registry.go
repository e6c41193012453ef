package graph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// API versions.
const (
	V1   = "v1.0"
	Beta = "beta"
)

// Strategy is how assignments of a kind are written.
type Strategy string

const (
	// StrategyCreate posts one assignment per call to {policy}/assignments.
	// It is additive: existing assignments are untouched.
	StrategyCreate Strategy = "create"
	// StrategyMerge reads the policy's current set, adds the new targets and
	// posts the whole set to {policy}/assign, which replaces what is there.
	// It must be serialised per policy.
	StrategyMerge Strategy = "merge"
)

// Service is the Intune service whose write budget a kind's writes count
// against. Graph's write limits are per Intune service: writes to kinds of
// different services do not share a budget (GRAPH.md "Throttling"; the
// service of each collection is the throttling bucket of
// graph-spec/assignment-endpoint-matrix.json).
type Service string

// The Intune services of the registry's kinds.
const (
	// ServiceDeviceConfiguration is "Intune device configuration":
	// deviceConfigurations, deviceCompliancePolicies and (inferred, not
	// found in the limits read) groupPolicyConfigurations.
	ServiceDeviceConfiguration Service = "deviceConfiguration"
	// ServiceDeviceConfigV2 is "Intune device config v2" (settings
	// catalog): configurationPolicies.
	ServiceDeviceConfigV2 Service = "deviceConfigV2"
	// ServiceEnrollment is "Intune device enrollment":
	// deviceEnrollmentConfigurations and (inferred, not found in the limits
	// read) windowsAutopilotDeploymentProfiles.
	ServiceEnrollment Service = "enrollment"
	// ServiceDevices is "Intune devices": deviceManagementScripts and
	// deviceHealthScripts. It allows twice the writes of the others.
	ServiceDevices Service = "devices"
	// ServiceIntents is "Intune device intent": intents.
	ServiceIntents Service = "intents"
	// ServiceApps is "Intune applications": mobileApps and
	// mobileAppConfigurations.
	ServiceApps Service = "apps"
	// ServiceManagedApps is "Intune managed applications":
	// targetedManagedAppConfigurations.
	ServiceManagedApps Service = "managedApps"
)

// WriteWindow is the window of Intune's write limits.
const WriteWindow = 20 * time.Second

// WriteLimit is Intune's write limit of the service per [WriteWindow] per
// app per tenant: 200 for [ServiceDevices], 100 for the others. Each
// tenant allows twice that for all apps together.
func (s Service) WriteLimit() int {
	if s == ServiceDevices {
		return 200
	}
	return 100
}

// ErrUnknownKind is returned by [LookupKind] for a name not in the registry.
var ErrUnknownKind = errors.New("unknown kind")

// Kind is one assignable Intune collection.
type Kind struct {
	// Name is the path template between the root segment and /assignments
	// with the {id} segment removed, e.g. "deviceConfigurations" or
	// "deviceConfigurations/microsoft.graph.iosScepCertificateProfile/rootCertificate".
	Name string
	// Root is "deviceManagement" or "deviceAppManagement".
	Root string
	// Collection is the segment before {id}, e.g. "deviceConfigurations".
	Collection string
	// SubPath is what follows {id} before /assignments ("" for most kinds).
	SubPath string
	// Versions lists the API versions the path exists in.
	Versions []string
	// AssignmentType is the assignment entity's @odata.type, with '#'.
	AssignmentType string
	// AssignKey is the body key of POST …/assign ("" when the kind has no
	// usable /assign action).
	AssignKey string
	// AssignCast is an extra type-cast segment Graph routes /assign through
	// (mobileAppConfigurations), inserted between {id} and /assign.
	AssignCast string
	// AssignReturnsValue is true when /assign answers 200 {"value":[…]}
	// rather than 204 No Content.
	AssignReturnsValue bool
	// Targets lists the target types the kind accepts.
	Targets []TargetType
	// NeedsIntent is true for kinds whose assignments require an install
	// intent (mobile apps); other kinds reject one.
	NeedsIntent bool
	// Strategy is the default write strategy.
	Strategy Strategy
	// Permission is the application permission needed to write it.
	Permission string
	// Service is the Intune service whose write limit its writes count
	// against.
	Service Service
}

// Permissions Graph requires per family of kinds.
const (
	permConfig  = "DeviceManagementConfiguration.ReadWrite.All"
	permService = "DeviceManagementServiceConfig.ReadWrite.All"
	permApps    = "DeviceManagementApps.ReadWrite.All"
	permScripts = "DeviceManagementScripts.ReadWrite.All"
)

var (
	targetsAll      = []TargetType{TargetGroup, TargetExclusionGroup, TargetAllDevices, TargetAllLicensedUsers, TargetConfigMgrCollection}
	targetsStandard = []TargetType{TargetGroup, TargetExclusionGroup, TargetAllDevices, TargetAllLicensedUsers}
	targetsGroups   = []TargetType{TargetGroup, TargetExclusionGroup}
	bothVersions    = []string{V1, Beta}
	betaOnly        = []string{Beta}
)

// deviceConfigurationsNested returns the certificate sub-profile kinds of
// seed 001: beta only, same assignment type, the create strategy (the seed
// documents POST …/assignments for each of them).
func deviceConfigurationsNested(subPath string) *Kind {
	return &Kind{
		Name: "deviceConfigurations/" + subPath, Root: "deviceManagement",
		Collection: "deviceConfigurations", SubPath: subPath, Versions: betaOnly,
		AssignmentType: "#microsoft.graph.deviceConfigurationAssignment",
		AssignKey:      "assignments", AssignReturnsValue: true,
		Targets: targetsAll, Strategy: StrategyCreate, Permission: permConfig,
		Service: ServiceDeviceConfiguration,
	}
}

// registry is the table of kinds. Default strategies follow the evidence in
// shared/graph-spec/assignment-endpoint-matrix.json:
//
//   - create where POST …/assignments is in metadata AND is used by production
//     tools without route-error reports: deviceConfigurations (and the nested
//     certificate paths the seeds document), configurationPolicies, and
//     windowsAutopilotDeploymentProfiles (its /assign takes device ids, not
//     assignments, and is reported removed in 2023, so create is the only way).
//   - merge where create is reported to fail with "No method match route
//     template" (deviceCompliancePolicies, deviceEnrollmentConfigurations,
//     mobileAppConfigurations, app protection) or where create is unproven
//     ("unknown" in the matrix) while /assign is documented for every kind
//     that has assignments: groupPolicyConfigurations, scripts, health
//     scripts, intents, mobileApps, targetedManagedAppConfigurations.
//     Merge is always safe under a per-policy lock; a create that does not
//     route would fail every row.
var registry = []*Kind{
	{
		Name: "deviceConfigurations", Root: "deviceManagement", Collection: "deviceConfigurations",
		Versions: bothVersions, AssignmentType: "#microsoft.graph.deviceConfigurationAssignment",
		AssignKey: "assignments", AssignReturnsValue: true,
		Targets: targetsAll, Strategy: StrategyCreate, Permission: permConfig, Service: ServiceDeviceConfiguration,
	},
	deviceConfigurationsNested("rootCertificate"),
	deviceConfigurationsNested("identityCertificate"),
	deviceConfigurationsNested("identityCertificate/rootCertificate"),
	deviceConfigurationsNested("microsoft.graph.iosScepCertificateProfile/rootCertificate"),
	deviceConfigurationsNested("microsoft.graph.macOSScepCertificateProfile/rootCertificate"),
	deviceConfigurationsNested("microsoft.graph.windows81SCEPCertificateProfile/rootCertificate"),
	deviceConfigurationsNested("microsoft.graph.windowsPhone81VpnConfiguration/identityCertificate"),
	{
		Name: "deviceCompliancePolicies", Root: "deviceManagement", Collection: "deviceCompliancePolicies",
		Versions: bothVersions, AssignmentType: "#microsoft.graph.deviceCompliancePolicyAssignment",
		AssignKey: "assignments", AssignReturnsValue: true,
		Targets: targetsAll, Strategy: StrategyMerge, Permission: permConfig, Service: ServiceDeviceConfiguration,
	},
	{
		Name: "deviceEnrollmentConfigurations", Root: "deviceManagement", Collection: "deviceEnrollmentConfigurations",
		Versions: bothVersions, AssignmentType: "#microsoft.graph.enrollmentConfigurationAssignment",
		AssignKey: "enrollmentConfigurationAssignments",
		Targets:   []TargetType{TargetGroup, TargetAllDevices, TargetAllLicensedUsers},
		Strategy:  StrategyMerge, Permission: permService, Service: ServiceEnrollment,
	},
	{
		Name: "configurationPolicies", Root: "deviceManagement", Collection: "configurationPolicies",
		Versions: betaOnly, AssignmentType: "#microsoft.graph.deviceManagementConfigurationPolicyAssignment",
		AssignKey: "assignments", AssignReturnsValue: true,
		Targets: targetsAll, Strategy: StrategyCreate, Permission: permConfig, Service: ServiceDeviceConfigV2,
	},
	{
		Name: "groupPolicyConfigurations", Root: "deviceManagement", Collection: "groupPolicyConfigurations",
		Versions: betaOnly, AssignmentType: "#microsoft.graph.groupPolicyConfigurationAssignment",
		AssignKey: "assignments", AssignReturnsValue: true,
		Targets: targetsStandard, Strategy: StrategyMerge, Permission: permConfig, Service: ServiceDeviceConfiguration,
	},
	{
		Name: "deviceManagementScripts", Root: "deviceManagement", Collection: "deviceManagementScripts",
		Versions: betaOnly, AssignmentType: "#microsoft.graph.deviceManagementScriptAssignment",
		AssignKey: "deviceManagementScriptAssignments",
		Targets:   targetsStandard, Strategy: StrategyMerge, Permission: permScripts, Service: ServiceDevices,
	},
	{
		Name: "deviceHealthScripts", Root: "deviceManagement", Collection: "deviceHealthScripts",
		Versions: betaOnly, AssignmentType: "#microsoft.graph.deviceHealthScriptAssignment",
		AssignKey: "deviceHealthScriptAssignments",
		Targets:   targetsStandard, Strategy: StrategyMerge, Permission: permScripts, Service: ServiceDevices,
	},
	{
		Name: "windowsAutopilotDeploymentProfiles", Root: "deviceManagement", Collection: "windowsAutopilotDeploymentProfiles",
		Versions: betaOnly, AssignmentType: "#microsoft.graph.windowsAutopilotDeploymentProfileAssignment",
		Targets:  []TargetType{TargetGroup, TargetExclusionGroup, TargetAllDevices},
		Strategy: StrategyCreate, Permission: permService, Service: ServiceEnrollment,
	},
	{
		Name: "intents", Root: "deviceManagement", Collection: "intents",
		Versions: betaOnly, AssignmentType: "#microsoft.graph.deviceManagementIntentAssignment",
		AssignKey: "assignments",
		Targets:   targetsStandard, Strategy: StrategyMerge, Permission: permConfig, Service: ServiceIntents,
	},
	{
		Name: "mobileApps", Root: "deviceAppManagement", Collection: "mobileApps",
		Versions: bothVersions, AssignmentType: "#microsoft.graph.mobileAppAssignment",
		AssignKey: "mobileAppAssignments", NeedsIntent: true,
		Targets: targetsStandard, Strategy: StrategyMerge, Permission: permApps, Service: ServiceApps,
	},
	{
		Name: "mobileAppConfigurations", Root: "deviceAppManagement", Collection: "mobileAppConfigurations",
		Versions: bothVersions, AssignmentType: "#microsoft.graph.managedDeviceMobileAppConfigurationAssignment",
		AssignKey: "assignments", AssignCast: "microsoft.graph.managedDeviceMobileAppConfiguration",
		Targets: targetsStandard, Strategy: StrategyMerge, Permission: permApps, Service: ServiceApps,
	},
	{
		Name: "targetedManagedAppConfigurations", Root: "deviceAppManagement", Collection: "targetedManagedAppConfigurations",
		Versions: bothVersions, AssignmentType: "#microsoft.graph.targetedManagedAppPolicyAssignment",
		AssignKey: "assignments",
		Targets:   targetsGroups, Strategy: StrategyMerge, Permission: permApps, Service: ServiceManagedApps,
	},
}

var byName = func() map[string]*Kind {
	m := make(map[string]*Kind, len(registry))
	for _, k := range registry {
		m[strings.ToLower(k.Name)] = k
	}
	return m
}()

// Kinds returns every registered kind, in registry order. The slice is a
// copy; the kinds themselves must not be modified.
func Kinds() []*Kind { return slices.Clone(registry) }

// LookupKind finds a kind by name, case-insensitively. A leading
// "deviceManagement/" or "deviceAppManagement/" is accepted too.
func LookupKind(name string) (*Kind, error) {
	n := strings.ToLower(strings.Trim(strings.TrimSpace(name), "/"))
	n = strings.TrimPrefix(n, "devicemanagement/")
	n = strings.TrimPrefix(n, "deviceappmanagement/")
	if k, ok := byName[n]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKind, truncate(name))
}

// HasVersion reports whether the kind exists in API version v.
func (k *Kind) HasVersion(v string) bool { return slices.Contains(k.Versions, v) }

// AllowsTarget reports whether t is an accepted target type for the kind.
func (k *Kind) AllowsTarget(t TargetType) bool { return slices.Contains(k.Targets, t) }

// CanMerge reports whether the kind has an /assign action taking assignments.
func (k *Kind) CanMerge() bool { return k.AssignKey != "" }

// DefaultVersion is the version a row without api_version uses: beta when
// the row has a filter (filters exist only in beta) or the kind is beta-only,
// v1.0 otherwise.
func (k *Kind) DefaultVersion(hasFilter bool) string {
	if hasFilter || !k.HasVersion(V1) {
		return Beta
	}
	return V1
}

// policyPath is "/{root}/{collection}/{id}" plus the sub-path.
func (k *Kind) policyPath(policyID string) (string, error) {
	if err := ValidatePolicyID(policyID); err != nil {
		return "", err
	}
	p := "/" + k.Root + "/" + k.Collection + "/" + policyID
	if k.SubPath != "" {
		p += "/" + k.SubPath
	}
	return p, nil
}

// AssignmentsPath returns the version-less path of the policy's assignments
// collection, e.g. "/deviceManagement/deviceConfigurations/{id}/assignments".
// The policy id is validated first.
func (k *Kind) AssignmentsPath(policyID string) (string, error) {
	p, err := k.policyPath(policyID)
	if err != nil {
		return "", err
	}
	return p + "/assignments", nil
}

// AssignPath returns the version-less path of the policy's /assign action.
func (k *Kind) AssignPath(policyID string) (string, error) {
	if !k.CanMerge() {
		return "", fmt.Errorf("kind %s has no /assign action taking assignments", k.Name)
	}
	p, err := k.policyPath(policyID)
	if err != nil {
		return "", err
	}
	if k.AssignCast != "" {
		p += "/" + k.AssignCast
	}
	return p + "/assign", nil
}
