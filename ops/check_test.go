package ops

import (
	"testing"
)

// A failed preflight shows in the service's status until a probe sees
// otherwise: a missing container that now runs is no longer missing, while a
// checkout's failure, which no probe sees, stays.
func TestAFailedPreflightStaysUntilAProbeSaysOtherwise(t *testing.T) {
	f := &Fleet{}
	services := []*ServiceConfig{{Name: "web", Host: "spark"}, {Name: "app", Host: "spark"}, {Name: "db", Host: "vps"}}
	f.recordPreflight(services, []Check{
		{Host: "spark", Name: "connect", OK: true},
		{Host: "spark", Service: "web", Name: "container exists", Detail: "container web does not exist", seeable: true},
		{Host: "spark", Service: "app", Name: "remote reachable", Detail: "exit 128"},
		{Host: "vps", Name: "connect", Detail: "refused", seeable: true},
	})
	gone := Status{Service: "web", State: StateNotDeployed}
	f.notePreflight(&gone)
	if gone.Preflight == nil || gone.Preflight.Name != "container exists" {
		t.Fatalf("a service still missing lost its failed preflight: %+v", gone.Preflight)
	}
	back := Status{Service: "web", State: StateRunning}
	f.notePreflight(&back)
	if back.Preflight != nil {
		t.Errorf("a service that runs again keeps its failed preflight")
	}
	again := Status{Service: "web", State: StateNotDeployed}
	if f.notePreflight(&again); again.Preflight != nil {
		t.Errorf("a cleared failure came back without a preflight")
	}
	app := Status{Service: "app", State: StateRunning}
	if f.notePreflight(&app); app.Preflight == nil {
		t.Errorf("a running service lost a failed checkout check that no probe sees")
	}
	db := Status{Service: "db", State: StateUnreachable}
	if f.notePreflight(&db); db.Preflight == nil || db.Preflight.Name != "connect" {
		t.Errorf("a service whose host failed to connect: %+v", db.Preflight)
	}
	// A later preflight that passes clears it.
	f.recordPreflight(services[1:2], []Check{{Host: "spark", Service: "app", Name: "remote reachable", OK: true}})
	later := Status{Service: "app", State: StateRunning}
	if f.notePreflight(&later); later.Preflight != nil {
		t.Errorf("a passing preflight left the earlier failure: %+v", later.Preflight)
	}
}

func TestPrerequisitesNameWhatIsMissing(t *testing.T) {
	c := judgePrerequisites(RunResult{Stdout: "missing: git setsid\n"}, []string{"git", "docker"})
	if c.OK || c.Detail != "missing: "+prerequisiteNeeds["git"]+"; "+prerequisiteNeeds["setsid"] {
		t.Errorf("got %+v", c)
	}
	c = judgePrerequisites(RunResult{Stdout: "motd\nmissing:\n"}, []string{"git", "docker"})
	if !c.OK || c.Detail != "bash, base64, git, docker, setsid --wait" {
		t.Errorf("got %+v", c)
	}
}
