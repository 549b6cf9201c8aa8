package e2e

import (
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestPodmanHost runs container services on a podman host: the systemd host,
// reached over its sshd as the login user, whose run_as owner runs the
// containers in its own rootless podman. The subtests share the host and
// one opsroom: booting and starting take seconds.
func TestPodmanHost(t *testing.T) {
	w := watchWorld(t)
	h := testworld.StartSystemdHost(t)
	h.RunPodman(t, "web", map[string]string{"LINES": "12"})
	h.RunPodman(t, "loop", map[string]string{"LINES": "0", "EXIT_AFTER": "1s", "EXIT_CODE": "1"}, "--restart", "always")
	eventually(t, "web printing its 12 lines", func() bool { return strings.Contains(h.Podman(t, "logs", "web"), "log line 12") })
	pod := host{
		"address":         h.Addr,
		"user":            h.User,
		"run_as":          h.Owner,
		"identity_file":   h.IdentityFile,
		"known_hosts":     h.HashedKnownHosts,
		"engine":          "podman",
		"connect_timeout": "5s",
		"command_timeout": "60s",
	}
	w.startOpsroom(t, map[string]host{"pod": pod}, map[string]service{
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
		eventually(t, "an exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code")) > 0 })
		mustContain(t, "start", w.ask(t, w.alice, "!start web"), "started **web**: running")
		mustContain(t, "status after start", w.ask(t, w.alice, "!status web"), "**running**")
		settle()
		if got := w.alertsMatching(t, "web", "exited"); len(got) != 1 {
			t.Errorf("%d exited alerts of web, want exactly 1: %q", len(got), got)
		}
	})

	t.Run("a crash loop is one alert", func(t *testing.T) {
		eventually(t, "a crash-loop alert", func() bool { return len(w.alertsMatching(t, "loop", "crash loop")) > 0 })
		settle()
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
