package commands

import (
	"strings"
	"testing"

	"github.com/opsroom/opsroom/ops"
)

func TestOneJobPerServiceAtATime(t *testing.T) {
	var j jobs
	bridge := &ops.ServiceConfig{Name: "bridge", Host: "spark", Kind: ops.KindCompose, Directory: "/srv/bridge"}
	synapse := &ops.ServiceConfig{Name: "synapse", Host: "spark", Kind: ops.KindContainer}
	first, err := j.begin(bridge, "update", "@alice:example.org", func() {})
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.begin(bridge, "restart", "@bob:example.org", func() {})
	if err == nil || !strings.Contains(err.Error(), "update of bridge in progress since") || !strings.Contains(err.Error(), "started by @alice:example.org") {
		t.Errorf("second job on bridge: %v; want a refusal naming the update and alice", err)
	}
	if _, err := j.begin(synapse, "restart", "@bob:example.org", func() {}); err != nil {
		t.Errorf("another service must not wait: %v", err)
	}
	j.end(first)
	if _, err := j.begin(bridge, "restart", "@bob:example.org", func() {}); err != nil {
		t.Errorf("after the update ended: %v", err)
	}
}

// Two services deployed from one project directory on one host share its
// checkout: a fetch, reset or build of one changes it for both.
func TestOneDeployAtATimePerCheckout(t *testing.T) {
	compose := func(name, host, dir string) *ops.ServiceConfig {
		return &ops.ServiceConfig{Name: name, Host: host, Kind: ops.KindCompose, Directory: dir}
	}
	a := compose("a", "spark", "/srv/app")
	b := compose("b", "spark", "/srv/app/") // the same directory, written another way
	elsewhere := compose("c", "vps", "/srv/app")
	other := compose("d", "spark", "/srv/other")

	var j jobs
	update, err := j.begin(a, "update", "@alice:example.org", func() {})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"update", "rollback"} {
		_, err := j.begin(b, verb, "@bob:example.org", func() {})
		if err == nil {
			t.Fatalf("%s of b while a's update changes their checkout: allowed, want refused", verb)
		}
		got := shown("⚠️ " + err.Error())
		for _, want := range []string{"update of a in progress since", "started by @alice:example.org",
			"(b shares its checkout `/srv/app` on `spark`)", "try again when it is done"} {
			if !strings.Contains(got, want) {
				t.Errorf("refusal of %s b lacks %q: %s", verb, want, got)
			}
		}
	}
	if _, err := j.begin(elsewhere, "update", "@bob:example.org", func() {}); err != nil {
		t.Errorf("the same directory on another host is another checkout: %v", err)
	}
	if _, err := j.begin(other, "update", "@bob:example.org", func() {}); err != nil {
		t.Errorf("another directory on the same host is another checkout: %v", err)
	}

	// Restarting, stopping or starting b leaves the checkout alone.
	restart, err := j.begin(b, "restart", "@bob:example.org", func() {})
	if err != nil {
		t.Fatalf("restart of b while a updates: %v; want allowed", err)
	}
	// ... and the per-service rule still holds for b itself.
	if _, err := j.begin(b, "stop", "@carol:example.org", func() {}); err == nil || !strings.Contains(err.Error(), "restart of b in progress") {
		t.Errorf("stop of b while b restarts: %v; want refused naming the restart", err)
	}
	j.end(restart)

	j.end(update)
	rollback, err := j.begin(b, "rollback", "@bob:example.org", func() {})
	if err != nil {
		t.Fatalf("rollback of b once a's update is done: %v", err)
	}
	if _, err := j.begin(a, "update", "@alice:example.org", func() {}); err == nil || !strings.Contains(err.Error(), "rollback of b in progress") {
		t.Errorf("update of a while b rolls back: %v; want refused naming b's rollback", err)
	}
	restartA, err := j.begin(a, "restart", "@alice:example.org", func() {})
	if err != nil {
		t.Fatalf("restart of a while b rolls back: %v; want allowed", err)
	}
	j.end(restartA)
	// A job that no longer holds the checkout does not release it.
	j.end(update)
	if _, err := j.begin(a, "update", "@alice:example.org", func() {}); err == nil || !strings.Contains(err.Error(), "rollback of b in progress") {
		t.Errorf("after a stale end, update of a: %v; want still refused naming b's rollback", err)
	}
	j.end(rollback)
}
