package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// sync runs mautrix's sync loop until ctx ends (nil) or the loop stops for
// good, and says why. mautrix retries a failed /sync itself (every 10 s, for
// as long as the homeserver is away) except when the homeserver no longer
// knows the access token; the loop also ends on a store error (loading or
// saving the sync position), a filter the homeserver refuses to create, and a
// panic while handling a response.
func (b *Bot) sync(ctx context.Context) error {
	err := b.client.SyncWithContext(ctx)
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, mautrix.MUnknownToken):
		how := "opsroom logs in again with matrix.password when it is restarted"
		if b.cfg.AccessToken.IsSet() {
			how = "make a new access token for matrix.access_token (or use matrix.password)"
		}
		return fmt.Errorf("the homeserver %s no longer accepts opsroom's access token (device %s logged out, or the token revoked): %w; %s",
			b.cfg.Homeserver, b.client.DeviceID, err, how)
	case err != nil:
		return fmt.Errorf("syncing with %s: %w", b.cfg.Homeserver, err)
	default:
		return fmt.Errorf("syncing with %s: the sync loop ended", b.cfg.Homeserver)
	}
}

// skipOldEvents is a sync handler that keeps opsroom from acting on what it
// did not see happen. The very first sync of a new database holds the rooms'
// history: of it, only what was sent since start-up is kept (a command sent
// while opsroom was still starting is answered; older history is no one's
// business, as it may have been answered by an earlier opsroom). In a room
// opsroom has just joined, the messages from before its join are dropped,
// keeping those after it and the room's state; mautrix's DontProcessOldEvents
// drops the whole room instead, and with it a command sent right after the
// join whenever the homeserver delivers the two in one sync.
//
// After a restart, the first sync picks up where the last one ended: the
// commands sent while opsroom was down come through, to be answered "not run"
// (onMessage).
func (b *Bot) skipOldEvents(_ context.Context, resp *mautrix.RespSync, since string) bool {
	for _, room := range resp.Rooms.Join {
		if since == "" {
			room.Timeline.Events = sentSince(b.started, room.Timeline.Events)
		} else {
			room.Timeline.Events = afterOwnJoin(b.client.UserID, room.Timeline.Events)
		}
	}
	return true
}

// sentSince returns the timeline without the messages sent before t; state
// events stay, as they describe the room as it is.
func sentSince(t time.Time, timeline []*event.Event) []*event.Event {
	kept := make([]*event.Event, 0, len(timeline))
	for _, evt := range timeline {
		if evt.StateKey != nil || !time.UnixMilli(evt.Timestamp).Before(t) {
			kept = append(kept, evt)
		}
	}
	return kept
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

// Commands sent while opsroom was down are not run when it starts: they may
// be stale, and no one is watching for their result. Each one sent within
// notRunLookBack before start-up gets a short reply saying so, at most
// notRunPerRoom per room; older ones, and more, are only logged. How far back
// they come through is also up to the homeserver: the first sync after a
// restart holds at most the last 50 events of each room (mautrix's default
// filter), the rest only if the room was quiet.
const (
	notRunLookBack = time.Hour
	notRunPerRoom  = 10
)

// notRun counts the "not run" replies per room.
type notRun struct {
	mu       sync.Mutex
	answered map[id.RoomID]int
}

// answersNotRun says whether a command sent before start-up is to be
// answered "not run": sent within notRunLookBack, and the room has not had its
// share of such answers. The rest are only logged.
func (b *Bot) answersNotRun(log *zerolog.Logger, room id.RoomID, sent time.Time) bool {
	switch {
	case sent.Before(b.started.Add(-notRunLookBack)):
		log.Info().Time("sent", sent).Msg("Ignoring a command sent long before start-up")
		return false
	case !b.countNotRun(room):
		log.Info().Time("sent", sent).Msg("Ignoring a command sent before start-up: the room had its share of \"not run\" answers")
		return false
	}
	log.Info().Time("sent", sent).Msg("Answering a command sent before start-up: not run")
	return true
}

// countNotRun says whether room may get one more "not run" reply, and counts it.
func (b *Bot) countNotRun(room id.RoomID) bool {
	b.notRun.mu.Lock()
	defer b.notRun.mu.Unlock()
	if b.notRun.answered[room] >= notRunPerRoom {
		return false
	}
	b.notRun.answered[room]++
	return true
}
