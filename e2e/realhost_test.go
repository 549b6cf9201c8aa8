package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/testworld"
)

// The tests of hosts shaped like our users': every one logs in as the
// non-root deploy user and acts as the owner through sudo -iu (run_as), whose
// shells print banners on stdout and stderr (see testworld.OwnerWith).

// ownerOf is the local host acting as owner through run_as.
func (w *world) ownerOf(owner string) host {
	h := w.localHost()
	h["run_as"] = owner
	return h
}

// TestChattyShellsDoNotCorruptAnswers: the owner's .profile and .bashrc
// print on stdout and stderr before every command, and no answer shows it.
func TestChattyShellsDoNotCorruptAnswers(t *testing.T) {
	w, p := composeWorld(t)
	commit := head(t, p.Dir)
	status := w.ask(t, w.alice, "!status app")
	mustContain(t, "status", status, "**running**", "commit: `"+commit[:7]+"`")
	check := w.ask(t, w.alice, "!check app")
	mustContain(t, "check", check, "✅ on the tracked branch — master", "✅ host has what opsroom needs", "✅ compose usable — Docker Compose version v2")
	for _, got := range []string{status, check, w.ask(t, w.alice, "!logs app 5")} {
		for _, noise := range []string{"Welcome to spark", "nvm", "motd"} {
			if strings.Contains(got, noise) {
				t.Errorf("an answer shows what the login shells printed (%q):\n%s", noise, got)
			}
		}
	}
}

// TestUpdateThroughRunAsRecreatesTheContainer reads the result on the host:
// the checkout's HEAD and the container's image.
func TestUpdateThroughRunAsRecreatesTheContainer(t *testing.T) {
	w, p := composeWorld(t)
	oldImage := testworld.Inspect(t, p.Container, "{{.Image}}")
	p.PushVersion(t, "v2")
	_, edits := w.runUpdate(t, "!update app")
	final := edits[len(edits)-1]
	now := head(t, p.Dir)
	mustContain(t, "update", final, "✅ Updated **app**", "→ `"+now[:7]+"`")
	if img := testworld.Inspect(t, p.Container, "{{.Image}}"); img == oldImage {
		t.Errorf("the update said ✅ but the container still runs image %s", img)
	}
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("running version %q after the update, want v2", v)
	}
}

// TestALoginShellThatEatsTheCommandFailsLoudly: an owner whose login shell
// never runs the command (its profile exits) makes every command an error,
// never a ✅ for nothing.
func TestALoginShellThatEatsTheCommandFailsLoudly(t *testing.T) {
	testworld.OwnerWith(t, "svceater", "exit 0")
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	p.PushVersion(t, "v2")
	old := head(t, p.Dir)
	w.startOpsroom(t, map[string]host{"eater": w.ownerOf("svceater")}, map[string]service{
		"app": {"host": "eater", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	})
	mustContain(t, "restart", w.ask(t, w.alice, "!restart app"), "❌", "did not run the command as expected")
	_, edits := w.runUpdate(t, "!update app")
	mustContain(t, "update", edits[len(edits)-1], "❌", "did not run the command as expected")
	if now := head(t, p.Dir); now != old {
		t.Errorf("HEAD moved to %s", now)
	}
}

// TestDockerThatDoesNotAnswerIsOneHostAlert: the owner's profile points
// DOCKER_HOST at a socket that is not there: one alert naming the host's
// services, and one recovery once Docker answers again.
func TestDockerThatDoesNotAnswerIsOneHostAlert(t *testing.T) {
	const owner = "svcnodocker"
	testworld.OwnerWith(t, owner, "export DOCKER_HOST=unix:///run/opsroom-test-no-docker.sock")
	t.Cleanup(func() { testworld.OwnerWith(t, owner, "") })
	w := watchWorld(t)
	a := testworld.RunContainer(t, testworld.UniqueName(t, "a"), nil)
	b := testworld.RunContainer(t, testworld.UniqueName(t, "b"), nil)
	sa, sb := containerService(a), containerService(b)
	sa["host"], sb["host"] = "nd", "nd"
	w.startOpsroom(t, map[string]host{"nd": w.ownerOf(owner)}, map[string]service{"a": sa, "b": sb})

	eventually(t, "a Docker-down alert", func() bool { return len(w.alertsMatching(t, "Docker on `nd` does not answer")) > 0 })
	got := w.alertsMatching(t, "Docker on `nd` does not answer")
	mustContain(t, "alert", got[0], "its services: a, b", "Cannot connect to the Docker daemon")
	mustContain(t, "watch", w.ask(t, w.alice, "!watch"), "| nd |", "yes, but Docker does not")

	testworld.OwnerWith(t, owner, "")
	eventually(t, "the recovery", func() bool { return len(w.alertsMatching(t, "host `nd` recovered", "Docker answers again")) > 0 })
	if got := w.alertsMatching(t, "Docker on `nd` does not answer"); len(got) != 1 {
		t.Errorf("%d Docker-down alerts, want 1: %q", len(got), got)
	}
	if got := w.alertsMatching(t, "exited"); len(got) != 0 {
		t.Errorf("services alerted while Docker was away: %q", got)
	}
}

// TestBusyBoxSetsidIsNamedByTheCheck: an owner whose setsid is BusyBox's,
// which has no --wait: the preflight says so, and an update fails loudly.
func TestBusyBoxSetsidIsNamedByTheCheck(t *testing.T) {
	const name = "svcbusybox"
	owner := testworld.OwnerWith(t, name, `mkdir -p ~/bin && ln -sf /bin/busybox ~/bin/setsid; PATH="$HOME/bin:$PATH"`)
	w := newWorld(t)
	p := testworld.NewComposeProjectOf(t, testworld.UniqueName(t, "app"), owner)
	w.startOpsroom(t, map[string]host{"bb": w.ownerOf(name)}, map[string]service{
		"app": {"host": "bb", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	})
	mustContain(t, "check", w.ask(t, w.alice, "!check app"), "❌ host has what opsroom needs", "setsid with --wait", "BusyBox")
	p.PushVersion(t, "v2")
	_, edits := w.runUpdate(t, "!update app")
	mustContain(t, "update", edits[len(edits)-1], "❌", "setsid")
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("running version %q, want v1 still", v)
	}
}

// TestACutHostIsAlertedInSeconds: a host whose connections are cut is
// alerted once its event stream ends, not after two probe intervals. The
// interval here is 5 minutes, so only that path can alert it within the test.
func TestACutHostIsAlertedInSeconds(t *testing.T) {
	w := newWorld(t)
	w.watch = map[string]any{"interval": "5m"}
	tp := testworld.StartToxiproxy(t)
	ssh := tp.Proxy(t, "ssh", w.sshd.Addr)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.viaProxy(t, ssh)}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true)

	ssh.SetEnabled(t, false)
	eventually(t, "an unreachable alert", func() bool { return len(w.alertsMatching(t, "host `local` is unreachable")) > 0 })
	ssh.SetEnabled(t, true)
	eventually(t, "the recovery", func() bool { return len(w.alertsMatching(t, "host `local` recovered")) > 0 })
}

// TestTwelveDeathsDuringAnUpdate: a host with 12 services that all die at
// once while an update runs there. The alerts' log reads, the probe, the
// event stream and the update need more sessions than sshd's default
// MaxSessions (10) allows on one connection: opsroom queues them, the update
// finishes ✅, and each exit is alerted once, with no "connection lost".
func TestTwelveDeathsDuringAnUpdate(t *testing.T) {
	w := watchWorld(t)
	w.watch["group_window"] = "0s" // an alert each: what is counted here is that none is lost
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	services := map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container, "update_timeout": "5m"},
	}
	var names []string
	for i := 1; i <= 12; i++ {
		// No health check: twelve of them, every second, time out on a busy
		// machine, and a service unhealthy at the watcher's first probe has
		// no baseline yet (its exit would be the baseline, not an alert).
		c := testworld.RunContainer(t, testworld.UniqueName(t, fmt.Sprintf("s%d", i)), nil, "--no-healthcheck")
		services[fmt.Sprintf("s%d", i)] = containerService(c)
		names = append(names, c.Name)
	}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, services)
	w.waitWatching(t, true)
	p.PushVersion(t, "v2")
	p.SlowFetch(t, 5*time.Second)

	sent := w.say(t, w.alice, "!update app")
	eventually(t, "the slow fetch running on the host", func() bool {
		return len(w.replies(t, sent)) > 0 && len(liveProcesses(t, "sleep 5")) > 0
	})
	testworld.Docker(t, append([]string{"kill"}, names...)...)
	eventually(t, "an exit alert for each of the 12", func() bool {
		return len(w.alertsMatching(t, "exited with code 137")) >= len(names)
	})
	var final string
	eventually(t, "the update's end", func() bool {
		edits := w.edits(t, w.replies(t, sent)[0].ID)
		if n := len(edits); n > 0 && (strings.HasPrefix(edits[n-1], "✅") || strings.HasPrefix(edits[n-1], "❌")) {
			final = edits[n-1]
		}
		return final != ""
	})
	mustContain(t, "update", final, "✅ Updated **app**")
	w.settle(t)
	for i := 1; i <= 12; i++ {
		if got := w.alertsMatching(t, fmt.Sprintf("**s%d**", i), "exited with code 137"); len(got) != 1 {
			t.Errorf("s%d: %d exit alerts, want 1: %q", i, len(got), got)
		}
	}
	for _, a := range w.alerts(t) {
		for _, bad := range []string{"connection lost", "unreachable", "could not read the logs"} {
			if strings.Contains(a, bad) {
				t.Errorf("an alert says %q:\n%s", bad, a)
			}
		}
	}
}

// TestUpdateOnADirectOwnerLoginWithComposeV1: a host logged in to as the
// owner itself, without run_as, whose compose is Debian's docker-compose v1.
func TestUpdateOnADirectOwnerLoginWithComposeV1(t *testing.T) {
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	w.startOpsroom(t, map[string]host{"owner": w.ownerHost(t)}, map[string]service{
		"app": {"host": "owner", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	})
	mustContain(t, "check", w.ask(t, w.alice, "!check app"), "✅ compose usable — docker-compose version 1")
	p.PushVersion(t, "v2")
	_, edits := w.runUpdate(t, "!update app")
	mustContain(t, "update", edits[len(edits)-1], "✅ Updated **app**", "→ `"+head(t, p.Dir)[:7]+"`")
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("running version %q after the update, want v2", v)
	}
}

// TestALoginUserWhoseShellIsDash: a host whose login user keeps the system's
// /bin/sh (dash) as its shell, so sshd hands every command to dash before
// sudo hands it to the owner's bash: status, logs, restart and an update
// work as through bash, and the login is the configured user's.
func TestALoginUserWhoseShellIsDash(t *testing.T) {
	w := newWorld(t)
	if shell := strings.Split(strings.TrimSpace(mustRun(t, "getent", "passwd", testworld.DashLogin)), ":")[6]; shell != "/bin/sh" {
		t.Fatalf("%s's login shell is %s, want /bin/sh", testworld.DashLogin, shell)
	}
	if target, _ := os.Readlink("/bin/sh"); !strings.Contains(target, "dash") {
		t.Fatalf("/bin/sh is %q here, want dash (Debian's)", target)
	}
	w.sshd.Authorize(t, testworld.DashLogin)
	h := w.localHost()
	h["user"] = testworld.DashLogin
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	w.startOpsroom(t, map[string]host{"dash": h}, map[string]service{
		"app": {"host": "dash", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	})
	mustContain(t, "status", w.ask(t, w.alice, "!status app"), "**running**", "commit: `"+head(t, p.Dir)[:7]+"`")
	mustContain(t, "logs", w.ask(t, w.alice, "!logs app 5"), "```")
	before := startedAt(t, p.Container)
	mustContain(t, "restart", w.ask(t, w.alice, "!restart app"), "restarted **app**")
	if startedAt(t, p.Container) == before {
		t.Errorf("!restart answered, but the container was not restarted")
	}
	p.PushVersion(t, "v2")
	_, edits := w.runUpdate(t, "!update app")
	mustContain(t, "update", edits[len(edits)-1], "✅ Updated **app**", "→ `"+head(t, p.Dir)[:7]+"`")
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("running version %q after the update, want v2", v)
	}
	if logins := w.sshd.LoggedIn(); len(logins) == 0 || slices.ContainsFunc(logins, func(u string) bool { return u != testworld.DashLogin }) {
		t.Errorf("sshd's logins %v, want %s's only", logins, testworld.DashLogin)
	}
}

func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}
