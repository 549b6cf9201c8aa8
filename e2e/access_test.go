package e2e

import (
	"context"
	"maps"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

func TestViewerMayLookButNotRestartInAnEncryptedRoom(t *testing.T) {
	w := newEncryptedWorld(t)
	w.access = map[string]any{"viewers": []string{string(w.eve.UserID)}}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	before := startedAt(t, c.Name)

	mustContain(t, "viewer's !status", w.ask(t, w.eve, "!status web"), "web", "**running**")
	got := w.ask(t, w.eve, "!restart web")
	mustContain(t, "viewer's !restart", got, "needs the operator role", string(w.eve.UserID), "viewer")
	if after := startedAt(t, c.Name); after != before {
		t.Errorf("a viewer's !restart restarted the container")
	}
	rows := auditRows(t, o.db, "restart")
	if len(rows) != 1 || !strings.HasPrefix(rows[0], string(w.eve.UserID)+" denied") {
		t.Errorf("audit rows for restart = %q, want eve's, denied", rows)
	}
	mustContain(t, "history", w.ask(t, w.alice, "!history web 5"), "!restart web", "denied", "needs role operator", string(w.eve.UserID))
}

func TestServiceOperatorsAndPowerLevelsDecideWhoMayChangeIt(t *testing.T) {
	w := newWorld(t)
	w.access = map[string]any{"operator_power_level": 50}
	web := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hs := testworld.RunContainer(t, testworld.UniqueName(t, "hs"), nil)
	homeserver := containerService(hs)
	homeserver["operators"] = []string{string(w.eve.UserID)}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"web":        containerService(web),
		"homeserver": homeserver,
	})

	got := w.ask(t, w.alice, "!restart homeserver")
	mustContain(t, "operator outside the service's list", got, "only", string(w.eve.UserID), "homeserver")
	mustContain(t, "eve without a role", w.ask(t, w.eve, "!status"), "not allowed")

	// Power level 50 in the ops room makes eve an operator.
	ctx := context.Background()
	var pl event.PowerLevelsEventContent
	if err := w.alice.StateEvent(ctx, w.room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}
	pl.SetUserLevel(w.eve.UserID, 50)
	if _, err := w.alice.SendStateEvent(ctx, w.room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}
	before := startedAt(t, hs.Name)
	mustContain(t, "eve at power level 50", w.ask(t, w.eve, "!restart homeserver"), "restarted", "homeserver")
	if after := startedAt(t, hs.Name); after == before {
		t.Errorf("eve's !restart did not restart homeserver")
	}
}

// confirmWorld runs web under confirm: [restart], in an encrypted room, with
// eve as a second operator; restart restarts opsroom.
func confirmWorld(t *testing.T, access map[string]any) (w *world, c *testworld.Container, restart func()) {
	t.Helper()
	w = newEncryptedWorld(t)
	w.access = map[string]any{"operators": []string{string(w.alice.UserID), string(w.eve.UserID)}}
	maps.Copy(w.access, access)
	c = testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	web := containerService(c)
	web["confirm"] = []string{"restart"}
	hosts, services := map[string]host{"local": w.localHost()}, map[string]service{"web": web}
	o := w.startOpsroom(t, hosts, services)
	return w, c, func() {
		o.stop(t)
		o = w.startOpsroom(t, hosts, services)
	}
}

// askConfirmed sends a command that needs confirmation and returns it and its
// prompt, which must name what (e.g. "restart of **web**").
func (w *world) askConfirmed(t *testing.T, text, what string) (sent id.EventID, prompt id.EventID) {
	t.Helper()
	sent = w.say(t, w.alice, text)
	mustContain(t, "prompt", w.waitReply(t, sent, text), "React ✅ within", what)
	return sent, w.replies(t, sent)[0].ID
}

// react clicks a reaction under msg, as who.
func (w *world) react(t *testing.T, who *mautrix.Client, msg id.EventID, key string) {
	t.Helper()
	if _, err := who.SendReaction(context.Background(), w.room, msg, key); err != nil {
		t.Fatalf("reacting %s: %v", key, err)
	}
}

// promptEndsWith waits for the prompt's last edit to contain want.
func (w *world) promptEndsWith(t *testing.T, prompt id.EventID, want string) {
	t.Helper()
	eventually(t, "the prompt edited to say "+want, func() bool {
		edits := w.edits(t, prompt)
		return len(edits) > 0 && strings.Contains(edits[len(edits)-1], want)
	})
}

func TestConfirmationRunsOnCheckAndNotOnCrossOrTimeout(t *testing.T) {
	// Long enough for a loaded machine's round trip from prompt to reaction.
	w, c, restart := confirmWorld(t, map[string]any{"confirm_timeout": "15s"})
	before := startedAt(t, c.Name)

	sent, prompt := w.askConfirmed(t, "!restart web", "restart of **web**")
	if startedAt(t, c.Name) != before {
		t.Fatalf("the restart ran before it was confirmed")
	}
	w.react(t, w.alice, prompt, "✅")
	w.promptEndsWith(t, prompt, "Confirmed by "+string(w.alice.UserID))
	eventually(t, "the restart's own reply", func() bool { return len(w.replies(t, sent)) >= 2 })
	mustContain(t, "confirmed restart", w.replies(t, sent)[1].Content.AsMessage().Body, "restarted", "web")
	after := startedAt(t, c.Name)
	if after == before {
		t.Errorf("a confirmed restart did not restart the container")
	}

	_, prompt = w.askConfirmed(t, "!restart web", "restart of **web**")
	w.react(t, w.alice, prompt, "❌")
	w.promptEndsWith(t, prompt, "Cancelled by "+string(w.alice.UserID))

	_, prompt = w.askConfirmed(t, "!restart web", "restart of **web**")
	w.promptEndsWith(t, prompt, "Not confirmed within 15 s")

	_, prompt = w.askConfirmed(t, "!restart web", "restart of **web**")
	restart()
	w.promptEndsWith(t, prompt, "Dropped by a restart of opsroom")
	if startedAt(t, c.Name) != after {
		t.Errorf("a denied, timed-out or dropped restart restarted the container")
	}
}

func TestFourEyesNeedsAnotherOperator(t *testing.T) {
	w, c, _ := confirmWorld(t, map[string]any{"four_eyes": true})
	before := startedAt(t, c.Name)

	_, prompt := w.askConfirmed(t, "!restart web", "restart of **web**")
	mine := w.say(t, w.alice, "!confirm 1")
	mustContain(t, "own confirmation under four eyes", w.waitReply(t, mine, "!confirm 1"), "needs another operator")
	if startedAt(t, c.Name) != before {
		t.Fatalf("the asker's own confirmation ran the restart")
	}
	w.react(t, w.eve, prompt, "✅")
	w.promptEndsWith(t, prompt, "Confirmed by "+string(w.eve.UserID))
	eventually(t, "the restart", func() bool { return startedAt(t, c.Name) != before })
}

func TestConfirmedUpdateInAnEncryptedRoomRunsOnlyAfterTheCheck(t *testing.T) {
	w := newEncryptedWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container,
			"update_timeout": "5m", "confirm": true},
	})
	old := head(t, p.Dir)
	p.PushVersion(t, "v2")

	_, prompt := w.askConfirmed(t, "!update app", "update of **app**")
	w.react(t, w.alice, prompt, "❌")
	w.promptEndsWith(t, prompt, "Cancelled by")
	if h := head(t, p.Dir); h != old {
		t.Fatalf("a cancelled update moved the checkout to %s", h)
	}

	sent, prompt := w.askConfirmed(t, "!update app", "update of **app**")
	w.react(t, w.alice, prompt, "✅")
	progress := w.reply(t, sent, 1, "the update's progress message after the ✅")
	eventually(t, "the update to finish", func() bool {
		edits := w.edits(t, progress)
		return len(edits) > 0 && strings.HasPrefix(edits[len(edits)-1], "✅ Updated")
	})
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("after the confirmed update the container runs %q, want v2", v)
	}
}
