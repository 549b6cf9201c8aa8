package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	opscommands "github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

const (
	retryMin = time.Second
	retryMax = time.Minute
)

var _ ops.Reporter = (*Bot)(nil)

// Remembered implements ops.Reporter from the store.
func (b *Bot) Remembered(ctx context.Context) (map[string]ops.Remembered, error) {
	states, err := b.store.WatchStates(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ops.Remembered, len(states))
	for k, ws := range states {
		out[k] = ops.Remembered{State: ws.State, Alerted: ws.Alerted, Since: ws.Since, RestartCount: ws.RestartCount,
			Flap: ops.Flap{Flapping: ws.Flapping, LastChange: ws.FlapLastChange, Suppressed: ws.FlapSuppressed}}
	}
	return out, nil
}

// Transition implements ops.Reporter: the state and the alert are stored first,
// then the delivery loop is woken to send what is pending.
func (b *Bot) Transition(ctx context.Context, key string, rem ops.Remembered, alert *ops.Alert) error {
	ws := store.WatchState{Key: key, State: rem.State, Alerted: rem.Alerted, Since: rem.Since, RestartCount: rem.RestartCount,
		Flapping: rem.Flap.Flapping, FlapLastChange: rem.Flap.LastChange, FlapSuppressed: rem.Flap.Suppressed}
	var rec *store.Alert
	rooms := b.cfg.alertRooms()
	if alert != nil {
		subject := alert.Service
		if subject == "" {
			subject = alert.Host
		}
		mentions := slices.Clone(b.cfg.AlertMention)
		for _, m := range alert.Mention {
			if !slices.Contains(mentions, id.UserID(m)) {
				mentions = append(mentions, id.UserID(m))
			}
		}
		rec = &store.Alert{Subject: subject, Kind: string(alert.Kind), Message: opscommands.AlertMarkdown(alert), Mentions: mentions}
		if alert.Service != "" {
			// A muted service's alerts are recorded, with nowhere to go.
			if mute, err := b.store.ActiveMute(ctx, alert.Service, time.Now()); err != nil {
				return err
			} else if mute != nil {
				rooms = nil
			}
		}
	}
	if err := b.store.RecordTransition(ctx, ws, rec, rooms); err != nil {
		return err
	}
	if rec != nil {
		select {
		case b.wakeDelivery <- struct{}{}:
		default:
		}
	}
	return nil
}

// deliverAlerts sends pending alerts until ctx ends: on a wake-up, and again
// with backoff while the homeserver refuses or is away. Each alert goes out
// with a transaction ID of its own, so a retry of a send that did arrive is not
// a second message.
func (b *Bot) deliverAlerts(ctx context.Context) {
	log := zerolog.Ctx(ctx).With().Str("component", "alerts").Logger()
	wait := time.Duration(0)
	for {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		retry, err := b.deliverPending(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = min(max(2*wait, retryMin), retryMax)
			if retry > wait {
				wait = retry
			}
			log.Warn().Err(err).Dur("retry_in", wait).Msg("Alert delivery failed; will retry")
			continue
		}
		wait = 0
		select {
		case <-ctx.Done():
			return
		case <-b.wakeDelivery:
		}
	}
}

// deliverPending sends every pending alert, oldest first. A room that refuses
// one is passed over for the rest of the pass (its alerts stay in order, and
// the other rooms' go on); a rate limit ends the pass, saying how long the
// homeserver asked to wait.
func (b *Bot) deliverPending(ctx context.Context) (time.Duration, error) {
	pending, err := b.store.PendingDeliveries(ctx)
	if err != nil {
		return 0, err
	}
	var firstErr error
	failedRooms := map[id.RoomID]bool{}
	for _, d := range pending {
		if failedRooms[d.RoomID] {
			continue
		}
		md := d.Alert.Message
		if len(d.Alert.Mentions) > 0 {
			pills := make([]string, len(d.Alert.Mentions))
			for i, u := range d.Alert.Mentions {
				pills[i] = format.MarkdownMention(u)
			}
			md = strings.Join(pills, " ") + ": " + md
		}
		content := opscommands.Render(md)
		// Proper m.mentions, so that the people named are notified and no one else.
		content.Mentions = &event.Mentions{UserIDs: d.Alert.Mentions}
		resp, err := b.client.SendMessageEvent(ctx, d.RoomID, event.EventMessage, &content,
			mautrix.ReqSendEvent{TransactionID: alertTxnID(d)})
		if err != nil {
			if wait, ok := rateLimited(err); ok {
				return wait, err
			}
			failedRooms[d.RoomID] = true
			if firstErr == nil {
				firstErr = fmt.Errorf("sending alert %d to %s: %w", d.Alert.ID, d.RoomID, err)
			}
			continue
		}
		if err := b.store.MarkDelivered(ctx, d, resp.EventID); err != nil {
			return 0, err
		}
		if d.Alert.Kind == string(ops.AlertRecovered) {
			b.markResolved(ctx, d)
		}
		zerolog.Ctx(ctx).Debug().Int64("alert_id", d.Alert.ID).Stringer("event_id", resp.EventID).Msg("Alert delivered")
	}
	return 0, firstErr
}

// markResolved edits the problem alert a recovery ends, so that scrolling back
// shows it resolved. Best effort: the recovery itself was posted.
func (b *Bot) markResolved(ctx context.Context, recovery store.Delivery) {
	log := zerolog.Ctx(ctx).With().Int64("alert_id", recovery.Alert.ID).Logger()
	message, eventID, err := b.store.AlertResolvedBy(ctx, recovery)
	if err != nil || eventID == "" {
		if err != nil {
			log.Err(err).Msg("Failed to find the alert a recovery resolves")
		}
		return
	}
	first, _, _ := strings.Cut(recovery.Alert.Message, "\n")
	content := opscommands.Render(message + "\n\n**Resolved** " + recovery.Alert.Time.Format("15:04:05") + ": " + first)
	content.SetEdit(eventID)
	// The recovery was just sent, so a rate limit is likely here: wait as asked, a few times.
	for try := 1; ; try++ {
		_, err := b.client.SendMessageEvent(ctx, recovery.RoomID, event.EventMessage, &content)
		if err == nil {
			return
		}
		wait, limited := rateLimited(err)
		if !limited || try == 3 {
			log.Err(err).Msg("Failed to mark the resolved alert")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, time.Second)):
		}
	}
}

// rateLimited says whether the homeserver refused a request as too many
// (M_LIMIT_EXCEEDED), and how long it asked to wait (0 if it did not say).
func rateLimited(err error) (time.Duration, bool) {
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) || httpErr.RespError == nil || httpErr.RespError.ErrCode != mautrix.MLimitExceeded.ErrCode {
		return 0, false
	}
	ms, _ := httpErr.RespError.ExtraData["retry_after_ms"].(float64)
	return time.Duration(ms) * time.Millisecond, true
}

func alertTxnID(d store.Delivery) string {
	return fmt.Sprintf("opsroom-alert-%d-%s", d.Alert.ID, d.RoomID)
}

// alertRooms are where alerts go: matrix.alert_rooms, or else the ops rooms.
func (c *Config) alertRooms() []id.RoomID {
	if len(c.AlertRooms) > 0 {
		return c.AlertRooms
	}
	return c.Rooms
}
