package e2e

import (
	"context"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestColoursAndProgressBarsShowClean: a service that prints colours and
// redraws a progress bar with carriage returns shows clean lines in !logs
// and in its exit alert.
func TestColoursAndProgressBarsShowClean(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), map[string]string{
		"SAY":  `\x1b[31mERROR\x1b[0m disk full\ndownloading  10%\rdownloading  55%\rdownloading 100%\n`,
		"TICK": "1h",
	})
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true)

	clean := func(what, text string) {
		t.Helper()
		mustContain(t, what, text, "ERROR disk full", "downloading 100%")
		for _, bad := range []string{"\x1b", "[31m", "downloading  10%", "\r"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s shows %q:\n%q", what, bad, text)
			}
		}
	}
	clean("!logs", w.ask(t, w.alice, "!logs web 5"))
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "the exit alert", func() bool { return len(w.alertsMatching(t, "**web**", "exited with code 137")) > 0 })
	clean("the exit alert", w.alertsMatching(t, "**web**", "exited with code 137")[0])
}

// TestACommandInAThreadIsAnsweredInIt: replies, and an update's progress
// message and its full output, stay in the thread the command was typed in.
func TestACommandInAThreadIsAnsweredInIt(t *testing.T) {
	w, p := composeWorld(t)
	root := w.say(t, w.alice, "deploy of the day")
	inThread := func(text string) id.EventID {
		t.Helper()
		content := event.MessageEventContent{MsgType: event.MsgText, Body: text}
		content.RelatesTo = (&event.RelatesTo{}).SetThread(root, root)
		resp, err := w.alice.SendMessageEvent(context.Background(), w.room, event.EventMessage, &content)
		if err != nil {
			t.Fatal(err)
		}
		return resp.EventID
	}
	threadOf := func(evt *event.Event) id.EventID {
		return evt.Content.AsMessage().RelatesTo.GetThreadParent()
	}

	sent := inThread("!status app")
	got := w.waitReply(t, sent, "!status app")
	mustContain(t, "status in a thread", got, "**running**")
	if r := w.replies(t, sent); threadOf(r[0]) != root {
		t.Errorf("the answer to a command in a thread is not in the thread: %+v", r[0].Content.AsMessage().RelatesTo)
	}

	p.PushVersion(t, "v2")
	sent = inThread("!update app")
	eventually(t, "the update's result", func() bool {
		r := w.replies(t, sent)
		if len(r) == 0 {
			return false
		}
		edits := w.edits(t, r[0].ID)
		return len(edits) > 0 && strings.HasPrefix(edits[len(edits)-1], "✅")
	})
	if r := w.replies(t, sent); threadOf(r[0]) != root {
		t.Errorf("the progress message of an update typed in a thread is not in the thread")
	}
	eventually(t, "the full output in the thread", func() bool {
		for _, evt := range w.botMessages(t) {
			if threadOf(evt) == root && strings.HasPrefix(evt.Content.AsMessage().Body, "Full output") {
				return true
			}
		}
		return false
	})
}

// TestTimesSayTheirZone: every time shown is in display_timezone and says
// so; !watch shows the database's size.
func TestTimesSayTheirZone(t *testing.T) {
	w := newWorld(t)
	w.top = map[string]any{"display_timezone": "Asia/Tokyo", "retention": map[string]any{"alerts": "30d"}}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	mustContain(t, "mute", w.ask(t, w.alice, "!mute web 1h"), "muted until", "JST")
	mustContain(t, "history", w.ask(t, w.alice, "!history web"), "JST", "`!mute web 1h`")
	mustContain(t, "watch", w.ask(t, w.alice, "!watch"), "Database: ", " kB")
}
