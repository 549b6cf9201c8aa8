package e2e

import (
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// systemdHostFor is the hosts: entry of a systemd host, reached as our users
// reach theirs: the non-root login, its key pinned by a hashed entry.
func systemdHostFor(h *testworld.SystemdHost) host {
	return host{
		"address":         h.Addr,
		"user":            h.User,
		"identity_file":   h.IdentityFile,
		"known_hosts":     h.HashedKnownHosts,
		"connect_timeout": "5s",
		"command_timeout": "60s",
	}
}

// unitFile is a unit that runs the test service with env (systemd's
// Environment= syntax) and extra [Service] lines.
func unitFile(env, service string) string {
	return "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/usr/local/bin/testsvc\nEnvironment=" + env + "\n" + service + "\n[Install]\nWantedBy=multi-user.target\n"
}

// invocation is the ID systemd gives each start of a unit: a restart changes it.
func invocation(t *testing.T, h *testworld.SystemdHost, unit string) string {
	t.Helper()
	return h.Systemctl(t, "show", "-p", "InvocationID", "--value", unit)
}

// TestSystemdUnitsThroughTheRoom drives system units of a real systemd host
// through the room: the login user is not root, reads the journal as a member
// of systemd-journal and may change exactly the registered units through the
// sudoers lines the README gives; a user unit of the owner is reached through
// run_as.
func TestSystemdUnitsThroughTheRoom(t *testing.T) {
	h := testworld.StartSystemdHost(t)
	h.InstallUnit(t, "web.service", unitFile("LINES=8", ""))
	h.InstallUnit(t, "loop.service", unitFile("EXIT_AFTER=1s EXIT_CODE=3 LINES=0", "Restart=always\nRestartSec=1"))
	h.AllowUnits(t, "web.service", "loop.service", "ghost.service")
	h.Systemctl(t, "start", "web.service")
	// The owner reads the journal of its user units as a member of systemd-journal too.
	h.Exec(t, "usermod", "-aG", "systemd-journal", h.Owner)
	h.InstallUserUnit(t, "mine.service", "[Service]\nExecStart=/usr/local/bin/testsvc\nEnvironment=LINES=3\n")
	h.UserSystemctl(t, "start", "mine.service")

	w := watchWorld(t)
	owned := systemdHostFor(h)
	w.watch["group_window"] = "0s" // its services change within seconds of each other; each subtest counts its own alert
	owned["run_as"] = h.Owner
	w.startOpsroom(t, map[string]host{"sys": systemdHostFor(h), "sysown": owned}, map[string]service{
		"web":   {"host": "sys", "kind": "systemd", "unit": "web"}, // .service is added
		"loop":  {"host": "sys", "kind": "systemd", "unit": "loop.service"},
		"ghost": {"host": "sys", "kind": "systemd", "unit": "ghost.service"},
		"mine":  {"host": "sysown", "kind": "systemd", "unit": "mine.service", "user_unit": true},
	})
	w.waitWatching(t, true)
	mustContain(t, "!watch of a host with system and user units", w.ask(t, w.alice, "!watch"), "| sys | ", "| connected |", "| sysown | ", "none (probed only)")

	mustContain(t, "!status web", w.ask(t, w.alice, "!status web"), "**running**", "unit", "web.service")
	mustContain(t, "!status ghost", w.ask(t, w.alice, "!status ghost"), "not-deployed", "ghost.service", "does not exist")
	mustContain(t, "!status mine", w.ask(t, w.alice, "!status mine"), "**running**", "user unit", "mine.service")

	logs := w.ask(t, w.alice, "!logs web 5")
	mustContain(t, "!logs web 5", logs, "log line 4", "log line 5", "log line 6", "log line 7", "log line 8")
	if strings.Contains(logs, "log line 3") {
		t.Errorf("!logs web 5 shows more than the last 5 lines:\n%s", logs)
	}
	mustContain(t, "!logs mine 3 (a user unit)", w.ask(t, w.alice, "!logs mine 3"), "log line 1", "log line 2", "log line 3")

	before := invocation(t, h, "web.service")
	mustContain(t, "!restart web", w.ask(t, w.alice, "!restart web"), "web", "running")
	if after := invocation(t, h, "web.service"); after == before {
		t.Errorf("!restart web left the same start of web.service (invocation %s)", after)
	}
	userBefore := h.UserSystemctl(t, "show", "-p", "InvocationID", "--value", "mine.service")
	mustContain(t, "!restart mine", w.ask(t, w.alice, "!restart mine"), "mine", "running")
	if after := h.UserSystemctl(t, "show", "-p", "InvocationID", "--value", "mine.service"); after == userBefore {
		t.Errorf("!restart mine left the same start of the user unit (invocation %s)", after)
	}

	// Stopped on the host: one exited alert, then !start brings it back.
	h.Systemctl(t, "stop", "web.service")
	eventually(t, "an exited alert for web", func() bool { return len(w.alertsMatching(t, "web", "exited with code")) > 0 })
	mustContain(t, "!start web", w.ask(t, w.alice, "!start web"), "web", "running")
	if got := h.Systemctl(t, "is-active", "web.service"); got != "active" {
		t.Errorf("after !start, web.service is %q", got)
	}

	// A unit that keeps failing: one crash-loop alert, not one per restart.
	h.Systemctl(t, "start", "loop.service")
	eventually(t, "a crash-loop alert for loop", func() bool { return len(w.alertsMatching(t, "loop", "crash loop")) > 0 })
	w.settle(t)
	if got := w.alertsMatching(t, "web", "exited with code"); len(got) != 1 {
		t.Errorf("%d exited alerts for web, want exactly 1: %q", len(got), got)
	}
	if got := w.alertsMatching(t, "loop", "crash loop"); len(got) != 1 {
		t.Errorf("%d crash-loop alerts for loop, want exactly 1: %q", len(got), got)
	}
	mustContain(t, "!stop loop", w.ask(t, w.alice, "!stop loop"), "loop", "exited")

	// sudo allows exactly the registered units: opsroom's own commands pass,
	// and a unit the sudoers lines do not name is refused there, loudly.
	h.AllowUnits(t, "loop.service")
	got := w.ask(t, w.alice, "!restart web")
	mustContain(t, "!restart of a unit sudo does not allow", got, "sudo -n systemctl restart", "exited with code 1", "password is required")
}
