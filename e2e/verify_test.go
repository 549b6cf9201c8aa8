package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// crashingDockerfile is a version of the test service that exits 1 a second
// after it starts; under the project's `restart: unless-stopped` it crash-loops.
const crashingDockerfile = "FROM scratch\nCOPY testsvc /testsvc\nENV VERSION=v2 EXIT_AFTER=1s\nENTRYPOINT [\"/testsvc\"]\n"

// verifyWorld is composeWorld whose service verifies its updates for window
// and does onFailure when one fails that; the watcher probes every second and
// calls two restarts a crash loop, so that it would alert one during the window.
func verifyWorld(t *testing.T, window, onFailure string) (*world, *testworld.ComposeProject) {
	t.Helper()
	w := newWorld(t)
	w.watch = map[string]any{"interval": "1s", "crash_loop_restarts": 2}
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	svc := service{"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container,
		"update_timeout": "5m", "update_verify": window}
	if onFailure != "" {
		svc["update_on_failure"] = onFailure
	}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"app": svc})
	return w, p
}

// progressUntil sends the command and waits until its progress message's
// last form satisfies done; it returns the message and every form it had.
func (w *world) progressUntil(t *testing.T, command string, done func(string) bool) (sent, progress id.EventID, edits []string) {
	t.Helper()
	sent = w.say(t, w.alice, command)
	eventually(t, "the progress message of "+command, func() bool {
		if r := w.replies(t, sent); len(r) > 0 {
			progress = r[0].ID
			return true
		}
		return false
	})
	deadline := time.Now().Add(3 * replyTimeout)
	for time.Now().Before(deadline) {
		edits = w.edits(t, progress)
		if n := len(edits); n > 0 && done(edits[n-1]) {
			return sent, progress, edits
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: the progress message did not reach its final form: edits so far %q", command, edits)
	return "", "", nil
}

// runKinds lists the update runs opsroom recorded, oldest first, as "kind result".
func runKinds(t *testing.T, dbPath string) []string {
	t.Helper()
	db := openDatabase(t, dbPath)
	defer db.Close()
	rows, err := db.Query(`SELECT kind, result FROM update_runs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, result string
		if err := rows.Scan(&kind, &result); err != nil {
			t.Fatal(err)
		}
		out = append(out, kind+" "+result)
	}
	return out
}

// noCrashLoopAlert checks, after a few probes more, that the watcher posted
// no alert of its own about the service: the progress message told it all.
func (w *world) noCrashLoopAlert(t *testing.T) {
	t.Helper()
	time.Sleep(4 * time.Second)
	for _, a := range w.alerts(t) {
		if strings.Contains(a, "app") {
			t.Errorf("an alert was posted besides the progress message:\n%s", a)
		}
	}
}

func finalLine(md string) string {
	lines := strings.Split(strings.TrimSpace(md), "\n")
	return lines[len(lines)-1]
}

func TestUpdateVerifyPassesAGoodVersionAfterTheWindow(t *testing.T) {
	w, p := verifyWorld(t, "4s", "rollback")
	p.PushVersion(t, "v2")

	start := time.Now()
	_, _, edits := w.progressUntil(t, "!update app", func(s string) bool { return strings.HasPrefix(s, "✅") || strings.HasPrefix(s, "❌") })
	final := edits[len(edits)-1]
	t.Logf("final form:\n%s", final)
	mustContain(t, "verified update", final, "Updated", "v2", "Now: running")
	if !strings.HasSuffix(finalLine(final), "verified") {
		t.Errorf("the message does not end with \"verified\":\n%s", final)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Errorf("verified after %s, before the 4 s window was over", took)
	}
	countdown := false
	for _, e := range edits {
		countdown = countdown || strings.Contains(e, "left")
	}
	if !countdown {
		t.Errorf("no form of the progress message showed the countdown: %q", edits)
	}
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("after a verified update the container runs %q, want v2", v)
	}
}

func TestUpdateVerifyRollsBackAVersionThatCrashLoops(t *testing.T) {
	w, p := verifyWorld(t, "6s", "rollback")
	old := head(t, p.Dir)
	p.PushDockerfile(t, crashingDockerfile, "v2 crashes")

	sent, _, edits := w.progressUntil(t, "!update app", func(s string) bool {
		return strings.HasPrefix(s, "↩️") || strings.HasPrefix(s, "❌") || strings.HasPrefix(s, "✅")
	})
	final := edits[len(edits)-1]
	t.Logf("final form:\n%s", final)
	mustContain(t, "rolled back update", final, "(restart count ", "within", "Evidence:", "restart count", "crashing with code 1",
		"Rolling back to", "rolled back to", old[:7])
	if last := finalLine(final); !strings.Contains(last, "Rolled back to") || !strings.Contains(last, old[:7]) || !strings.HasSuffix(last, "verified") {
		t.Errorf("the message does not end with \"Rolled back to %s, verified\": %q", old[:7], last)
	}
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("after the rollback the container runs %q, want v1", v)
	}
	if h := head(t, p.Dir); h != old {
		t.Errorf("after the rollback the checkout is at %s, want %s", h, old)
	}
	if r := w.replies(t, sent); len(r) != 1 {
		t.Errorf("%d replies to !update, want only the progress message", len(r))
	}
	if got, want := fmt.Sprint(runKinds(t, filepathDB(w))), "[update unverified rollback succeeded]"; got != want {
		t.Errorf("update_runs: %s, want %s", got, want)
	}
	w.noCrashLoopAlert(t)
}

func TestUpdateVerifyAsksBeforeRollingBack(t *testing.T) {
	w, p := verifyWorld(t, "6s", "ask")
	old := head(t, p.Dir)
	p.PushDockerfile(t, crashingDockerfile, "v2 crashes")

	_, progress, edits := w.progressUntil(t, "!update app", func(s string) bool { return strings.HasPrefix(s, "❌") || strings.HasPrefix(s, "✅") })
	final := edits[len(edits)-1]
	mustContain(t, "failed verification", final, "Evidence:", "Roll back to", old[:7], "See the prompt below")
	var prompt id.EventID
	var question string
	eventually(t, "the prompt under the progress message", func() bool {
		// The thread under the progress message (its full output) replies to it too.
		for _, r := range w.replies(t, progress) {
			if body := r.Content.AsMessage().Body; strings.Contains(body, "React ✅") {
				prompt, question = r.ID, body
				return true
			}
		}
		return false
	})
	t.Logf("prompt: %s", question)
	mustContain(t, "prompt", question, "(restart count ", "roll **app** back to", old[:7], "React ✅ within")
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("before the ✅ the container runs %q, want the new v2 still", v)
	}

	w.react(t, w.alice, prompt, "✅")
	w.promptEndsWith(t, prompt, "Confirmed by")
	eventually(t, "the progress message saying it rolled back", func() bool {
		edits := w.edits(t, progress)
		last := finalLine(edits[len(edits)-1])
		return strings.Contains(last, "Rolled back to") && strings.HasSuffix(last, "verified")
	})
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("after the ✅ the container runs %q, want v1", v)
	}
	if got, want := fmt.Sprint(runKinds(t, filepathDB(w))), "[update unverified rollback succeeded]"; got != want {
		t.Errorf("update_runs: %s, want %s", got, want)
	}
}

func filepathDB(w *world) string { return w.database }
