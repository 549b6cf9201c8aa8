package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// containerService registers a plain container of the test world as a service.
func containerService(c *testworld.Container) service {
	return service{"host": "local", "kind": "container", "container": c.Name}
}

func startedAt(t testing.TB, name string) string {
	return testworld.Inspect(t, name, "{{.State.StartedAt}}")
}

func mustContain(t testing.TB, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: reply does not contain %q:\n%s", what, w, got)
		}
	}
}

func TestStatusFollowsTheContainerThroughStopRemoveAndStart(t *testing.T) {
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	})

	got := w.ask(t, w.alice, "!status app")
	mustContain(t, "running service", got, "app", "**running**", p.Container)

	testworld.Docker(t, "stop", p.Container)
	got = w.ask(t, w.alice, "!status app")
	mustContain(t, "stopped service", got, "**exited (code 0)**")

	testworld.Docker(t, "rm", p.Container)
	got = w.ask(t, w.alice, "!status app")
	mustContain(t, "removed container", got, "**not-deployed**")

	got = w.ask(t, w.alice, "!start app")
	mustContain(t, "start", got, "started **app**: running")
	if state := testworld.Inspect(t, p.Container, "{{.State.Status}}"); state != "running" {
		t.Errorf("after !start the container is %q, want running", state)
	}
	got = w.ask(t, w.alice, "!status")
	mustContain(t, "status table", got, "app", "| running")
}

func TestRestartRestartsTheContainer(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	before := startedAt(t, c.Name)
	got := w.ask(t, w.alice, "!restart web")
	mustContain(t, "restart", got, "restarted **web**: running", "restart count")
	if after := startedAt(t, c.Name); after == before {
		t.Errorf("StartedAt unchanged by !restart (%s)", after)
	}
}

func TestLogsShowsExactlyTheLastLines(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), map[string]string{"LINES": "12"})
	eventually(t, "the service printing its 12 lines", func() bool {
		return strings.Contains(testworld.Docker(t, "logs", c.Name), "log line 12")
	})
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	got := w.ask(t, w.alice, "!logs web 5")
	var shown []string
	for _, line := range strings.Split(got, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "log line ") {
			shown = append(shown, strings.TrimSpace(line))
		}
	}
	want := []string{"log line 8", "log line 9", "log line 10", "log line 11", "log line 12"}
	if strings.Join(shown, ",") != strings.Join(want, ",") {
		t.Errorf("!logs web 5 showed %q, want %q; reply:\n%s", shown, want, got)
	}
}

func TestSenderNotAllowedIsRefusedAndNothingRuns(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	bot := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	before := startedAt(t, c.Name)

	got := w.ask(t, w.eve, "!restart web")
	mustContain(t, "refusal", got, "not allowed")

	// alice's command afterwards proves the bot went on; eve's did nothing.
	mustContain(t, "status after refusal", w.ask(t, w.alice, "!status web"), "**running**")
	if after := startedAt(t, c.Name); after != before {
		t.Errorf("the container was restarted by a refused command: StartedAt %s -> %s", before, after)
	}
	rows := auditRows(t, bot.db, "restart")
	want := string(w.eve.UserID) + " denied"
	if len(rows) != 1 || !strings.HasPrefix(rows[0], want) {
		t.Errorf("audit rows for restart = %q, want one starting %q", rows, want)
	}
}

func TestBadInputSaysWhatWouldBeRight(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"bridge": containerService(c)})

	mustContain(t, "typo in service", w.ask(t, w.alice, "!status brigde"), "unknown service", "brigde", "bridge")
	mustContain(t, "negative lines", w.ask(t, w.alice, "!logs bridge -1"), "LINES must be a whole number from 1 to 500", "!logs SERVICE [LINES]")
	mustContain(t, "words for lines", w.ask(t, w.alice, "!logs bridge lots"), "LINES must be a whole number", "lots")
	mustContain(t, "unknown command", w.ask(t, w.alice, "!frobnicate"), "Unknown command", "!help")
	mustContain(t, "help", w.ask(t, w.alice, "!help"), "!status", "!logs SERVICE [LINES]", "!restart SERVICE", "!stop SERVICE", "!start SERVICE", "!services")
	mustContain(t, "services", w.ask(t, w.alice, "!services"), "bridge", "local", "container")
}

func TestUnreachableHostsAreNamed(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	down := testworld.StartSSHD(t)
	down.Stop(t)
	unpinned := hostFor(w.sshd, filepath.Join(t.TempDir(), "empty_known_hosts"))
	if err := os.WriteFile(unpinned["known_hosts"].(string), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	loose := hostFor(w.sshd, w.sshd.KnownHosts)
	looseKey := filepath.Join(t.TempDir(), "loose_key")
	key, _ := os.ReadFile(w.sshd.IdentityFile)
	if err := os.WriteFile(looseKey, key, 0o644); err != nil {
		t.Fatal(err)
	}
	loose["identity_file"] = looseKey
	w.startOpsroom(t,
		map[string]host{
			"local":    w.localHost(),
			"badkey":   hostFor(w.sshd, w.sshd.WrongKnownHosts(t)),
			"down":     hostFor(down, down.KnownHosts),
			"unpinned": unpinned,
			"loose":    loose,
		},
		map[string]service{
			"web":      containerService(c),
			"spoofed":  {"host": "badkey", "kind": "container", "container": c.Name},
			"gone":     {"host": "down", "kind": "container", "container": c.Name},
			"stranger": {"host": "unpinned", "kind": "container", "container": c.Name},
			"careless": {"host": "loose", "kind": "container", "container": c.Name},
		})

	got := w.ask(t, w.alice, "!status spoofed")
	mustContain(t, "wrong pinned key", got, "**unreachable**", "badkey", "host key mismatch")
	got = w.ask(t, w.alice, "!status gone")
	mustContain(t, "sshd down", got, "**unreachable**", "down")
	got = w.ask(t, w.alice, "!status stranger")
	mustContain(t, "host key not pinned", got, "**unreachable**", "unpinned", "not pinned", "ssh-keyscan")
	got = w.ask(t, w.alice, "!status careless")
	mustContain(t, "key readable by others", got, "**unreachable**", "loose", "readable by others", "chmod 600")
	got = w.ask(t, w.alice, "!status")
	mustContain(t, "table with unreachable hosts", got, "web", "| running", "spoofed", "gone", "| unreachable")
	mustContain(t, "restart on a spoofed host", w.ask(t, w.alice, "!restart spoofed"), "unreachable", "badkey")
}

func TestRestartOfOpsroomDoesNotReplayCommands(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hosts := map[string]host{"local": w.localHost()}
	services := map[string]service{"web": containerService(c)}
	bot := w.startOpsroom(t, hosts, services)

	sent := w.say(t, w.alice, "!restart web")
	mustContain(t, "restart", w.waitReply(t, sent, "!restart web"), "restarted")
	restartedAt := startedAt(t, c.Name)
	bot.stop(t)

	w.startOpsroom(t, hosts, services)
	mustContain(t, "status after restart", w.ask(t, w.alice, "!status web"), "**running**")
	if n := len(w.replies(t, sent)); n != 1 {
		t.Errorf("the !restart sent before opsroom restarted has %d replies, want 1", n)
	}
	if now := startedAt(t, c.Name); now != restartedAt {
		t.Errorf("the container was restarted again after opsroom restarted: StartedAt %s -> %s", restartedAt, now)
	}
}

func TestReconnectsWhenTheHostComesBack(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	mustContain(t, "before the host goes away", w.ask(t, w.alice, "!status web"), "**running**")
	w.sshd.Stop(t)
	mustContain(t, "host away", w.ask(t, w.alice, "!status web"), "**unreachable**", "local")
	w.sshd.Start(t)
	mustContain(t, "host back", w.ask(t, w.alice, "!status web"), "**running**")
}

// A host that accepts the connection and then says nothing (a hung box, a
// half-dead VPN) must not hang the bot: the reply comes within connect_timeout.
func TestHungHostIsReportedUnreachable(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hung := testworld.StartSilentListener(t)
	silent := hostFor(w.sshd, w.sshd.KnownHosts)
	silent["address"] = hung
	silent["connect_timeout"] = "2s"
	w.startOpsroom(t, map[string]host{"local": w.localHost(), "hung": silent}, map[string]service{
		"web":   containerService(c),
		"stuck": {"host": "hung", "kind": "container", "container": c.Name},
	})
	mustContain(t, "hung host", w.ask(t, w.alice, "!status stuck"), "**unreachable**", "hung")
	mustContain(t, "other hosts still answer", w.ask(t, w.alice, "!status web"), "**running**")
}
