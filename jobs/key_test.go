package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bulkassign/bulkassign/graph"
)

// TestComputeKeyOfAdditionsUnchanged pins the key of a job without names
// or action to the formula keys had before those fields existed: intents
// and outcomes stored under older keys must still be found.
func TestComputeKeyOfAdditionsUnchanged(t *testing.T) {
	t.Parallel()
	j := Job{Tenant: "contoso.onmicrosoft.com", Kind: "mobileApps", PolicyID: "22222222-2222-2222-2222-222222222222",
		Target: graph.TargetGroup, GroupID: "33333333-3333-3333-3333-333333333333",
		FilterID: "44444444-4444-4444-4444-444444444444", FilterType: "include", Intent: "required", APIVersion: graph.Beta}
	h := sha256.New()
	for _, f := range []string{j.Tenant, j.Kind, j.PolicyID, string(j.Target), j.GroupID, j.CollectionID,
		j.FilterID, j.FilterType, j.Intent, j.APIVersion} {
		h.Write([]byte(strings.ToLower(f)))
		h.Write([]byte{0})
	}
	old := hex.EncodeToString(h.Sum(nil))
	if got := j.ComputeKey(); got != old {
		t.Fatalf("key %s, want the pre-names key %s", got, old)
	}
	// Resolved names do not count; an explicit action remove does.
	named := j
	named.GroupName, named.FilterName, named.PolicyName = "Pilot", "Corp", "Portal"
	if named.ComputeKey() != old {
		t.Error("names beside their ids changed the key")
	}
	rm := j
	rm.Action = ActionRemove
	if rm.ComputeKey() == old {
		t.Error("a removal has the addition's key")
	}
}

// TestValidateRefusesUnresolved: a job must carry ids, not only names,
// and a known action; a removal is a valid job.
func TestValidateRefusesUnresolved(t *testing.T) {
	t.Parallel()
	base := Job{Tenant: "contoso.onmicrosoft.com", Kind: "deviceConfigurations", PolicyID: "22222222-2222-2222-2222-222222222222",
		Target: graph.TargetGroup, GroupID: "33333333-3333-3333-3333-333333333333", APIVersion: graph.V1}
	for name, mut := range map[string]func(*Job){
		"unresolved group":  func(j *Job) { j.GroupID, j.GroupName = "", "Pilot" },
		"unresolved policy": func(j *Job) { j.PolicyID, j.PolicyName = "", "Baseline" },
		"unknown action":    func(j *Job) { j.Action = "add" },
	} {
		j := base
		mut(&j)
		j.Key = j.ComputeKey()
		if err := j.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, j)
		}
	}
	base.GroupName = "Pilot" // resolved: the name is only for the report
	base.Key = base.ComputeKey()
	if err := base.Validate(); err != nil {
		t.Errorf("resolved job: %v", err)
	}
	rm := base
	rm.Action = ActionRemove
	if err := rm.Validate(); err == nil {
		t.Error("a removal with the addition's key was accepted")
	}
	rm.Key = rm.ComputeKey()
	if err := rm.Validate(); err != nil {
		t.Errorf("removal: %v", err)
	}
}
