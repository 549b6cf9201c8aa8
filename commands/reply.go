package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const (
	// sendAttempts is how many times a reply is tried while the homeserver's
	// refusal is transient: with sendBackoff's doubling, capped at 16 times
	// the first wait, about a minute (a homeserver restarting, a proxy in
	// front of it reloading).
	sendAttempts = 8
	// maxRateLimitWait caps how long one retry waits for a rate limit.
	maxRateLimitWait = 30 * time.Second
)

// sendBackoff is the first wait before a retry that the homeserver did not
// time itself; each next one is twice as long.
var sendBackoff = time.Second

// sendReply puts a command's answer in the room, as a reply to the command.
// It returns "" once it is there, or else says why not: a reply the homeserver
// will not take is replaced by a short message saying what could not be shown.
func sendReply(ce *Event, md string) (problem string) {
	log := zerolog.Ctx(ce.Ctx)
	content := Render(md)
	relate(ce, &content)
	_, err := sendReliably(ce.Ctx, ce.Proc.Client, ce.RoomID, &content)
	if err == nil {
		recordAnswered(ce)
		return ""
	}
	why := refusal(err)
	log.Err(err).Msg("Failed to send reply")
	note := Render(fmt.Sprintf("⚠️ the answer to %s could not be sent: %s", code(commandLine(ce)), escape(why)))
	relate(ce, &note)
	if _, err := sendReliably(ce.Ctx, ce.Proc.Client, ce.RoomID, &note); err != nil {
		log.Err(err).Msg("Failed to say that the reply could not be sent")
		why += "; nor could the note saying so"
	}
	return "reply not delivered: " + why
}

// sendEdit replaces message msgID with md, shortened until the edit fits
// (it carries the text twice), retried as a reply is.
func sendEdit(ce *Event, msgID id.EventID, md string) error {
	content := RenderEdit(md, msgID)
	_, err := sendReliably(ce.Ctx, ce.Proc.Client, ce.RoomID, &content)
	return err
}

// postOutputThread posts remote output in the thread under message root, in
// as many messages as it takes (see threadOutput), the first one titled.
func postOutputThread(ce *Event, root id.EventID, title, out string) error {
	for _, md := range threadOutput(title, out, maxThreadMessages) {
		content := Render(md)
		content.RelatesTo = (&event.RelatesTo{}).SetThread(root, root)
		if _, err := sendReliably(ce.Ctx, ce.Proc.Client, ce.RoomID, &content); err != nil {
			return fmt.Errorf("posting the output in the thread: %w", err)
		}
	}
	return nil
}

// relate makes content the answer to the command: a reply to its message (in
// its thread, when it was typed in one), or to the message reacted to when a
// reaction made the command.
func relate(ce *Event, content *event.MessageEventContent) {
	if threadParent(ce) != "" {
		content.SetThread(ce.Event)
		return
	}
	if ce.Event.Type == event.EventReaction {
		reaction := ce.Event.Content.AsReaction()
		content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(reaction.RelatesTo.EventID)
		return
	}
	content.SetReply(ce.Event)
}

// threadParent is the root of the thread the command was typed in, or "".
func threadParent(ce *Event) id.EventID {
	if ce.Event.Type != event.EventMessage {
		return ""
	}
	return ce.Event.Content.AsMessage().RelatesTo.GetThreadParent()
}

// commandLine is the command as typed: "!logs bridge 500".
func commandLine(ce *Event) string {
	return strings.TrimSpace(Prefix + ce.Command + " " + strings.Join(ce.Args, " "))
}

// sendReliably sends content to room, trying again while the failure is
// transient: a rate limit (waiting as long as the homeserver asks, within
// reason), a server error, a lost connection. Every attempt carries one
// transaction ID, so a message the homeserver took before the answer was lost
// is not posted twice.
func sendReliably(ctx context.Context, cli *mautrix.Client, room id.RoomID, content any) (id.EventID, error) {
	txn := cli.TxnID()
	backoff := sendBackoff
	for attempt := 1; ; attempt++ {
		resp, err := cli.SendMessageEvent(ctx, room, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
		if err == nil {
			return resp.EventID, nil
		}
		wait, transient := transientSendError(err)
		if !transient || attempt == sendAttempts || ctx.Err() != nil {
			return "", err
		}
		if wait == 0 {
			wait, backoff = backoff, min(2*backoff, 16*sendBackoff)
		}
		zerolog.Ctx(ctx).Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("Sending a message failed; trying again")
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(wait):
		}
	}
}

// transientSendError says whether sending may work if tried again (no
// answer, a rate limit, a server error), and how long to wait first (0: the
// homeserver did not say).
func transientSendError(err error) (time.Duration, bool) {
	switch failure, wait := ClassifySend(err); failure {
	case SendNoAnswer, SendRateLimited, SendServerError:
		return min(wait, maxRateLimitWait), true
	}
	return 0, false
}

// refusal says in a few words why a message could not be sent:
// "the homeserver refused it (M_TOO_LARGE: event too large)".
func refusal(err error) string {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		why := fmt.Sprintf("HTTP %d", httpErr.Response.StatusCode)
		if r := httpErr.RespError; r != nil && r.ErrCode != "" {
			why = r.ErrCode
			if r.Err != "" {
				why += ": " + clip(r.Err, 120)
			}
		}
		return "the homeserver refused it (" + why + ")"
	}
	return clip(err.Error(), 200)
}
