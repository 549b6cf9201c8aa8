package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// fileState is what a test remembers of a file to see that nothing changed it.
type fileState struct {
	content string
	mode    os.FileMode
	exists  bool
}

func stateOf(t testing.TB, path string) fileState {
	t.Helper()
	info, err := os.Stat(path)
	if os.IsNotExist(err) {
		return fileState{}
	} else if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{content: string(content), mode: info.Mode(), exists: true}
}

// A host whose key is not the pinned one, and a key file others can read, are
// refused with a message that says what to do; the watcher reports each host
// once, however many probes fail; nothing re-pins the key or fixes the file.
func TestChangedHostKeyIsRefusedReportedOnceAndNotRepinned(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	wrongPin := w.sshd.WrongKnownHosts(t)
	loose := hostFor(w.sshd, w.sshd.KnownHosts)
	looseKey := filepath.Join(t.TempDir(), "loose_key")
	key, err := os.ReadFile(w.sshd.IdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(looseKey, key, 0o644); err != nil {
		t.Fatal(err)
	}
	loose["identity_file"] = looseKey
	home, _ := os.UserHomeDir()
	watched := []string{wrongPin, looseKey, w.sshd.KnownHosts, filepath.Join(home, ".ssh", "known_hosts")}
	before := map[string]fileState{}
	for _, path := range watched {
		before[path] = stateOf(t, path)
	}
	pinDir, _ := os.ReadDir(filepath.Dir(wrongPin))

	w.startOpsroom(t,
		map[string]host{"local": w.localHost(), "badkey": hostFor(w.sshd, wrongPin), "loose": loose},
		map[string]service{
			"web":      containerService(c),
			"spoofed":  {"host": "badkey", "kind": "container", "container": c.Name},
			"careless": {"host": "loose", "kind": "container", "container": c.Name},
		})
	started := startedAt(t, c.Name)
	mustContain(t, "status on a changed host key", w.ask(t, w.alice, "!status spoofed"),
		"unreachable", "badkey", "host key mismatch", "fix the pinned key or remove it")
	mustContain(t, "restart on a changed host key", w.ask(t, w.alice, "!restart spoofed"), "unreachable", "host key mismatch")
	mustContain(t, "restart with a loose key file", w.ask(t, w.alice, "!restart careless"),
		"unreachable", "readable by others", "chmod 600")
	if now := startedAt(t, c.Name); now != started {
		t.Errorf("a restart through a refused host ran: StartedAt %s -> %s", started, now)
	}

	eventually(t, "the changed host key alerted", func() bool {
		return len(w.alertsMatching(t, "badkey", "unreachable", "host key mismatch")) > 0
	})
	eventually(t, "the loose key file alerted", func() bool {
		return len(w.alertsMatching(t, "loose", "unreachable", "readable by others")) > 0
	})
	w.settle(t)
	w.settle(t)
	for _, h := range []string{"badkey", "loose"} {
		if got := w.alertsMatching(t, "host", h, "unreachable"); len(got) != 1 {
			t.Errorf("host %s was reported %d times over 8 failed probes, want once: %q", h, len(got), got)
		}
	}
	if got := w.alertsMatching(t, "web"); len(got) != 0 {
		t.Errorf("alerts for web, whose host is fine: %q", got)
	}
	mustContain(t, "status of the good host afterwards", w.ask(t, w.alice, "!status web"), "**running**")

	for _, path := range watched {
		if now := stateOf(t, path); now != before[path] {
			t.Errorf("%s changed while opsroom ran (%+v -> %+v): a key must never be re-pinned, nor a key file fixed silently",
				path, before[path], now)
		}
	}
	if now, _ := os.ReadDir(filepath.Dir(wrongPin)); len(now) != len(pinDir) {
		t.Errorf("files appeared beside the known_hosts file: %v -> %v", pinDir, now)
	}
}

// Messages too big, unknown, with too many arguments or malformed get a short,
// clear answer; events that are not commands are ignored; none of them runs
// anything, and the bot answers the next command.
func TestBadInputIsAnsweredOrIgnoredAndTheBotGoesOn(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	started := startedAt(t, c.Name)

	huge := strings.Repeat("x", 60000)
	for _, tc := range []struct {
		what, say string
		want      []string
	}{
		{"a 60 kB service name", "!restart " + huge, []string{"unknown service", "web"}},
		{"a 60 kB command", "!" + huge, []string{"Unknown command", "!help"}},
		{"60 kB of LINES", "!logs web " + strings.Repeat("9", 60000), []string{"LINES must be a whole number from 1 to 500"}},
		{"60 kB of arguments", "!restart web " + strings.Repeat("web ", 15000), []string{"too many arguments", "!restart SERVICE"}},
		{"one argument too many", "!restart web web", []string{"too many arguments", "!restart SERVICE"}},
		{"an argument to a command that takes none", "!help me", []string{"takes no arguments"}},
		{"an unknown command with arguments", "!deploy web --force", []string{"Unknown command", "!deploy"}},
	} {
		got := w.ask(t, w.alice, tc.say)
		mustContain(t, tc.what, got, tc.want...)
		if len(got) > 2000 {
			t.Errorf("%s: the answer is %d bytes long: it repeats too much of the message", tc.what, len(got))
		}
	}

	// Each of these would restart web if it were taken as a command.
	send := func(typ event.Type, content map[string]any) id.EventID {
		t.Helper()
		resp, err := w.alice.SendMessageEvent(ctx, w.room, typ, content)
		if err != nil {
			t.Fatalf("sending %s %v: %v", typ.Type, content, err)
		}
		return resp.EventID
	}
	answered := w.say(t, w.alice, "!status web")
	w.waitReply(t, answered, "!status web")
	// What runs is the plain body, the text that was checked, audited and
	// answered; a formatted body saying something else is not obeyed.
	twoFaced := send(event.EventMessage, map[string]any{"msgtype": "m.text", "body": "!status web",
		"format": "org.matrix.custom.html", "formatted_body": "<p>!restart web</p>"})
	mustContain(t, "a body and formatted body that disagree", w.waitReply(t, twoFaced, "!status web"), "**running**")
	ignored := map[string]id.EventID{
		"a notice": send(event.EventMessage, map[string]any{"msgtype": "m.notice", "body": "!restart web"}),
		"a file named like a command": send(event.EventMessage,
			map[string]any{"msgtype": "m.file", "body": "!restart web", "url": "mxc://example.org/file"}),
		"an event of another type": send(event.NewEventType("org.example.command"),
			map[string]any{"msgtype": "m.text", "body": "!restart web"}),
		"a body that is not a string": send(event.EventMessage, map[string]any{"msgtype": "m.text", "body": 42}),
		"a message without a body":    send(event.EventMessage, map[string]any{"msgtype": "m.text"}),
		"a command in the formatted body only": send(event.EventMessage, map[string]any{"msgtype": "m.text",
			"body": "hello", "format": "org.matrix.custom.html", "formatted_body": "!restart web"}),
		"an edit of a command into !restart": send(event.EventMessage, map[string]any{
			"msgtype": "m.text", "body": "* !restart web",
			"m.new_content": map[string]any{"msgtype": "m.text", "body": "!restart web"},
			"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": answered},
		}),
		"a reaction to a command": send(event.EventReaction, map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": answered, "key": "✅"},
		}),
	}
	if _, err := w.alice.SendStateEvent(ctx, w.room, event.NewEventType("org.example.state"), "",
		map[string]any{"body": "!restart web"}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the next command", w.ask(t, w.alice, "!status web"), "**running**")
	time.Sleep(2 * time.Second) // time for a late answer to an event that should have none
	for what, evt := range ignored {
		if got := w.replies(t, evt); len(got) > 0 {
			t.Errorf("%s was answered: %q", what, got[0].Content.AsMessage().Body)
		}
	}
	if now := startedAt(t, c.Name); now != started {
		t.Errorf("web was restarted by bad input: StartedAt %s -> %s", started, now)
	}
	if n := len(w.replies(t, answered)); n != 1 {
		t.Errorf("the command that was edited has %d answers, want 1: an edit is not a new command", n)
	}
}
