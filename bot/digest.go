package bot

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	opscommands "github.com/opsroom/opsroom/commands"
)

// runDigest posts the drift digest (drift.digest, drift.digest_every) to the
// alert rooms each time it is due, until ctx ends. A digest due while opsroom
// is down is not made up for: the next one comes at its time.
func (b *Bot) runDigest(ctx context.Context) {
	log := zerolog.Ctx(ctx).With().Str("component", "digest").Logger()
	ctx = log.WithContext(ctx)
	var rooms []opscommands.DigestRoom
	for _, r := range b.cfg.alertRooms() {
		rooms = append(rooms, opscommands.DigestRoom{ID: r, Commands: b.cfg.roomAllowed(r)})
	}
	for {
		next := b.digest.NextDigest(time.Now())
		if next.IsZero() {
			return
		}
		log.Debug().Time("next", next).Msg("Next drift digest")
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		behind, err := opscommands.PostDigest(ctx, b.client, b.fleet, rooms)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Err(err).Int("behind", behind).Msg("Failed to post the whole drift digest")
		case behind == 0:
			log.Info().Msg("Drift digest: nothing is behind; nothing posted")
		default:
			log.Info().Int("behind", behind).Msg("Posted the drift digest")
		}
	}
}
