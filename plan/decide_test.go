package plan_test

import (
	"testing"

	"github.com/bulkassign/bulkassign/graph"
	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/plan"
)

const (
	groupA  = "33333333-3333-3333-3333-333333333333"
	groupB  = "55555555-5555-5555-5555-555555555555"
	filterA = "44444444-4444-4444-4444-444444444444"
	filterB = "66666666-6666-6666-6666-666666666666"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	cfg, apps := mustKind(t, "deviceConfigurations"), mustKind(t, "mobileApps")
	group := func(g string) graph.Assignment {
		return graph.Assignment{ID: "p_" + g, Target: graph.Target{Type: graph.TargetGroup, GroupID: g}}
	}
	filtered := func(a graph.Assignment, f, ft string) graph.Assignment {
		a.Target.FilterID, a.Target.FilterType = f, ft
		return a
	}
	job := func(a graph.Assignment, action string) jobs.Job {
		return jobs.Job{Target: a.Target.Type, GroupID: a.Target.GroupID, FilterID: a.Target.FilterID,
			FilterType: a.Target.FilterType, Intent: a.Intent, Action: action}
	}
	excluded := group(groupA)
	excluded.Target.Type = graph.TargetExclusionGroup
	inherited := group(groupA)
	inherited.Source = "policySets"
	intent := func(a graph.Assignment, i string) graph.Assignment { a.Intent = i; return a }
	allDevices := graph.Assignment{ID: "p_all", Target: graph.Target{Type: graph.TargetAllDevices}}
	// deviceConfigurationAssignment has its own intent (apply/remove) in
	// beta: kinds without install intents never compare it.
	applyIntent := intent(group(groupA), "apply")

	tests := []struct {
		name    string
		kind    *graph.Kind
		row     jobs.Job
		current []graph.Assignment
		want    plan.Decision
		wantID  string
	}{
		{"nothing there", cfg, job(group(groupA), ""), nil, plan.Create, ""},
		{"another group there", cfg, job(group(groupA), ""), []graph.Assignment{group(groupB)}, plan.Create, ""},
		{"same there", cfg, job(group(groupA), ""), []graph.Assignment{group(groupB), group(groupA)}, plan.Exists, "p_" + groupA},
		{"same, ids in another case", cfg, job(filtered(group(groupA), filterA, "include"), ""),
			[]graph.Assignment{filtered(group("33333333-3333-3333-3333-333333333333"), "44444444-4444-4444-4444-444444444444", "Include")}, plan.Exists, "p_" + groupA},
		{"filter none equals no filter", cfg, job(group(groupA), ""), []graph.Assignment{filtered(group(groupA), "", "none")}, plan.Exists, "p_" + groupA},
		{"graph has a filter the row lacks", cfg, job(group(groupA), ""), []graph.Assignment{filtered(group(groupA), filterA, "include")}, plan.Conflict, "p_" + groupA},
		{"row has a filter graph lacks", cfg, job(filtered(group(groupA), filterA, "include"), ""), []graph.Assignment{group(groupA)}, plan.Conflict, "p_" + groupA},
		{"other filter id", cfg, job(filtered(group(groupA), filterA, "include"), ""), []graph.Assignment{filtered(group(groupA), filterB, "include")}, plan.Conflict, "p_" + groupA},
		{"other filter type", cfg, job(filtered(group(groupA), filterA, "include"), ""), []graph.Assignment{filtered(group(groupA), filterA, "exclude")}, plan.Conflict, "p_" + groupA},
		{"included vs excluded", cfg, job(group(groupA), ""), []graph.Assignment{excluded}, plan.Conflict, "p_" + groupA},
		{"config intent ignored", cfg, job(group(groupA), ""), []graph.Assignment{applyIntent}, plan.Exists, "p_" + groupA},
		{"app, same intent", apps, job(intent(group(groupA), "required"), ""), []graph.Assignment{intent(group(groupA), "required")}, plan.Exists, "p_" + groupA},
		{"app, other intent", apps, job(intent(group(groupA), "required"), ""), []graph.Assignment{intent(group(groupA), "available")}, plan.Conflict, "p_" + groupA},
		{"all devices there", cfg, job(allDevices, ""), []graph.Assignment{group(groupA), allDevices}, plan.Exists, "p_all"},
		{"inherited, same", cfg, job(group(groupA), ""), []graph.Assignment{inherited}, plan.Exists, "p_" + groupA},

		{"remove, there", cfg, job(group(groupA), jobs.ActionRemove), []graph.Assignment{group(groupB), group(groupA)}, plan.Remove, "p_" + groupA},
		{"remove, not there", cfg, job(group(groupA), jobs.ActionRemove), []graph.Assignment{group(groupB)}, plan.Absent, ""},
		{"remove, filter differs", cfg, job(group(groupA), jobs.ActionRemove), []graph.Assignment{filtered(group(groupA), filterA, "include")}, plan.Conflict, "p_" + groupA},
		{"remove, inherited", cfg, job(group(groupA), jobs.ActionRemove), []graph.Assignment{inherited}, plan.Conflict, "p_" + groupA},
		{"remove app, other intent", apps, job(intent(group(groupA), "required"), jobs.ActionRemove), []graph.Assignment{intent(group(groupA), "uninstall")}, plan.Conflict, "p_" + groupA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, id, reason := plan.Decide(tt.kind, tt.row, tt.current)
			if d != tt.want || id != tt.wantID {
				t.Fatalf("Decide = %s %q (%s), want %s %q", d, id, reason, tt.want, tt.wantID)
			}
			if (d == plan.Conflict) != (reason != "") {
				t.Fatalf("reason %q for %s", reason, d)
			}
		})
	}
}

func TestDecideConflictSaysWhatGraphHas(t *testing.T) {
	t.Parallel()
	k := mustKind(t, "mobileApps")
	row := jobs.Job{Target: graph.TargetGroup, GroupID: groupA, Intent: "required"}
	have := []graph.Assignment{{ID: "x", Intent: "available", Target: graph.Target{Type: graph.TargetGroup, GroupID: groupA, FilterID: filterA, FilterType: "exclude"}}}
	_, _, reason := plan.Decide(k, row, have)
	const want = "policy already assigns group " + groupA + " with filter " + filterA + " (exclude) and intent available; row asks no filter and intent required; nothing is changed"
	if reason != want {
		t.Errorf("reason\n%s\nwant\n%s", reason, want)
	}
}

func mustKind(t *testing.T, name string) *graph.Kind {
	t.Helper()
	k, err := graph.LookupKind(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
