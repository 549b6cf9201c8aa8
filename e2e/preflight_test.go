package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestPreflightOfTheWholeFleet builds a fleet with one service for each way
// a preflight fails, beside good ones of each kind: a compose directory that
// does not exist, one that is not a git checkout, a checkout whose remote is
// gone, a container that does not exist, a host whose run_as user the
// sudoers rule does not allow, a systemd unit systemd does not know. The
// preflight at start logs each failure and !status shows the services
// concerned; !check all shows every check in one table, and
// -check-config -connect prints the same and exits non-zero.
func TestPreflightOfTheWholeFleet(t *testing.T) {
	w := newWorld(t)
	w.watch = map[string]any{"disabled": true}
	h := testworld.StartSystemdHost(t)
	h.InstallUnit(t, "daemon.service", unitFile("LINES=0", ""))
	h.Systemctl(t, "start", "daemon.service")
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	app := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	gone := testworld.NewComposeProject(t, testworld.UniqueName(t, "gone"))
	if err := os.RemoveAll(gone.Origin); err != nil {
		t.Fatal(err)
	}
	notGit := testworld.OwnerUser(t).Dir(t) // the owner's, and no checkout
	noDir := filepath.Join(filepath.Dir(notGit), "no-such-directory")

	refused := w.localHost()
	refused["run_as"] = "root" // the sudoers rule lets deploy act as svc only
	compose := func(dir, container string) service {
		return service{"host": "local", "kind": "compose", "directory": dir, "compose_service": "app", "container": container}
	}
	o := w.startOpsroom(t, map[string]host{"local": w.localHost(), "refused": refused, "box": systemdHostFor(h)}, map[string]service{
		"web":     containerService(c),
		"app":     compose(app.Dir, app.Container),
		"gone":    compose(gone.Dir, gone.Container),
		"notgit":  compose(notGit, testworld.UniqueName(t, "notgit")),
		"nodir":   compose(noDir, testworld.UniqueName(t, "nodir")),
		"missing": {"host": "local", "kind": "container", "container": testworld.UniqueName(t, "missing")},
		"behind":  {"host": "refused", "kind": "container", "container": c.Name},
		"daemon":  {"host": "box", "kind": "systemd", "unit": "daemon.service"},
		"no-unit": {"host": "box", "kind": "systemd", "unit": "no-unit.service"},
	})

	// The preflight at start: every failure logged with its fields, readiness not waiting for it.
	eventually(t, "the startup preflight to finish", func() bool { return strings.Contains(o.log(), `"message":"Preflight done"`) })
	log := o.log()
	for _, want := range []string{
		`"host":"local","service":"nodir","check":"git checkout"`,
		`"host":"local","service":"notgit","check":"git checkout"`,
		`"host":"local","service":"gone","check":"remote reachable"`,
		`"host":"local","service":"missing","check":"container exists"`,
		`"host":"refused","service":"","check":"run_as root"`,
		`"host":"box","service":"no-unit","check":"unit exists"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the startup preflight logged no failure with %s", want)
		}
	}
	if strings.Contains(log, `"service":"app","check"`) || strings.Contains(log, `"service":"daemon","check"`) {
		t.Errorf("the startup preflight logged a failure of a good service:\n%s", log)
	}

	// !status shows what failed preflight, not silently.
	mustContain(t, "!status nodir", w.ask(t, w.alice, "!status nodir"), "⚠️ preflight", "git checkout", "does not exist")
	mustContain(t, "!status gone", w.ask(t, w.alice, "!status gone"), "⚠️ preflight", "remote reachable")
	all := w.ask(t, w.alice, "!status all")
	mustContain(t, "!status all", all, "gone ⚠️", "nodir ⚠️", "notgit ⚠️", "behind ⚠️", `its host's run\_as root`, "a password is required")
	if strings.Contains(all, "app ⚠️") || strings.Contains(all, "web ⚠️") {
		t.Errorf("!status all marks a service that passed preflight:\n%s", all)
	}

	rows := []string{
		"| local | — | connect | ✅ |",
		"| local | — | run_as svc | ✅ |",
		"| local | — | docker usable | ✅ |",
		"| local | — | compose usable | ✅ |",
		"| local | app | remote reachable | ✅ |",
		"| local | app | no local changes | ✅ |",
		"| local | web | container exists | ✅ |",
		"| box | — | systemctl usable | ✅ |",
		"| box | — | journal readable | ✅ |",
		"| box | daemon | unit exists | ✅ |",
		"| local | nodir | git checkout | ❌ |",
		"| local | notgit | git checkout | ❌ |",
		"| local | gone | remote reachable | ❌ |",
		"| local | missing | container exists | ❌ |",
		"| refused | — | run_as root | ❌ | sudo did not let deploy act as root",
		"| box | no-unit | unit exists | ❌ | systemd does not know unit no-unit.service",
	}
	// In the room, Markdown's own characters are escaped.
	inRoom := make([]string, len(rows))
	for i, r := range rows {
		inRoom[i] = strings.ReplaceAll(r, "run_as", `run\_as`)
	}
	got := w.ask(t, w.alice, "!check all")
	mustContain(t, "!check all", got, append(inRoom, "❌ Preflight: 6 of ", "does not exist", "is not a git checkout", "does not appear to be a git repository")...)
	if n := strings.Count(got, "❌ |"); n != 6 {
		t.Errorf("!check all has %d failed checks, want 6:\n%s", n, got)
	}

	// -check-config -connect: the same table on stdout, and a non-zero exit.
	cmd := exec.Command(testworld.GoBinary(t, "./cmd/opsroom"), "-config", filepath.Join(w.dir, "config.yaml"), "-check-config", "-connect")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("-check-config -connect with failing checks: %v, want a non-zero exit\n%s%s", err, stdout.String(), stderr.String())
	}
	mustContain(t, "-check-config -connect's stderr", stderr.String(), "preflight: 6 of ")
	for _, row := range rows {
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		if !hasRow(stdout.String(), cells) {
			t.Errorf("-check-config -connect printed no row with %q:\n%s", cells, stdout.String())
		}
	}
}

// hasRow says whether a line of a printed table has the cells, in order, each
// apart from the next by spaces only.
func hasRow(table string, cells []string) bool {
	for _, line := range strings.Split(table, "\n") {
		rest, ok := line, true
		for i, c := range cells {
			j := strings.Index(rest, c)
			if j < 0 || (i > 0 && strings.TrimSpace(rest[:j]) != "") {
				ok = false
				break
			}
			rest = rest[j+len(c):]
		}
		if ok {
			return true
		}
	}
	return false
}
