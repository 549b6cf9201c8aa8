package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// composeWorld is a world with one compose service "app" whose repository has a bare origin on disk.
func composeWorld(t testing.TB) (*world, *testworld.ComposeProject) {
	t.Helper()
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container, "update_timeout": "5m"},
	})
	return w, p
}

// runUpdate sends the command and waits for its progress message to reach its
// final form; it returns the message's ID and every body it showed.
func (w *world) runUpdate(t testing.TB, command string) (id.EventID, []string) {
	t.Helper()
	sent := w.say(t, w.alice, command)
	progress := w.reply(t, sent, 0, "the progress message of "+command)
	var edits []string
	deadline := time.Now().Add(3 * replyTimeout)
	for time.Now().Before(deadline) {
		edits = w.edits(t, progress)
		if n := len(edits); n > 0 && (strings.HasPrefix(edits[n-1], "✅") || strings.HasPrefix(edits[n-1], "❌")) {
			if extra := w.replies(t, sent); len(extra) != 1 {
				t.Errorf("%s: %d messages in reply, want exactly one progress message", command, len(extra))
			}
			return progress, edits
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s did not finish: edits so far %q", command, edits)
	return "", nil
}

func head(t testing.TB, dir string) string {
	t.Helper()
	return testworld.Git(t, dir, "rev-parse", "HEAD")
}

func runningVersion(t testing.TB, container string) string {
	t.Helper()
	for _, e := range strings.Fields(strings.Trim(testworld.Inspect(t, container, "{{.Config.Env}}"), "[]")) {
		if v, ok := strings.CutPrefix(e, "VERSION="); ok {
			return v
		}
	}
	return ""
}

func TestUpdateDeploysTheNewCommitInOneLiveMessage(t *testing.T) {
	w, p := composeWorld(t)
	old := head(t, p.Dir)
	p.PushVersion(t, "v2")

	_, edits := w.runUpdate(t, "!update app")
	final := edits[len(edits)-1]
	now := head(t, p.Dir)
	t.Logf("progress message, first and last form:\n%s\n---\n%s", edits[0], final)
	mustContain(t, "final message", final, "Updated", "app", old[:7], now[:7], "v2", "Now: running")
	if len(edits) < 2 {
		t.Errorf("the progress message was edited %d times, want at least 2: %q", len(edits), edits)
	}
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("after !update the container runs %q, want v2", v)
	}

	// !rollback goes back to the commit deployed before.
	_, edits = w.runUpdate(t, "!rollback app")
	mustContain(t, "rollback", edits[len(edits)-1], "Rolled back", now[:7], old[:7])
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("after !rollback the container runs %q, want v1", v)
	}
	if h := head(t, p.Dir); h != old {
		t.Errorf("after !rollback the checkout is at %s, want %s", h, old)
	}
}

func TestUpdateWithOriginGoneFailsAtFetchAndKeepsTheOldContainer(t *testing.T) {
	w, p := composeWorld(t)
	if err := os.Rename(p.Origin, p.Origin+".moved"); err != nil {
		t.Fatal(err)
	}
	_, edits := w.runUpdate(t, "!update app")
	final := edits[len(edits)-1]
	mustContain(t, "fetch failure", final, "failed at stage fetch", "exited with code", "does not appear to be a git repository", "Still running: running")
	if state := testworld.Inspect(t, p.Container, "{{.State.Status}}"); state != "running" {
		t.Errorf("the old container is %s after a failed fetch, want running", state)
	}
}

func TestUpdateWithABrokenBuildKeepsTheOldVersion(t *testing.T) {
	w, p := composeWorld(t)
	p.PushDockerfile(t, "FROM scratch\nCOPY no-such-file /x\n", "break the build")

	_, edits := w.runUpdate(t, "!update app")
	final := edits[len(edits)-1]
	mustContain(t, "build failure", final, "failed at stage build", "no-such-file", "Still running: running")
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("after a failed build the container runs %q, want the old v1", v)
	}
}

func TestOneJobPerServiceAndInterruptedUpdatesAreSaidSo(t *testing.T) {
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	p.PushVersion(t, "v2")
	hosts := map[string]host{"local": w.localHost()}
	services := map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	}
	bot := w.startOpsroom(t, hosts, services)
	bot.preflightDone(t)
	p.SlowFetch(t, 20*time.Second)

	sent := w.say(t, w.alice, "!update app")
	progress := w.reply(t, sent, 0, "the progress message")
	mustContain(t, "restart during update", w.ask(t, w.alice, "!restart app"), "update of app in progress since", "started by "+string(w.alice.UserID))

	// Kill opsroom mid-update, as a crash or an OOM kill would, and start it again;
	// once it has recorded the stage (it does so at the next progress edit).
	eventually(t, "the update recorded at stage fetch", func() bool { return updateStage(t, bot.db) == "fetch" })
	if err := bot.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-bot.exited
	w.startOpsroom(t, hosts, services)
	eventually(t, "the progress message saying it was interrupted", func() bool {
		edits := w.edits(t, progress)
		return len(edits) > 0 && strings.Contains(edits[len(edits)-1], "interrupted by a restart of opsroom at stage fetch")
	})
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("the interrupted update changed the running version to %q", v)
	}
}

// updateStage is the stage opsroom recorded for its latest update run.
func updateStage(t testing.TB, dbPath string) string {
	t.Helper()
	db := openDatabase(t, dbPath)
	defer db.Close()
	var stage string
	if err := db.QueryRow(`SELECT stage FROM update_runs ORDER BY id DESC LIMIT 1`).Scan(&stage); err != nil {
		t.Fatalf("reading the update's stage: %v", err)
	}
	return stage
}

// liveProcesses lists the processes on the host (this machine) whose command line contains s, zombies left out.
func liveProcesses(t testing.TB, s string) []string {
	t.Helper()
	out, err := exec.Command("ps", "-eo", "stat=,args=").Output()
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && !strings.HasPrefix(f[0], "Z") && strings.Contains(line, s) {
			live = append(live, line)
		}
	}
	return live
}

// startSlowUpdate sends !update app, whose fetch sleeps for sleep seconds
// first (see ComposeProject.SlowFetch), and returns once the fetch runs on
// the host, with its progress message.
func (w *world) startSlowUpdate(t testing.TB, sleep int) (progress id.EventID) {
	t.Helper()
	sent := w.say(t, w.alice, "!update app")
	eventually(t, "the slow fetch running on the host", func() bool {
		if r := w.replies(t, sent); len(r) > 0 {
			progress = r[0].ID
		}
		return progress != "" && len(liveProcesses(t, fmt.Sprintf("sleep %d", sleep))) > 0
	})
	return progress
}

func TestCancelEndsTheUpdateAndItsProcessesOnTheHost(t *testing.T) {
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	p.PushVersion(t, "v2")
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	})
	o.preflightDone(t)
	p.SlowFetch(t, 37*time.Second)

	progress := w.startSlowUpdate(t, 37)
	mustContain(t, "cancel", w.ask(t, w.alice, "!cancel app"), "cancelling the update of **app**")
	eventually(t, "the progress message saying it was cancelled", func() bool {
		edits := w.edits(t, progress)
		return len(edits) > 0 && strings.Contains(edits[len(edits)-1], "cancelled by "+string(w.alice.UserID)+" at stage fetch")
	})
	if live := liveProcesses(t, "sleep 37"); len(live) > 0 {
		t.Errorf("the cancelled update left processes running on the host: %q", live)
	}
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("the cancelled update changed the running version to %q", v)
	}
	mustContain(t, "cancel with nothing running", w.ask(t, w.alice, "!cancel app"), "nothing is running on app")
}

func TestCheckReportsWhatWouldStopAnUpdate(t *testing.T) {
	w, p := composeWorld(t)
	got := w.ask(t, w.alice, "!check app")
	mustContain(t, "healthy checkout", got, "✅ remote reachable", "✅ on the tracked branch", "✅ no local changes", "✅ docker usable")
	if strings.Contains(got, "❌") {
		t.Errorf("a clean checkout failed a check:\n%s", got)
	}

	if err := os.WriteFile(p.Dir+"/Dockerfile", []byte("FROM scratch\n# local edit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "dirty tree", w.ask(t, w.alice, "!check app"), "❌ no local changes", "Dockerfile")

	if err := os.Rename(p.Origin, p.Origin+".moved"); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "origin gone", w.ask(t, w.alice, "!check app"), "❌ remote reachable", "does not appear to be a git repository")
}
