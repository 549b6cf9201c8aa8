package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// The process tests are about opsroom as a process a service manager runs:
// it ends when its Matrix session is dead, holds its database alone, and loses
// no command around a restart; and about what never waits behind work.

// exitsWithin waits for o to exit on its own and returns its exit code.
func exitsWithin(t *testing.T, o *opsroom, d time.Duration, what string) int {
	t.Helper()
	select {
	case <-o.exited:
		return o.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("%s: opsroom still running after %s", what, d)
		return 0
	}
}

// askWithin sends a command and fails the test unless the reply comes within d.
func (w *world) askWithin(t *testing.T, text string, d time.Duration) string {
	t.Helper()
	got, ok := w.replyWithin(t, w.say(t, w.alice, text), d)
	if !ok {
		t.Fatalf("no reply to %q within %s", text, d)
	}
	return got
}

// replyWithin waits up to d for the first reply to sent.
func (w *world) replyWithin(t *testing.T, sent id.EventID, d time.Duration) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if got := w.replies(t, sent); len(got) > 0 {
			return got[0].Content.AsMessage().Body, true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", false
}

// statusOfWeb is how the reply to !status web begins, whatever the state
// (the test service's 1 s health check can time out on a busy machine).
const statusOfWeb = "**web** on `local`: **"

func TestARevokedTokenEndsTheProcess(t *testing.T) {
	w := newEncryptedWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hosts, services := map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)}
	o := w.startOpsroom(t, hosts, services)
	mustContain(t, "status before", w.ask(t, w.alice, "!status web"), statusOfWeb)

	// The bot's account logs out every one of its devices, as "sign out all
	// sessions" in a client or an admin does: opsroom's token is dead.
	other := w.hs.Login(t, w.botID, w.botPassword)
	revoked := time.Now()
	if _, err := other.LogoutAll(context.Background()); err != nil {
		t.Fatalf("logging out all the bot's devices: %v", err)
	}
	code := exitsWithin(t, o, 10*time.Second, "after its token was revoked")
	t.Logf("opsroom exited with code %d %s after the token was revoked", code, time.Since(revoked).Round(time.Millisecond))
	if code == 0 {
		t.Errorf("opsroom exited with code 0 after its token was revoked, want non-zero for the service manager to restart it")
	}
	mustContain(t, "log", o.log(), "M_UNKNOWN_TOKEN", "no longer accepts opsroom's access token")

	// Restarted, as a service manager would, it logs in again (its device
	// keys, which the homeserver dropped, uploaded again) and answers.
	w.startOpsroom(t, hosts, services)
	mustContain(t, "status after the restart", w.ask(t, w.alice, "!status web"), statusOfWeb)
}

func TestASecondOpsroomOnTheSameDatabaseIsRefusedOrStandsBy(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	first := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	second := w.launch(t)
	if strings.HasPrefix(w.database, "postgres://") {
		// On PostgreSQL the second one is a standby.
		eventually(t, "the second standing by", func() bool { return strings.Contains(second.log(), "Standing by") })
		mustContain(t, "the second one's log", second.log(), "another opsroom instance is active",
			"opsroom pid "+strconv.Itoa(first.cmd.Process.Pid))
	} else {
		if code := exitsWithin(t, second, 20*time.Second, "a second opsroom on the same database"); code == 0 {
			t.Errorf("the second opsroom exited with code 0, want non-zero")
		}
		mustContain(t, "the second one's message", second.log(),
			"is in use by opsroom process "+strconv.Itoa(first.cmd.Process.Pid), "opsroom.db.lock", "only one opsroom", "PostgreSQL")
	}

	// The first goes on, alone: one reply to a command.
	sent := w.say(t, w.alice, "!status web")
	mustContain(t, "status from the first", w.waitReply(t, sent, "!status web"), statusOfWeb)
	time.Sleep(2 * time.Second)
	if n := len(w.replies(t, sent)); n != 1 {
		t.Errorf("!status has %d replies, want 1", n)
	}
}

func TestNoCommandIsDroppedAroundARestart(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	mustContain(t, "status", w.ask(t, w.alice, "!status web"), statusOfWeb)
	o.stop(t)

	// Sent while opsroom is down: not run, and said so.
	before := startedAt(t, c.Name)
	whileDown := w.say(t, w.alice, "!restart web")

	// A command sent 0.1 s after start lands in its first sync: it is answered.
	o = w.launch(t)
	time.Sleep(100 * time.Millisecond)
	if got, ok := w.replyWithin(t, w.say(t, w.alice, "!status web"), replyTimeout); !ok {
		t.Errorf("no reply to !status sent 0.1 s after a restart")
	} else {
		mustContain(t, "status sent 0.1 s after a restart", got, statusOfWeb)
	}
	if got, ok := w.replyWithin(t, whileDown, replyTimeout); !ok {
		t.Errorf("no reply to the !restart sent while opsroom was down")
	} else {
		mustContain(t, "restart sent while down", got, "Not run: sent at", "while opsroom was down; send it again if still needed")
	}
	if after := startedAt(t, c.Name); after != before {
		t.Errorf("the !restart sent while opsroom was down ran: StartedAt %s -> %s", before, after)
	}
	if rows := auditRows(t, o.db, "restart"); len(rows) != 1 || !strings.HasPrefix(rows[0], string(w.alice.UserID)+" cancelled") {
		t.Errorf("audit rows for restart = %q, want alice's, cancelled", rows)
	}

	// The same on a new database, whose first sync holds the room's history:
	// the command sent 0.1 s after start is answered (the history is not).
	o.stop(t)
	if strings.HasPrefix(w.database, "postgres://") {
		w.database = newDatabase(t, w.dir)
		w.writeConfig(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(o.db + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	w.launch(t)
	time.Sleep(100 * time.Millisecond)
	if got, ok := w.replyWithin(t, w.say(t, w.alice, "!status web"), replyTimeout); !ok {
		t.Errorf("no reply to !status sent 0.1 s after a start on a new database")
	} else {
		mustContain(t, "status sent 0.1 s after a start on a new database", got, statusOfWeb)
	}
	if n := len(w.replies(t, whileDown)); n > 1 {
		t.Errorf("the !restart sent while opsroom was down has %d replies after a start on a new database, want still 1", n)
	}
}

func TestControlIsAnsweredWhileTheJobSlotsAreTaken(t *testing.T) {
	w := newWorld(t)
	w.matrix = map[string]any{"max_concurrent_jobs": 1}
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	p.PushVersion(t, "v2")
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	})
	o.preflightDone(t)
	p.SlowFetch(t, 43*time.Second)

	progress := w.startSlowUpdate(t, 43)

	// The one job slot is the update's: work waits for it, marked ⏳ meanwhile;
	// reads and control do not wait.
	logs := w.say(t, w.alice, "!logs app 5")
	mustContain(t, "status while the update runs", w.askWithin(t, "!status app", 10*time.Second), "app")
	mustContain(t, "help while the update runs", w.askWithin(t, "!help", 5*time.Second), "!cancel")
	eventually(t, "!logs marked as waiting for a job slot", func() bool { return slices.Contains(w.botReactions(t, logs), "⏳") })
	if r := w.replies(t, logs); len(r) > 0 {
		t.Errorf("!logs answered while the update held the only job slot: %q", r[0].Content.AsMessage().Body)
	}
	mustContain(t, "cancel", w.askWithin(t, "!cancel app", 5*time.Second), "cancelling the update of **app**")
	deadline := time.Now().Add(10 * time.Second)
	for {
		edits := w.edits(t, progress)
		if len(edits) > 0 && strings.Contains(edits[len(edits)-1], "cancelled by "+string(w.alice.UserID)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the update not cancelled within 10 s of !cancel: edits %q", edits)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The slot is free again: the waiting !logs runs, and its ⏳ is taken back.
	if got, ok := w.replyWithin(t, logs, 20*time.Second); !ok {
		t.Errorf("no reply to the waiting !logs within 20 s of the cancel")
	} else {
		mustContain(t, "logs after the cancel", got, "app")
	}
	eventually(t, "the ⏳ taken back", func() bool { return !slices.Contains(w.botReactions(t, logs), "⏳") })
}

// botReactions returns the keys of opsroom's reactions to msg that stand (not redacted).
func (w *world) botReactions(t *testing.T, msg id.EventID) []string {
	t.Helper()
	resp, err := w.alice.Messages(context.Background(), w.room, "", "", mautrix.DirectionBackward, nil, 500)
	if err != nil {
		t.Fatalf("reading the room: %v", err)
	}
	var keys []string
	for _, evt := range resp.Chunk {
		if evt.Sender != w.botID || evt.Type != event.EventReaction || evt.Unsigned.RedactedBecause != nil {
			continue
		}
		_ = evt.Content.ParseRaw(evt.Type)
		if r := evt.Content.AsReaction(); r.RelatesTo.EventID == msg {
			keys = append(keys, r.RelatesTo.Key)
		}
	}
	return keys
}

// slowReactions is a proxy in front of the homeserver that holds each
// reaction sent through it for a while: opsroom offering ✅ and ❌ under a
// prompt is slow, as it is on a busy homeserver.
func slowReactions(t *testing.T, upstream string, hold time.Duration) string {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/m.reaction/") {
			time.Sleep(hold)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAConfirmationClickedTheInstantThePromptShowsRuns(t *testing.T) {
	w := newWorld(t)
	w.matrix = map[string]any{"homeserver": slowReactions(t, w.hs.URL, 3*time.Second)}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	web := containerService(c)
	web["confirm"] = []string{"restart"}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": web})
	before := startedAt(t, c.Name)

	sent := w.say(t, w.alice, "!restart web")
	var prompt id.EventID
	deadline := time.Now().Add(replyTimeout)
	for prompt == "" {
		for _, r := range w.replies(t, sent) {
			if _, ok := r.Content.Raw[commands.ReactionCommandsKey]; ok {
				prompt = r.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no confirmation prompt within %s", replyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.react(t, w.alice, prompt, "✅") // before opsroom has offered its own ✅ and ❌
	w.promptEndsWith(t, prompt, "Confirmed by "+string(w.alice.UserID))
	eventually(t, "the confirmed restart", func() bool { return startedAt(t, c.Name) != before })
	for _, r := range w.replies(t, prompt) {
		if body := r.Content.AsMessage().Body; strings.Contains(body, "nothing waits") {
			t.Errorf("the ✅ was answered %q", body)
		}
	}
}
