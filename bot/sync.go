package bot

import (
	"context"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// skipOldEvents is a sync handler that keeps opsroom from acting on what it
// did not see happen: it drops the first sync (the history found at start),
// and in a room opsroom has just joined, the messages from before its join,
// keeping those after it and the room's state. mautrix's DontProcessOldEvents
// drops the whole room instead, and with it a command sent right after the
// join whenever the homeserver delivers the two in one sync.
func (b *Bot) skipOldEvents(_ context.Context, resp *mautrix.RespSync, since string) bool {
	if since == "" {
		return false
	}
	for _, room := range resp.Rooms.Join {
		room.Timeline.Events = afterOwnJoin(b.client.UserID, room.Timeline.Events)
	}
	return true
}

// afterOwnJoin returns the timeline without the messages at and before self's
// last join in it (a change of display name, join to join, is not a join).
// State events stay: they describe the room as it is.
func afterOwnJoin(self id.UserID, timeline []*event.Event) []*event.Event {
	join := -1
	for i, evt := range timeline {
		if evt.Type != event.StateMember || evt.GetStateKey() != string(self) || membership(&evt.Content) != event.MembershipJoin {
			continue
		}
		if evt.Unsigned.PrevContent == nil || membership(evt.Unsigned.PrevContent) != event.MembershipJoin {
			join = i
		}
	}
	if join < 0 {
		return timeline
	}
	kept := make([]*event.Event, 0, len(timeline))
	for i, evt := range timeline {
		if i > join || evt.StateKey != nil {
			kept = append(kept, evt)
		}
	}
	return kept
}

// membership reads a member event's content before the syncer parses it.
func membership(c *event.Content) event.Membership {
	m, _ := c.Raw["membership"].(string)
	return event.Membership(m)
}
