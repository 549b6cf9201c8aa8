package e2e

import (
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestStatusAllOfAMixedFleet asks !status all of every kind at once, on three
// hosts: Docker containers and a compose service on the local sshd, podman
// containers and systemd units (system and user) on a systemd host reached
// as its owner through run_as, and a unit on the same machine reached by the
// login user alone. One table answers, and each host is asked once per kind:
// counted on the systemd host by the sudo sessions its owner's commands open.
func TestStatusAllOfAMixedFleet(t *testing.T) {
	w := newWorld(t)
	w.watch = map[string]any{"disabled": true} // only !status runs commands
	h := testworld.StartSystemdHost(t)
	h.RunPodman(t, "pod-web", map[string]string{"LINES": "0"})
	h.InstallUnit(t, "daemon.service", unitFile("LINES=0", ""))
	h.Systemctl(t, "start", "daemon.service")
	h.InstallUserUnit(t, "mine.service", "[Service]\nExecStart=/usr/local/bin/testsvc\nEnvironment=LINES=0\n")
	h.UserSystemctl(t, "start", "mine.service")
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))

	box := systemdHostFor(h)
	box["run_as"] = h.Owner
	box["engine"] = "podman"
	w.startOpsroom(t, map[string]host{"local": w.localHost(), "box": box, "box-login": systemdHostFor(h)}, map[string]service{
		"web":      containerService(c),
		"app":      {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
		"pod-web":  {"host": "box", "kind": "container", "container": "pod-web"},
		"pod-gone": {"host": "box", "kind": "container", "container": "pod-gone"},
		"mine":     {"host": "box", "kind": "systemd", "unit": "mine.service", "user_unit": true},
		"daemon":   {"host": "box-login", "kind": "systemd", "unit": "daemon.service"},
		"no-unit":  {"host": "box-login", "kind": "systemd", "unit": "no-unit.service"},
	})
	// The preflight at start (in the background) marks the missing ones: once
	// both carry its ⚠️, it is done and runs no more commands.
	eventually(t, "the start's preflight done", func() bool {
		got := w.ask(t, w.alice, "!status all")
		return strings.Contains(got, "pod-gone ⚠️") && strings.Contains(got, "no-unit ⚠️")
	})

	// Where the journal is now: what the next !status all does comes after.
	shown := strings.Split(h.Exec(t, "journalctl", "-n", "1", "--show-cursor", "-o", "cat"), "\n")
	cursor, ok := strings.CutPrefix(shown[len(shown)-1], "-- cursor: ")
	if !ok {
		t.Fatalf("journalctl --show-cursor printed no cursor")
	}
	got := w.ask(t, w.alice, "!status all")
	for _, row := range []string{
		"| 🟢 web | local | running |",
		"| 🟢 app | local | running |",
		"| 🟢 pod-web | box | running |",
		"| 🔴 pod-gone ⚠️ | box | not-deployed |",
		"| 🟢 mine | box | running |",
		"| 🟢 daemon | box-login | running |",
		"| 🔴 no-unit ⚠️ | box-login | not-deployed |",
	} {
		if !strings.Contains(got, row) {
			t.Errorf("!status all has no row with %q:\n%s", row, got)
		}
	}
	// box runs a podman probe and a systemd --user probe, each as the owner
	// through sudo: two sessions, whatever the number of services.
	opened := 0
	for _, line := range strings.Split(h.Exec(t, "journalctl", "--after-cursor", cursor, "-o", "cat", "_COMM=sudo"), "\n") {
		if strings.Contains(line, "session opened for user "+h.Owner) {
			opened++
		}
	}
	if opened != 2 {
		t.Errorf("!status all opened %d sudo sessions as %s on box, want 2 (one probe per kind: podman, systemd --user)", opened, h.Owner)
	}
}
