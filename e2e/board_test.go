package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// boardNow returns the room's current board, the newest one opsroom posted:
// its event and its text as last edited ("" if there is none yet).
func (w *world) boardNow(t testing.TB) (id.EventID, string) {
	t.Helper()
	var board id.EventID
	text := ""
	for _, evt := range w.botMessages(t) {
		msg := evt.Content.AsMessage()
		switch {
		case evt.Content.Raw["org.opsroom.board"] == true:
			board, text = evt.ID, msg.Body
		case board != "" && msg.RelatesTo.GetReplaceID() == board && msg.NewContent != nil:
			text = msg.NewContent.Body
		}
	}
	return board, text
}

// pinned returns the room's pinned events.
func (w *world) pinned(t testing.TB) []id.EventID {
	t.Helper()
	var pins event.PinnedEventsEventContent
	if err := w.alice.StateEvent(context.Background(), w.room, event.StatePinnedEvents, "", &pins); err != nil {
		return nil
	}
	return pins.Pinned
}

// letBotPin gives opsroom the power to change the room's state (pins among it).
func (w *world) letBotPin(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	var pl event.PowerLevelsEventContent
	if err := w.alice.StateEvent(ctx, w.room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatalf("reading the power levels: %v", err)
	}
	pl.SetUserLevel(w.botID, 50)
	if _, err := w.alice.SendStateEvent(ctx, w.room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatalf("making opsroom a moderator: %v", err)
	}
}

// waitBoard waits for the pinned board to say all of want, and returns its event.
func (w *world) waitBoard(t testing.TB, what string, want ...string) id.EventID {
	t.Helper()
	var board id.EventID
	eventually(t, what, func() bool {
		var text string
		board, text = w.boardNow(t)
		if board == "" || !slices.Contains(w.pinned(t), board) {
			return false
		}
		for _, s := range want {
			if !strings.Contains(text, s) {
				return false
			}
		}
		return true
	})
	return board
}

func TestBoardListsABrokenServiceUntilItRecoversAndIsRecreatedAfterAnUnpin(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	// Without the power to pin, the board says so, and so does !watch.
	eventually(t, "the board saying it cannot be pinned", func() bool {
		_, text := w.boardNow(t)
		return strings.Contains(text, "All clear") && strings.Contains(text, "cannot pin this board")
	})
	mustContain(t, "!watch", w.ask(t, w.alice, "!watch"), "cannot pin the board")
	w.letBotPin(t)
	first := w.waitBoard(t, "the board pinned once opsroom may pin", "All clear")
	// Pinned first, then edited: the note goes with the next edit.
	eventually(t, "the pinned board no longer saying it cannot be pinned", func() bool {
		_, text := w.boardNow(t)
		return !strings.Contains(text, "cannot pin")
	})
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", c.Name)
	w.waitBoard(t, "the board listing the killed service", "Broken now", "web", "exited", "—")
	testworld.Docker(t, "start", c.Name)
	w.waitBoard(t, "the board all clear again", "All clear")
	if board, _ := w.boardNow(t); board != first {
		t.Errorf("the board was posted again (%s, first %s); want it edited in place", board, first)
	}
	if got := w.alerts(t); len(got) != 2 {
		t.Errorf("%d alerts, want 2 (the board is none of them): %q", len(got), got)
	}

	// Someone unpins it: a new board is posted and pinned.
	if _, err := w.alice.SendStateEvent(context.Background(), w.room, event.StatePinnedEvents, "",
		&event.PinnedEventsEventContent{Pinned: []id.EventID{}}); err != nil {
		t.Fatalf("unpinning the board: %v", err)
	}
	second := w.waitBoard(t, "a new board pinned after the unpin", "All clear")
	if second == first {
		t.Fatal("the board was not re-created after the unpin")
	}
	eventually(t, "the old board marked as replaced", func() bool {
		edits := w.edits(t, first)
		return len(edits) > 0 && strings.Contains(edits[len(edits)-1], "no longer kept up to date")
	})

	// Someone redacts it: likewise.
	if _, err := w.alice.RedactEvent(context.Background(), w.room, second); err != nil {
		t.Fatalf("redacting the board: %v", err)
	}
	eventually(t, "a new board pinned after the redaction", func() bool {
		board, _ := w.boardNow(t)
		return board != second && board != "" && slices.Contains(w.pinned(t), board) && !slices.Contains(w.pinned(t), second)
	})
}

func TestMaintenanceFromTheRoomRecordsAKillAndEndsWithASummary(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true)

	mustContain(t, "start", w.ask(t, w.alice, "!maintenance web 15s new disk"), "Maintenance of **web** started until", "recorded")
	mustContain(t, "list", w.ask(t, w.alice, "!maintenance"), "In maintenance", "**web** until", "new disk")
	mustContain(t, "a viewer may not", w.ask(t, w.eve, "!maintenance web 1h"), "⛔")
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "the kill recorded", func() bool { return strings.Contains(w.ask(t, w.alice, "!alerts web"), "exited") })
	eventually(t, "the board showing it in maintenance", func() bool {
		_, text := w.boardNow(t)
		return strings.Contains(text, "exited 🔧") && strings.Contains(text, "In maintenance")
	})
	if got := w.alertsMatching(t, "exited with code"); len(got) != 0 {
		t.Errorf("an alert was posted during the maintenance window: %q", got)
	}
	eventually(t, "the summary at its end", func() bool { return len(w.alertsMatching(t, "Maintenance of **web** is over")) > 0 })
	summary := w.alertsMatching(t, "Maintenance of **web** is over")[0]
	mustContain(t, "summary", summary, "its time is up", "new disk", "**web**: exited", "Not running now: **web** exited")
	mustContain(t, "no window open", w.ask(t, w.alice, "!maintenance"), "No maintenance window is open")

	// A window for everything, ended from the room.
	mustContain(t, "all", w.ask(t, w.alice, "!maintenance all 1h"), "every service and host")
	mustContain(t, "end", w.ask(t, w.alice, "!maintenance end all"), "ended")
	eventually(t, "its summary", func() bool { return len(w.alertsMatching(t, "every service and host is over")) > 0 })
	mustContain(t, "summary", w.alertsMatching(t, "every service and host is over")[0], "ended by "+string(w.alice.UserID), "Nothing changed")
	w.settle(t)
	if got := w.alertsMatching(t, "is over"); len(got) != 2 {
		t.Errorf("%d summaries, want one per window: %q", len(got), got)
	}
}

func TestScheduledMaintenanceSuppressesAndEndsEarlyOnceBackUp(t *testing.T) {
	w := watchWorld(t)
	now := time.Now().UTC()
	w.top = map[string]any{
		"display_timezone": "UTC",
		"maintenance": []map[string]any{{
			"services": []string{"web"}, "weekday": strings.ToLower(now.Weekday().String()[:3]),
			"at": now.Format("15:04"), "duration": "10m", "end_early": true, "reason": "nightly backup",
		}},
	}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	eventually(t, "the scheduled window announced", func() bool {
		return len(w.alertsMatching(t, "Scheduled maintenance of **web** started", "nightly backup")) > 0
	})
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", c.Name)
	eventually(t, "the kill recorded", func() bool { return strings.Contains(w.ask(t, w.alice, "!alerts web"), "exited") })
	testworld.Docker(t, "start", c.Name)
	eventually(t, "the window ended early with its summary", func() bool {
		return len(w.alertsMatching(t, "Maintenance of **web** is over", "everything in it is back up")) > 0
	})
	mustContain(t, "summary", w.alertsMatching(t, "is over")[0], "**web**: exited", "recovered", "Everything in it is running")
	w.settle(t)
	if got := w.alertsMatching(t, "exited with code"); len(got) != 0 {
		t.Errorf("an alert was posted during the scheduled window: %q", got)
	}
	if got := w.alerts(t); len(got) != 2 {
		t.Errorf("%d alerts, want 2 (the window's start and its summary): %q", len(got), got)
	}
	mustContain(t, "no window open", w.ask(t, w.alice, "!maintenance"), "No maintenance window is open")
}
