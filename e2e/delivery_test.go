package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// in is the world as seen in another of its rooms: w.in(room).alerts(t) are
// the alerts there.
func (w *world) in(room id.RoomID) *world {
	other := *w
	other.room = room
	return &other
}

// secondRoom is a room alice makes for alerts, the bot invited or not.
func (w *world) secondRoom(t testing.TB, inviteBot bool) id.RoomID {
	t.Helper()
	req := &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "alerts 2"}
	if inviteBot {
		req.Invite = []id.UserID{w.botID}
	}
	resp, err := w.alice.CreateRoom(context.Background(), req)
	if err != nil {
		t.Fatalf("creating a second alert room: %v", err)
	}
	return resp.RoomID
}

// The alert of a service that dies with long JSON log lines full of HTML is
// too large for the homeserver once escaped and encrypted; it arrives
// shortened, and the alerts after it arrive too.
func TestAnAlertTooLargeArrivesShortenedAndTheNextOneToo(t *testing.T) {
	w := newEncryptedWorld(t)
	// Each its own message: small's alert must follow big's shortened one.
	w.watch = map[string]any{"interval": probeInterval.String(), "group_window": "0s"}
	line := `{"level":"error","msg":"render failed","html":"` +
		strings.Repeat(`<div class='e'><b>&amp;</b> &lt;x&gt; <i>y</i></div>`, 25) + `"}`
	big := testworld.RunContainer(t, testworld.UniqueName(t, "big"), map[string]string{
		"SAY":       strings.ReplaceAll(line, `"`, `\"`) + `\n`,
		"SAY_TIMES": "10",
		"TICK":      "1h",
	})
	small := testworld.RunContainer(t, testworld.UniqueName(t, "small"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()},
		map[string]service{"big": containerService(big), "small": containerService(small)})
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", big.Name)
	eventually(t, "the exit alert of big", func() bool { return len(w.alertsMatching(t, "**big**", "exited with code 137")) > 0 })
	got := w.alertsMatching(t, "**big**", "exited with code 137")[0]
	// Shortened by delivery (the logs dropped, a note), or cut to fit before it was sent.
	if !strings.Contains(got, "too long to send") && !strings.Contains(got, "cut") {
		t.Errorf("big's alert does not say it was shortened:\n%s", got)
	}
	testworld.Docker(t, "kill", small.Name)
	eventually(t, "the exit alert of small, after big's", func() bool {
		return len(w.alertsMatching(t, "**small**", "exited with code 137")) > 0
	})
	w.settle(t)
	if got := w.alerts(t); len(got) != 2 {
		t.Errorf("%d alerts, want 2 (big's and small's): %q", len(got), got)
	}
	if strings.Contains(w.ask(t, w.alice, "!alerts"), "not delivered") {
		t.Errorf("!alerts says an alert was not delivered")
	}
}

// An alert room opsroom was never invited to does not hold up the good one:
// a kill is alerted there while the bad room waits out its backoff, and the
// bad room is reported once, in !watch and in the good room.
func TestAnUnjoinedAlertRoomDoesNotDelayTheOthers(t *testing.T) {
	w := watchWorld(t)
	bad := w.secondRoom(t, false)
	w.matrix = map[string]any{"alert_rooms": []id.RoomID{w.room, bad}}
	web := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	db := testworld.RunContainer(t, testworld.UniqueName(t, "db"), nil)
	bot := w.startOpsroom(t, map[string]host{"local": w.localHost()},
		map[string]service{"web": containerService(web), "db": containerService(db)})
	w.waitWatching(t, true)

	testworld.Docker(t, "kill", web.Name)
	eventually(t, "web's alert in the good room", func() bool { return len(w.alertsMatching(t, "**web**", "exited with code 137")) > 0 })
	cannot := "opsroom cannot post alerts to `" + string(bad) + "`"
	eventually(t, "the bad room reported in the good room", func() bool { return len(w.alertsMatching(t, cannot)) > 0 })

	// Let the bad room's backoff grow past what a kill takes to be alerted,
	// then kill db just after one of its retries.
	var waited int
	eventually(t, "the bad room waiting 8 s or more between retries", func() bool {
		retries := badRoomRetries(bot.log(), bad)
		waited = len(retries)
		return waited > 0 && retries[waited-1] >= 8*time.Second
	})
	testworld.Docker(t, "kill", db.Name)
	eventually(t, "db's alert in the good room", func() bool { return len(w.alertsMatching(t, "**db**", "exited with code 137")) > 0 })
	if n := len(badRoomRetries(bot.log(), bad)); n != waited {
		t.Errorf("the bad room was retried %d times before db's alert reached the good room: the good room waited for it", n-waited)
	}

	mustContain(t, "!watch", w.ask(t, w.alice, "!watch"), "alert room `"+string(bad)+"`: cannot post (M", "FORBIDDEN", "not in room", ") since")
	mustContain(t, "!alerts", w.ask(t, w.alice, "!alerts"), "waiting for `"+string(bad)+"`")
	w.settle(t)
	if got := w.alertsMatching(t, cannot); len(got) != 1 {
		t.Errorf("%d notices that the bad room refuses alerts, want 1: %q", len(got), got)
	}
	if n := strings.Count(bot.log(), "Cannot post alerts to this room"); n != 1 {
		t.Errorf("the bad room was logged at error level %d times, want once", n)
	}
}

// badRoomRetries reads from opsroom's log how long it waited after each
// retry of the room that refuses its alerts.
func badRoomRetries(log string, room id.RoomID) []time.Duration {
	var out []time.Duration
	for _, line := range strings.Split(log, "\n") {
		var entry struct {
			Message string    `json:"message"`
			RoomID  id.RoomID `json:"room_id"`
			RetryIn string    `json:"retry_in"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.RoomID != room || entry.Message != "The room still refuses alerts; will retry" {
			continue
		}
		d, _ := time.ParseDuration(entry.RetryIn)
		out = append(out, d)
	}
	return out
}

// The bot kicked from one of two alert rooms: the other hears of it, and once
// the bot is invited back, the alert it held back arrives there.
func TestKickedFromAnAlertRoomTheOtherHearsOfIt(t *testing.T) {
	w := watchWorld(t)
	ctx := context.Background()
	second := w.secondRoom(t, true)
	w.matrix = map[string]any{"alert_rooms": []id.RoomID{w.room, second}}
	web := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(web)})
	eventually(t, "the bot in the second alert room", func() bool { return w.membership(t, w.alice, second) == event.MembershipJoin })
	w.waitWatching(t, true)

	if _, err := w.alice.KickUser(ctx, second, &mautrix.ReqKickUser{UserID: w.botID, Reason: "tidying up"}); err != nil {
		t.Fatalf("kicking the bot: %v", err)
	}
	testworld.Docker(t, "kill", web.Name)
	eventually(t, "web's alert in the ops room", func() bool { return len(w.alertsMatching(t, "**web**", "exited with code 137")) > 0 })
	cannot := "opsroom cannot post alerts to `" + string(second) + "`"
	eventually(t, "the ops room told the bot cannot post in the second room", func() bool { return len(w.alertsMatching(t, cannot)) > 0 })
	mustContain(t, "the notice", w.alertsMatching(t, cannot)[0], "M_FORBIDDEN")
	mustContain(t, "!watch", w.ask(t, w.alice, "!watch"), "alert room `"+string(second)+"`: cannot post")

	if _, err := w.alice.InviteUser(ctx, second, &mautrix.ReqInviteUser{UserID: w.botID}); err != nil {
		t.Fatalf("inviting the bot back: %v", err)
	}
	eventually(t, "the held alert in the second room", func() bool {
		return len(w.in(second).alertsMatching(t, "**web**", "exited with code 137")) > 0
	})
	eventually(t, "the ops room told it is over", func() bool {
		return len(w.alertsMatching(t, "opsroom can post alerts to `"+string(second)+"` again")) > 0
	})
	if got := w.alertsMatching(t, cannot); len(got) != 1 {
		t.Errorf("%d notices that the bot cannot post, want 1: %q", len(got), got)
	}
	if strings.Contains(w.ask(t, w.alice, "!watch"), "cannot post") {
		t.Error("!watch still says the bot cannot post to the second room")
	}
}
