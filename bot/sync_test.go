package bot

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A homeserver can deliver opsroom's own join and the first command after it
// in one sync: the command must run, and the messages before the join must not.
func TestAfterOwnJoinKeepsWhatCameAfterTheJoin(t *testing.T) {
	const self = id.UserID("@opsroom:example.org")
	msg := func(id string) string {
		return `{"type":"m.room.message","event_id":"` + id + `","sender":"@alice:example.org","content":{"msgtype":"m.text","body":"!status"}}`
	}
	member := func(id, user, membership, prev string) string {
		unsigned := ""
		if prev != "" {
			unsigned = `,"unsigned":{"prev_content":{"membership":"` + prev + `"}}`
		}
		return `{"type":"m.room.member","event_id":"` + id + `","state_key":"` + user + `","sender":"` + user +
			`","content":{"membership":"` + membership + `"}` + unsigned + `}`
	}
	for _, tc := range []struct {
		name     string
		timeline []string
		want     []string
	}{
		{"no join: all kept",
			[]string{msg("$a"), msg("$b")}, []string{"$a", "$b"}},
		{"a command right after the join is kept, the one before is not",
			[]string{msg("$before"), member("$join", string(self), "join", "invite"), msg("$after")},
			[]string{"$join", "$after"}},
		{"state before the join is kept",
			[]string{member("$eve", "@eve:example.org", "join", "invite"), msg("$before"), member("$join", string(self), "join", "")},
			[]string{"$eve", "$join"}},
		{"a display name change is not a join",
			[]string{msg("$a"), member("$rename", string(self), "join", "join"), msg("$b")},
			[]string{"$a", "$rename", "$b"}},
		{"someone else's join is not ours",
			[]string{msg("$a"), member("$bob", "@bob:example.org", "join", "invite"), msg("$b")},
			[]string{"$a", "$bob", "$b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var timeline []*event.Event
			for _, raw := range tc.timeline {
				evt := &event.Event{}
				if err := json.Unmarshal([]byte(raw), evt); err != nil {
					t.Fatal(err)
				}
				timeline = append(timeline, evt)
			}
			var got []string
			for _, evt := range afterOwnJoin(self, timeline) {
				got = append(got, evt.ID.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

// The first sync of a new database holds the room's history: what was sent
// before start-up is dropped, a command sent while opsroom was starting is not.
func TestSentSinceKeepsWhatCameAfterStartAndTheState(t *testing.T) {
	started := time.UnixMilli(1_000_000)
	at := func(evtID string, ms int64, state bool) *event.Event {
		evt := &event.Event{ID: id.EventID(evtID), Timestamp: ms, Type: event.EventMessage}
		if state {
			evt.Type, evt.StateKey = event.StateMember, new("@eve:example.org")
		}
		return evt
	}
	timeline := []*event.Event{
		at("$history", 999_000, false),
		at("$member", 999_500, true),
		at("$at-start", 1_000_000, false),
		at("$while-starting", 1_000_100, false),
	}
	var got []string
	for _, evt := range sentSince(started, timeline) {
		got = append(got, evt.ID.String())
	}
	if want := []string{"$member", "$at-start", "$while-starting"}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}

func TestNotRunRepliesAreBoundedPerRoom(t *testing.T) {
	b := &Bot{notRun: notRun{answered: map[id.RoomID]int{}}}
	for i := range notRunPerRoom {
		if !b.countNotRun("!a:example.org") {
			t.Fatalf("reply %d of room a refused, want %d allowed", i+1, notRunPerRoom)
		}
	}
	if b.countNotRun("!a:example.org") {
		t.Errorf("reply %d of room a allowed, want at most %d", notRunPerRoom+1, notRunPerRoom)
	}
	if !b.countNotRun("!b:example.org") {
		t.Errorf("room b refused because room a had its share")
	}
}
