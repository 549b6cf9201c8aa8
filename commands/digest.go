package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
)

// DigestRoom is a room the drift digest goes to. Commands says that opsroom
// reads commands there (an ops room): a ✅ on an entry then updates its
// service; elsewhere the entry says to send !update in an ops room.
type DigestRoom struct {
	ID       id.RoomID
	Commands bool
}

// PostDigest reads the drift of every service with a tracked branch and
// posts, to each room, one message per service that is behind: how far, and
// the commits an update would bring. Nothing is posted when nothing is
// behind. A ✅ on an entry runs `!update SERVICE` as the one who reacted, as
// if typed: the same roles, the same confirmation, the same progress message
// (in reply to the entry). It returns how many services are behind.
func PostDigest(ctx context.Context, cli *mautrix.Client, fleet *ops.Fleet, rooms []DigestRoom) (int, error) {
	log := zerolog.Ctx(ctx)
	now := time.Now()
	behind := 0
	var firstErr error
	for _, d := range fleet.DriftAll(ctx) {
		if d.Err != nil {
			log.Warn().Err(d.Err).Str("service", d.Service).Msg("Could not read a service's drift for the digest")
			continue
		}
		if d.Behind == 0 {
			continue
		}
		behind++
		for _, room := range rooms {
			if err := postDigestEntry(ctx, cli, room, d, now); err != nil {
				log.Err(err).Str("service", d.Service).Stringer("room_id", room.ID).Msg("Failed to post a drift digest entry")
				if firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	return behind, firstErr
}

// postDigestEntry posts a service's entry of the digest to a room, with its
// ✅ offered where a reaction can run the update.
func postDigestEntry(ctx context.Context, cli *mautrix.Client, room DigestRoom, d ops.Drift, now time.Time) error {
	update := Prefix + "update " + d.Service
	md := "📦 Drift digest: " + driftEntry(d, now) + "\n"
	if room.Commands {
		md += fmt.Sprintf("React ✅ to update it: the same as %s, with its roles and confirmation.", code(update))
	} else {
		md += fmt.Sprintf("Send %s in an ops room to update it.", code(update))
	}
	rendered := Render(md)
	content := &event.Content{Parsed: &rendered}
	if room.Commands {
		reactions := map[string]any{}
		for _, k := range confirmKeys {
			reactions[k] = update
		}
		// Multi-use: a ✅ refused (a viewer's) must not take the others away.
		content.Raw = map[string]any{commands.ReactionCommandsKey: reactions, commands.ReactionMultiUseKey: true}
	}
	msgID, err := sendReliably(ctx, cli, room.ID, content)
	if err != nil {
		return fmt.Errorf("posting the digest entry of %s: %w", d.Service, err)
	}
	if room.Commands {
		if _, err := cli.SendReaction(ctx, room.ID, msgID, confirmKeys[0]); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to offer the digest entry's ✅")
		}
	}
	return nil
}
