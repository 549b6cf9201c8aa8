package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/testworld"
)

// podmanHost is the systemd host as a podman host: the login user, whose
// run_as owner runs the containers in its own rootless podman.
func podmanHost(h *testworld.SystemdHost) host {
	pod := systemdHostFor(h)
	pod["run_as"], pod["engine"] = h.Owner, "podman"
	return pod
}

// TestPodmanHost runs container services on a podman host: the systemd host,
// reached over its sshd as the login user, whose run_as owner runs the
// containers in its own rootless podman. The subtests share the host and
// one opsroom: booting and starting take seconds.
func TestPodmanHost(t *testing.T) {
	w := watchWorld(t)
	w.watch["group_window"] = "0s" // its services change within seconds of each other; each subtest counts its own alert
	h := testworld.StartSystemdHost(t)
	h.RunPodman(t, "web", map[string]string{"LINES": "12"})
	h.RunPodman(t, "loop", map[string]string{"LINES": "0", "EXIT_AFTER": "1s", "EXIT_CODE": "1"}, "--restart", "always")
	eventually(t, "web printing its 12 lines", func() bool { return strings.Contains(h.Podman(t, "logs", "web"), "log line 12") })
	w.startOpsroom(t, map[string]host{"pod": podmanHost(h)}, map[string]service{
		"web":   {"host": "pod", "kind": "container", "container": "web"},
		"loop":  {"host": "pod", "kind": "container", "container": "loop"},
		"ghost": {"host": "pod", "kind": "container", "container": "ghost"},
	})
	w.waitWatching(t, true)

	t.Run("status", func(t *testing.T) {
		mustContain(t, "running", w.ask(t, w.alice, "!status web"), "**running**", "web")
		mustContain(t, "missing", w.ask(t, w.alice, "!status ghost"), "**not-deployed**")
	})

	t.Run("logs", func(t *testing.T) {
		got := w.ask(t, w.alice, "!logs web 5")
		var shown []string
		for _, line := range strings.Split(got, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "log line ") {
				shown = append(shown, strings.TrimSpace(line))
			}
		}
		if want := "log line 8,log line 9,log line 10,log line 11,log line 12"; strings.Join(shown, ",") != want {
			t.Errorf("!logs web 5 showed %q, want %s; reply:\n%s", shown, want, got)
		}
	})

	t.Run("restart", func(t *testing.T) {
		before := h.Podman(t, "inspect", "--type", "container", "-f", "{{.State.StartedAt}}", "web")
		mustContain(t, "restart", w.ask(t, w.alice, "!restart web"), "restarted **web**: running")
		if after := h.Podman(t, "inspect", "--type", "container", "-f", "{{.State.StartedAt}}", "web"); after == before {
			t.Errorf("StartedAt unchanged by !restart (%s)", after)
		}
	})

	t.Run("a stop on the host is one alert", func(t *testing.T) {
		h.Podman(t, "stop", "web")
		eventuallyWithin(t, 2*time.Minute, "an exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code")) > 0 })
		mustContain(t, "start", w.ask(t, w.alice, "!start web"), "started **web**: running")
		mustContain(t, "status after start", w.ask(t, w.alice, "!status web"), "**running**")
		w.settle(t)
		if got := w.alertsMatching(t, "web", "exited"); len(got) != 1 {
			t.Errorf("%d exited alerts of web, want exactly 1: %q", len(got), got)
		}
	})

	t.Run("a crash loop is one alert", func(t *testing.T) {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("podman on the host says of loop: %s", h.Podman(t, "inspect", "-f", "{{.State.Status}} restarts {{.RestartCount}} exit {{.State.ExitCode}} since {{.State.StartedAt}}", "loop"))
				t.Logf("and opsroom: %s", w.ask(t, w.alice, "!status loop"))
			}
		})
		// Three restarts: each a rootless podman's cleanup and start, which
		// can take seconds each on a loaded machine.
		eventuallyWithin(t, 3*time.Minute, "a crash-loop alert", func() bool { return len(w.alertsMatching(t, "loop", "crash loop")) > 0 })
		w.settle(t)
		got := w.alertsMatching(t, "loop")
		if len(got) != 1 {
			t.Fatalf("%d alerts of loop, want exactly the one crash-loop alert: %q", len(got), got)
		}
		mustContain(t, "crash-loop alert", got[0], "crashing with code 1")
	})

	if got := w.alertsMatching(t, "ghost"); len(got) != 0 {
		t.Errorf("a service never deployed was alerted: %q", got)
	}
}

// TestPodmanCompose runs a compose service on a podman host: a real git
// checkout of the owner's on the systemd host, with its bare origin there
// too, deployed with podman-compose 1.0.3 in the owner's rootless podman and
// reached through run_as.
func TestPodmanCompose(t *testing.T) {
	w := newWorld(t)
	h := testworld.StartSystemdHost(t)
	p := h.NewPodmanComposeProject(t, "shop")
	w.startOpsroom(t, map[string]host{"pod": podmanHost(h)}, map[string]service{
		"app": {"host": "pod", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container, "update_timeout": "5m"},
	})

	old := p.Head(t)
	mustContain(t, "status", w.ask(t, w.alice, "!status app"), "**running**", "commit: `"+old[:7]+"`")

	t.Run("check", func(t *testing.T) {
		got := w.ask(t, w.alice, "!check app")
		mustContain(t, "check", got, "✅ host has what opsroom needs", "✅ remote reachable", "✅ on the tracked branch — master",
			"✅ no local changes", "✅ podman usable", "✅ compose usable — podman-composer version 1.0.3")
		if strings.Contains(got, "❌") {
			t.Errorf("a clean checkout failed a check:\n%s", got)
		}
	})

	t.Run("update", func(t *testing.T) {
		p.PushVersion(t, "v2")
		_, edits := w.runUpdate(t, "!update app")
		final := edits[len(edits)-1]
		now := p.Head(t)
		t.Logf("progress message, last form:\n%s", final)
		mustContain(t, "update", final, "✅ Updated **app**", old[:7], now[:7], "v2", "Now: running")
		if now == old {
			t.Errorf("the checkout is still at %s", old[:7])
		}
		if v := p.Version(t); v != "v2" {
			t.Errorf("after !update the container runs %q, want v2", v)
		}
		mustContain(t, "status after update", w.ask(t, w.alice, "!status app"), "**running**", "commit: `"+now[:7]+"`")
	})

	t.Run("a broken build fails and keeps the old version", func(t *testing.T) {
		running := p.Version(t)
		p.PushDockerfile(t, "FROM scratch\nCOPY no-such-file /x\n", "break the build")
		_, edits := w.runUpdate(t, "!update app")
		final := edits[len(edits)-1]
		mustContain(t, "build failure", final, "failed at stage build", "no-such-file", "exited 125", "Still running: running")
		if v := p.Version(t); v != running {
			t.Errorf("after a failed build the container runs %q, want %q", v, running)
		}
	})

	t.Run("start recreates a removed container", func(t *testing.T) {
		h.Podman(t, "rm", "-f", "-t", "0", p.Container)
		mustContain(t, "status after rm", w.ask(t, w.alice, "!status app"), "**not-deployed**")
		mustContain(t, "start", w.ask(t, w.alice, "!start app"), "started **app**: running")
		if state := h.Podman(t, "inspect", "--type", "container", "-f", "{{.State.Status}}", p.Container); state != "running" {
			t.Errorf("after !start the container is %s, want running", state)
		}
	})
}
