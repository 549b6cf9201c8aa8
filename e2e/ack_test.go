package e2e

import (
	"context"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// lastEdit is the body of the latest edit of msg, or "".
func (w *world) lastEdit(t testing.TB, msg id.EventID) string {
	t.Helper()
	edits := w.edits(t, msg)
	if len(edits) == 0 {
		return ""
	}
	return edits[len(edits)-1]
}

// member is a user of the homeserver who joined the ops room, with no role in opsroom.
func (w *world) member(t testing.TB, localpart string) *mautrix.Client {
	t.Helper()
	cli := w.hs.Client(t, localpart)
	ctx := context.Background()
	if _, err := w.alice.InviteUser(ctx, w.room, &mautrix.ReqInviteUser{UserID: cli.UserID}); err != nil {
		t.Fatalf("inviting %s: %v", cli.UserID, err)
	}
	if _, err := cli.JoinRoomByID(ctx, w.room); err != nil {
		t.Fatalf("%s joining the ops room: %v", cli.UserID, err)
	}
	return cli
}

// firstAlert waits for an alert that contains want and returns it.
func (w *world) firstAlert(t testing.TB, want ...string) *event.Event {
	t.Helper()
	var found *event.Event
	eventually(t, "an alert with "+strings.Join(want, ", "), func() bool {
		for _, evt := range w.alertEvents(t) {
			body := evt.Content.AsMessage().Body
			all := true
			for _, s := range want {
				all = all && strings.Contains(body, s)
			}
			if all {
				found = evt
				return true
			}
		}
		return false
	})
	return found
}

func TestEyesOnAnAlertAcknowledgeIt(t *testing.T) {
	w := watchWorld(t)
	w.access = map[string]any{"viewers": []id.UserID{w.eve.UserID}}
	mallory := w.member(t, "mallory")
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	bot := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", c.Name)
	alert := w.firstAlert(t, "web", "exited with code 137")

	// Someone without a role: nothing happens, but it is logged and audited.
	w.react(t, mallory, alert.ID, "👀")
	eventually(t, "the refused 👀 in the audit log", func() bool {
		rows := auditRows(t, bot.db, "ack")
		return len(rows) > 0 && strings.HasPrefix(rows[0], string(mallory.UserID)+" denied")
	})
	w.settle(t)
	if got := w.lastEdit(t, alert.ID); got != "" {
		t.Errorf("a 👀 from a user without a role edited the alert: %q", got)
	}
	if got := w.replies(t, alert.ID); len(got) != 0 {
		t.Errorf("a 👀 from a user without a role was answered: %q", got[0].Content.AsMessage().Body)
	}
	mustContain(t, "the log", bot.log(), "Refused a command", string(mallory.UserID))

	// A viewer: the alert says who took it, and when.
	w.react(t, w.eve, alert.ID, "👀")
	eventually(t, "the alert edited to say eve acknowledged it", func() bool {
		return strings.Contains(w.lastEdit(t, alert.ID), "Acknowledged by "+string(w.eve.UserID)+" at ")
	})
	mustContain(t, "the acknowledged alert", w.lastEdit(t, alert.ID), "exited with code 137")
	rows := auditRows(t, bot.db, "ack")
	if len(rows) != 2 || !strings.HasPrefix(rows[1], string(w.eve.UserID)+" ok web") {
		t.Errorf("audit rows of ack: %q, want mallory's refusal then eve's acknowledgement of web", rows)
	}
	alerts := w.ask(t, w.alice, "!alerts web")
	mustContain(t, "!alerts", alerts, "| exited | 👀 "+string(w.eve.UserID), "| acknowledged | by "+string(w.eve.UserID))

	// Once is enough: a second one is told who has it.
	n := alertNumber(t, alerts, "exited")
	mustContain(t, "!ack again", w.ask(t, w.alice, "!ack "+n), "already acknowledged by "+string(w.eve.UserID))
	if got := len(w.edits(t, alert.ID)); got != 1 {
		t.Errorf("%d edits of the alert, want the one acknowledgement", got)
	}
}

// alertNumber reads, from !alerts, the number of the latest alert of kind.
func alertNumber(t testing.TB, table, kind string) string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 5 && strings.TrimSpace(cells[4]) == kind {
			return strings.TrimSpace(cells[1])
		}
	}
	t.Fatalf("no %s alert in !alerts:\n%s", kind, table)
	return ""
}

func TestStartInTheRoomResolvesTheAlert(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hosts := map[string]host{"local": w.localHost()}
	services := map[string]service{"web": containerService(c)}
	bot := w.startOpsroom(t, hosts, services)
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", c.Name)
	alert := w.firstAlert(t, "web", "exited with code 137")
	mustContain(t, "start", w.ask(t, w.alice, "!start web"), "started **web**: running")
	resolvedBy := "✅ Resolved by " + string(w.alice.UserID) + "'s `!start` at "
	eventually(t, "the alert edited to say alice's !start resolved it", func() bool {
		return strings.Contains(w.lastEdit(t, alert.ID), resolvedBy)
	})
	mustContain(t, "the resolved alert", w.lastEdit(t, alert.ID), "exited with code 137")

	// Exactly once, and a restart of opsroom does not tell it again.
	w.settle(t)
	bot.stop(t)
	w.startOpsroom(t, hosts, services)
	w.waitWatching(t, true)
	w.settle(t)
	if got := w.alerts(t); len(got) != 1 {
		t.Errorf("%d alerts, want only the exit (no separate recovery): %q", len(got), got)
	}
	if got := w.edits(t, alert.ID); len(got) != 1 {
		t.Errorf("%d edits of the alert, want the one that resolves it: %q", len(got), got)
	}
	mustContain(t, "!alerts", w.ask(t, w.alice, "!alerts web"), "| resolved | edited into #")
}

func TestMutedWhileBrokenStillGetsItsResolvingEdit(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", c.Name)
	alert := w.firstAlert(t, "web", "exited with code 137")
	mustContain(t, "mute", w.ask(t, w.alice, "!mute web 10m"), "muted until")
	testworld.Docker(t, "start", c.Name)
	eventually(t, "the alert edited to say it was resolved", func() bool {
		return strings.Contains(w.lastEdit(t, alert.ID), "Resolved")
	})
	mustContain(t, "the resolved alert", w.lastEdit(t, alert.ID), "exited with code 137", "recovered: running")
	w.settle(t)
	if got := w.alerts(t); len(got) != 1 {
		t.Errorf("%d alerts, want only the exit (the recovery of a muted service is not posted): %q", len(got), got)
	}
	mustContain(t, "!alerts", w.ask(t, w.alice, "!alerts web"), "| recovered | muted; edited into #")
}

// reminders are opsroom's replies to an alert that remind of it (their first line has want).
func (w *world) reminders(t testing.TB, alert id.EventID, want string) []*event.Event {
	t.Helper()
	var out []*event.Event
	for _, evt := range w.replies(t, alert) {
		if strings.Contains(evt.Content.AsMessage().Body, want) {
			out = append(out, evt)
		}
	}
	return out
}

func TestAnAlertNoOneTakesIsRemindedOnceThenEscalated(t *testing.T) {
	w := watchWorld(t)
	w.watch["group_window"] = "0s" // two kills in seconds: two alerts, each reminded on its own
	w.top = map[string]any{"alerts": map[string]any{
		"remind_after": "4s",
		"escalate":     []map[string]any{{"after": "3s", "mention": []id.UserID{w.eve.UserID}}},
	}}
	alone := testworld.RunContainer(t, testworld.UniqueName(t, "alone"), nil)
	taken := testworld.RunContainer(t, testworld.UniqueName(t, "taken"), nil)
	aloneSvc := containerService(alone)
	aloneSvc["mention"] = []string{string(w.alice.UserID)}
	hosts := map[string]host{"local": w.localHost()}
	services := map[string]service{"alone": aloneSvc, "taken": containerService(taken)}
	bot := w.startOpsroom(t, hosts, services)
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", taken.Name)
	takenAlert := w.firstAlert(t, "**taken**", "exited with code 137")
	w.react(t, w.alice, takenAlert.ID, "👀")
	eventually(t, "taken acknowledged", func() bool { return strings.Contains(w.lastEdit(t, takenAlert.ID), "Acknowledged by") })
	testworld.Docker(t, "kill", alone.Name)
	aloneAlert := w.firstAlert(t, "**alone**", "exited with code 137")

	eventually(t, "a reminder of the alert no one took", func() bool {
		return len(w.reminders(t, aloneAlert.ID, "⏰ Not acknowledged for 4 s")) > 0
	})
	reminder := w.reminders(t, aloneAlert.ID, "⏰")[0].Content.AsMessage()
	if m := reminder.Mentions; m == nil || len(m.UserIDs) != 1 || m.UserIDs[0] != w.alice.UserID {
		t.Errorf("the reminder mentions %+v, want alice (the service's mention)", m)
	}
	mustContain(t, "the reminder", reminder.Body, "**alone**", "exited with code 137", "!ack")
	eventually(t, "the escalation", func() bool { return len(w.reminders(t, aloneAlert.ID, "⏫ Escalated")) > 0 })
	escalation := w.reminders(t, aloneAlert.ID, "⏫")[0].Content.AsMessage()
	if m := escalation.Mentions; m == nil || len(m.UserIDs) != 1 || m.UserIDs[0] != w.eve.UserID {
		t.Errorf("the escalation mentions %+v, want eve (its step's mention)", m)
	}

	// No more, not after a restart of opsroom either; none for the alert taken.
	w.settle(t)
	bot.stop(t)
	w.startOpsroom(t, hosts, services)
	w.settle(t)
	if got := w.replies(t, aloneAlert.ID); len(got) != 2 {
		t.Errorf("%d replies to the alert no one took, want the reminder and the escalation", len(got))
	}
	if got := w.replies(t, takenAlert.ID); len(got) != 0 {
		t.Errorf("the acknowledged alert was reminded: %q", got[0].Content.AsMessage().Body)
	}
	if got := w.alerts(t); len(got) != 2 {
		t.Errorf("%d alerts, want the two exits (reminders are replies): %q", len(got), got)
	}
}
