package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// A service deployed by steps of its own, not by git and compose: its
// update: commits a release in its checkout and restarts its container, its
// rollback: goes back a commit; each step runs through run_as (sudo -iu) as
// the owner, in the service's directory, shown by name in one live message.
// A failing step is named with its exit code, and the steps after it do not run.
func TestOwnUpdateAndRollbackStepsRunAsTheOwnerInOneLiveMessage(t *testing.T) {
	w := newWorld(t)
	owner := testworld.OwnerUser(t)
	dir := owner.Dir(t)
	testworld.Git(t, dir, "init", "-q")
	testworld.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "release 1")
	owner.Chown(t, dir)
	old := head(t, dir)
	site := testworld.RunContainer(t, testworld.UniqueName(t, "site"), nil)
	startedAt := testworld.Inspect(t, site.Name, "{{.State.StartedAt}}")

	git := "git -c user.name=svc -c user.email=svc@opsroom.invalid"
	bot := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"site": {"host": "local", "kind": "container", "container": site.Name, "directory": dir, "update_timeout": "2m",
			// Quotes, $(…) and a pipe, through sudo's login shell and back.
			"update": []map[string]string{
				{"name": "build", "run": `sleep 2; echo "built by $(id -un)" | tee build.log; ` + git + ` commit -q --allow-empty -m 'release 2'`},
				{"name": "restart", "run": "sleep 2 && docker restart " + site.Name + " >/dev/null && id -un > deployed-by"},
			},
			"rollback": []map[string]string{
				{"name": "revert", "run": "git reset -q --hard HEAD~1 && id -un > rolled-back-by"},
			}},
		"broken": {"host": "local", "kind": "container", "container": testworld.UniqueName(t, "broken"), "directory": dir,
			"update": []map[string]string{
				{"name": "prepare", "run": "echo ready"},
				{"name": "migrate", "run": "echo 'migration 7 failed' >&2; exit 2"},
				{"name": "cleanup", "run": "touch cleaned-up"},
			}},
	})

	progress, edits := w.runUpdate(t, "!update site")
	final := edits[len(edits)-1]
	now := head(t, dir)
	t.Logf("progress message, first and last form:\n%s\n---\n%s", w.body(t, progress), final)
	mustContain(t, "first form", w.body(t, progress), "⬜ build — sleep 2; echo", "⬜ restart — sleep 2 && docker restart")
	if !anyContains(edits, "✅ build", "⏳ restart — sleep 2 && docker restart") {
		t.Errorf("no edit showed build done and restart running: %q", edits)
	}
	mustContain(t, "final message", final, "✅ Updated **site**", old[:7]+"` → `"+now[:7], "Ran its own steps: `build`, `restart`.", "release 2", "Now: running")
	if now == old {
		t.Errorf("the build step's commit is not in the checkout: HEAD is still %s", old)
	}
	ownedBy(t, filepath.Join(dir, "deployed-by"), owner, "svc\n")
	ownedBy(t, filepath.Join(dir, "build.log"), owner, "built by svc\n")
	if again := testworld.Inspect(t, site.Name, "{{.State.StartedAt}}"); again == startedAt {
		t.Errorf("the restart step did not restart the container (started at %s)", again)
	}
	if !anyContains(w.bodies(t), "Full output", "built by svc") {
		t.Error("the steps' output is not in the thread under the progress message")
	}

	// A failing step: named, with its exit code and output; the next step does not run.
	_, edits = w.runUpdate(t, "!update broken")
	final = edits[len(edits)-1]
	mustContain(t, "failure", final, "❌ Update of **broken**", "failed at step `migrate`", "✅ prepare", "❌ migrate", "⬜ cleanup",
		"step `migrate` failed: `echo 'migration 7 failed' >&2; exit 2` exited with code 2", "migration 7 failed")
	if _, err := os.Stat(filepath.Join(dir, "cleaned-up")); err == nil {
		t.Error("the step after the failed one ran")
	}
	if stage := updateStage(t, bot.db); stage != "migrate" {
		t.Errorf("update_runs records stage %q for the failed update, want the step migrate", stage)
	}

	// A commit means nothing to steps that know where they go back to: refused, nothing run.
	mustContain(t, "rollback with a commit", w.ask(t, w.alice, "!rollback site "+old[:7]),
		"site rolls back with its own steps (services.site.rollback), which take no commit", "`!rollback site` alone")
	mustContain(t, "rollback without rollback steps", w.ask(t, w.alice, "!rollback broken"),
		"broken updates with its own steps but has no rollback: steps", "services.broken.rollback")
	if _, err := os.Stat(filepath.Join(dir, "rolled-back-by")); err == nil {
		t.Fatal("a refused rollback ran its steps")
	}

	_, edits = w.runUpdate(t, "!rollback site")
	mustContain(t, "rollback", edits[len(edits)-1], "✅ Rolled back **site**", now[:7]+"` → `"+old[:7], "Ran its own steps: `revert`.")
	ownedBy(t, filepath.Join(dir, "rolled-back-by"), owner, "svc\n")
	if h := head(t, dir); h != old {
		t.Errorf("after !rollback the checkout is at %s, want %s", h, old)
	}
}

// `!rollback SERVICE COMMIT` takes a compose service (the git recipe) to that
// commit, rather than to the one before the last update.
func TestRollbackToAGivenCommit(t *testing.T) {
	w, p := composeWorld(t)
	p.PushVersion(t, "v2")
	v2 := testworld.Git(t, p.Origin, "rev-parse", "master")
	p.PushVersion(t, "v3")
	w.runUpdate(t, "!update app")
	if v := runningVersion(t, p.Container); v != "v3" {
		t.Fatalf("after !update the container runs %q, want v3", v)
	}

	mustContain(t, "not a commit", w.ask(t, w.alice, "!rollback app HEAD~1"), `"HEAD~1" is not a commit ID`)
	_, edits := w.runUpdate(t, "!rollback app "+v2[:9])
	mustContain(t, "rollback to v2", edits[len(edits)-1], "✅ Rolled back **app**", "` → `"+v2[:7])
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("after !rollback to v2's commit the container runs %q", v)
	}
	if h := head(t, p.Dir); h != v2 {
		t.Errorf("after !rollback the checkout is at %s, want %s", h, v2)
	}
}

// body is the text of the bot's message msg as first sent.
func (w *world) body(t testing.TB, msg id.EventID) string {
	t.Helper()
	for _, evt := range w.botMessages(t) {
		if evt.ID == msg {
			return evt.Content.AsMessage().Body
		}
	}
	t.Fatalf("no message %s from the bot", msg)
	return ""
}

// bodies are the texts of every message of the bot, oldest first.
func (w *world) bodies(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, evt := range w.botMessages(t) {
		out = append(out, evt.Content.AsMessage().Body)
	}
	return out
}

// anyContains says whether one of texts contains every one of want.
func anyContains(texts []string, want ...string) bool {
	for _, text := range texts {
		all := true
		for _, w := range want {
			all = all && strings.Contains(text, w)
		}
		if all {
			return true
		}
	}
	return false
}

// ownedBy checks that a step wrote the file as the owner, with the content want.
func ownedBy(t testing.TB, path string, owner testworld.Account, want string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Errorf("the step did not write %s: %v", path, err)
		return
	}
	if uid := info.Sys().(*syscall.Stat_t).Uid; int(uid) != owner.UID {
		t.Errorf("%s belongs to uid %d, want the owner %s (%d)", path, uid, owner.Name, owner.UID)
	}
	if data, _ := os.ReadFile(path); string(data) != want {
		t.Errorf("%s holds %q, want %q", path, data, want)
	}
}
