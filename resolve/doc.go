// Package resolve turns the display names an import's rows give
// (group_name, filter_name, policy_name) into the ids of each row's own
// tenant, reading Graph once per distinct lookup and pacing the reads by a
// per-tenant read budget ([Reads]).
//
// A name resolves when exactly one object of the tenant has it (compared
// without regard to case, as Graph compares displayName): groups through
// GET /groups?$filter=displayName eq '…' (needs Group.Read.All), assignment
// filters from the tenant's list in beta (DeviceManagementConfiguration.Read.All),
// policies from the list of the row's collection by displayName, or name
// for configurationPolicies (the kind's Read permission). No match, or
// more than one, is a [*NameError] listing the candidates' ids: display
// names are not unique, and resolution never guesses.
package resolve
