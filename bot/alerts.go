package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	opscommands "github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
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
		now := time.Now()
		var last *store.Change
		if alert.Service != "" && alert.Kind != ops.AlertResolved {
			var err error
			if last, err = b.store.LastChange(ctx, alert.Service, now); err != nil {
				zerolog.Ctx(ctx).Err(err).Str("service", alert.Service).Msg("Failed to read the last change for an alert's evidence; sent without it")
			}
		}
		rec = &store.Alert{Time: now, Subject: subject, Kind: string(alert.Kind), Message: opscommands.AlertMarkdown(alert, last, now), Mentions: mentions}
		if alert.Kind == ops.AlertResolved {
			// The command's reply says it; the alert it fixed is edited to say so.
			rec.EditOnly, rec.Mentions = true, nil
		} else if alert.Service != "" {
			rec.Host, rec.Line, rec.GroupWindow = alert.Host, opscommands.AlertLine(alert), alert.GroupWindow
			// A muted service's alerts are recorded, with nowhere to go; its
			// recovery still marks resolved the alert posted before the mute.
			if mute, err := b.store.ActiveMute(ctx, alert.Service, time.Now()); err != nil {
				return err
			} else if mute != nil && alert.Kind == ops.AlertRecovered {
				rec.EditOnly, rec.Mentions, rec.GroupWindow = true, nil, 0
			} else if mute != nil {
				rooms = nil
			}
		}
		// So are those of what a maintenance window covers.
		if m, err := b.store.InMaintenance(ctx, alert.Service, alert.Host, time.Now()); err != nil {
			return err
		} else if m != nil {
			rooms = nil
		}
	}
	if err := b.store.RecordTransition(ctx, ws, rec, rooms); err != nil {
		return err
	}
	b.changed()
	if rec != nil && rec.ID != 0 {
		b.obs().Alerted(rec.Kind)
		b.wakeAlerts()
	}
	return nil
}

// wakeAlerts wakes the delivery loop: an alert, an edit or a reminder waits.
func (b *Bot) wakeAlerts() {
	select {
	case b.wakeDelivery <- struct{}{}:
	default:
	}
}

// deliverAlerts sends the stored alerts until ctx ends. Each room has a sender
// of its own, woken by new alerts: a room that refuses, rate-limits or is
// away waits on its own backoff and holds up no other. Each alert goes out
// with a transaction ID of its own, so a retry of a send that did arrive is
// not a second message.
func (b *Bot) deliverAlerts(ctx context.Context) {
	b.runDelivery(ctx, backoff{min: retryMin, max: retryMax})
}

// backoff bounds how long a room waits between two tries.
type backoff struct{ min, max time.Duration }

func (b *Bot) runDelivery(ctx context.Context, bounds backoff) {
	log := zerolog.Ctx(ctx).With().Str("component", "alerts").Logger()
	ctx = log.WithContext(ctx)
	rooms := b.cfg.talkRooms()
	dropped, err := b.store.DropDeliveries(ctx, rooms, "the room is no longer in matrix.alert_rooms or matrix.rooms")
	if err != nil {
		log.Err(err).Msg("Failed to drop the alerts for rooms no longer configured")
	}
	for room, n := range dropped {
		log.Warn().Stringer("room_id", room).Int("alerts", n).
			Msg("Dropped the alerts waiting for a room no longer in the config (matrix.alert_rooms, matrix.rooms)")
	}
	problems, err := b.store.RoomProblems(ctx)
	if err != nil {
		log.Err(err).Msg("Failed to read the alert rooms' problems; taking every room as fine")
	}
	d := &delivery{bot: b, bounds: bounds, senders: map[id.RoomID]*roomSender{}, broken: map[id.RoomID]bool{}}
	for _, room := range rooms {
		s := &roomSender{delivery: d, room: room, wake: make(chan struct{}, 1),
			log: log.With().Stringer("room_id", room).Logger()}
		for _, p := range problems {
			if p.RoomID == room {
				s.problem = &p
				d.broken[room] = true
			}
		}
		d.senders[room] = s
	}
	var wg sync.WaitGroup
	for _, s := range d.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx)
		}()
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-b.wakeDelivery:
			d.wakeAll()
		}
	}
}

const (
	retryMin = time.Second
	// retryMax is the longest a room waits between two tries: also how soon a
	// room that refused opsroom (kicked, not invited) takes its alerts once it is fixed.
	retryMax = 30 * time.Second
	// maxShortHead is the most of an alert's first paragraph a shortened alert keeps.
	maxShortHead = 2000
)

// delivery is every room's sender, and which rooms refuse opsroom's alerts.
type delivery struct {
	bot     *Bot
	bounds  backoff
	senders map[id.RoomID]*roomSender
	mu      sync.Mutex
	broken  map[id.RoomID]bool
}

func (d *delivery) wakeAll() {
	for _, s := range d.senders {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// setBroken records whether room refuses alerts, and returns the rooms that
// hear of it: the other alert rooms that take alerts, or else the other ops rooms.
func (d *delivery) setBroken(room id.RoomID, broken bool) []id.RoomID {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.broken[room] = broken
	var out []id.RoomID
	for _, candidates := range [][]id.RoomID{d.bot.cfg.alertRooms(), d.bot.cfg.Rooms} {
		for _, r := range candidates {
			if r != room && !d.broken[r] && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// roomSender delivers one room's alerts, oldest first.
type roomSender struct {
	*delivery
	room id.RoomID
	wake chan struct{}
	log  zerolog.Logger

	backoff time.Duration
	// shortened is the alert whose full text the room refused: its short
	// form is sent, saying why (tooLong).
	shortened int64
	tooLong   bool
	// problem is set while the room refuses opsroom's messages; logged says
	// this process logged it at error level already.
	problem *store.RoomProblem
	logged  bool
}

func (s *roomSender) run(ctx context.Context) {
	for ctx.Err() == nil {
		d, err := s.bot.store.NextDelivery(ctx, s.room)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Err(err).Msg("Failed to read the alerts waiting for the room; will retry")
			s.pause(ctx, 0)
		case d == nil:
			select {
			case <-ctx.Done():
			case <-s.wake:
			}
		default:
			s.deliver(ctx, *d)
		}
	}
}

// retryIn steps the room's backoff and says how long to wait before the next
// try: the backoff, or longer if the homeserver asked.
func (s *roomSender) retryIn(asked time.Duration) time.Duration {
	s.backoff = min(max(2*s.backoff, s.bounds.min), s.bounds.max)
	return max(s.backoff, asked)
}

// pause waits the room's next backoff (see retryIn). Alerts that come
// meanwhile wait for it: the room's own, not the other rooms'.
func (s *roomSender) pause(ctx context.Context, asked time.Duration) {
	sleep(ctx, s.retryIn(asked))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// deliver makes one try at the delivery: sent, shortened after a refusal,
// failed for good, or left for a retry after the room's backoff.
func (s *roomSender) deliver(ctx context.Context, d store.Delivery) {
	log := s.log.With().Int64("alert_id", d.Alert.ID).Logger()
	short := s.shortened == d.Alert.ID
	// An alert that joined a group is an edit of the group's message.
	grouped, folded, err := s.groupEdit(ctx, d)
	if err != nil {
		log.Err(err).Msg("Failed to read the alert's group; will retry")
		s.pause(ctx, 0)
		return
	}
	var content *event.Content
	var long bool
	if grouped != nil {
		content = &event.Content{Parsed: grouped}
	} else {
		content, long, err = s.compose(ctx, d, short)
		if err != nil {
			log.Err(err).Msg("Failed to read the alert an alert is about; will retry")
			s.pause(ctx, 0)
			return
		}
		if content == nil {
			// An edit of an alert that never reached this room: nothing to edit.
			if err := s.bot.store.MarkFailed(ctx, d, "the alert it edits was not posted in this room"); err != nil {
				log.Err(err).Msg("Failed to record an edit with nothing to edit; will retry")
				s.pause(ctx, 0)
			}
			return
		}
	}
	txnID := alertTxnID(d)
	if short {
		txnID += "-short"
	}
	resp, err := s.bot.client.SendMessageEvent(ctx, s.room, event.EventMessage, content,
		mautrix.ReqSendEvent{TransactionID: txnID})
	if err == nil {
		s.delivered(ctx, d, resp.EventID, short, folded)
		return
	}
	if ctx.Err() != nil {
		return
	}
	refusal, wait := classify(err)
	if refusal == refusedNot || refusal == refusedByRoom {
		s.bot.obs().DeliveryRetry()
	}
	switch {
	case refusal == refusedNot:
		wait = s.retryIn(wait)
		log.Warn().Err(err).Stringer("retry_in", wait).Msg("Alert delivery failed; will retry")
		sleep(ctx, wait)
	case refusal == refusedByRoom && s.problem != nil:
		s.cannotPost(ctx, err) // known since before a restart: logged once more
		wait = s.retryIn(0)
		log.Debug().Err(err).Stringer("retry_in", wait).Msg("The room still refuses alerts; will retry")
		sleep(ctx, wait)
	case !short && long:
		log.Warn().Err(err).Msg("The homeserver refused the alert; sending it shortened")
		s.shortened, s.tooLong = d.Alert.ID, tooLarge(err)
	case refusal == refusedByRoom:
		s.cannotPost(ctx, err)
		s.shortened = 0 // once the room takes alerts again, the full one goes
		s.pause(ctx, 0)
	default:
		reason := shortReason(err)
		if err := s.bot.store.MarkFailed(ctx, d, reason); err != nil {
			log.Err(err).Msg("Failed to record an alert the homeserver refused; will retry")
			s.pause(ctx, 0)
			return
		}
		log.Error().Err(err).Bool("shortened", short).Msg("The homeserver refused the alert for good; it is marked failed (see !alerts)")
		s.backoff = 0
	}
}

// groupEdit is, for an alert that joins a group whose message the room has,
// the edit of that message that adds it; nil when the alert is posted on its
// own: it is the group's first, its group's message did not reach the room,
// or it is the recovery of a service alone in its group (a recovery posted,
// and the alert marked resolved, as without groups). It is built from the
// stored group up to this alert only, so a retry sends the same edit.
func (s *roomSender) groupEdit(ctx context.Context, d store.Delivery) (content *event.MessageEventContent, folded bool, err error) {
	a := d.Alert
	if a.GroupID == 0 || a.GroupID == a.ID {
		return nil, false, nil
	}
	members, err := s.bot.store.GroupAlerts(ctx, a.GroupID, a.ID)
	if err != nil {
		return nil, false, err
	}
	services := map[string]bool{}
	for _, m := range members {
		if m.ID != a.ID && m.Kind != string(ops.AlertRecovered) {
			services[m.Subject] = true
		}
	}
	if a.Kind == string(ops.AlertRecovered) && len(services) < 2 {
		return nil, false, nil
	}
	groupEvent, err := s.bot.store.GroupEvent(ctx, a.GroupID, s.room)
	if err != nil || groupEvent == "" {
		return nil, false, err
	}
	edit := opscommands.RenderEdit(opscommands.GroupMarkdown(members), groupEvent)
	return &edit, true, nil
}

func (s *roomSender) delivered(ctx context.Context, d store.Delivery, eventID id.EventID, short, folded bool) {
	if err := s.bot.store.MarkDelivered(ctx, d, eventID); err != nil {
		// Sent again after the pause under the same transaction ID: no second message.
		s.log.Err(err).Int64("alert_id", d.Alert.ID).Msg("Failed to record a delivered alert; will retry")
		s.pause(ctx, 0)
		return
	}
	s.backoff, s.shortened = 0, 0
	s.bot.obs().Delivered(d.Alert.Kind, time.Since(d.Alert.Time))
	s.log.Debug().Int64("alert_id", d.Alert.ID).Stringer("event_id", eventID).Bool("shortened", short).Msg("Alert delivered")
	if s.problem != nil {
		s.canPostAgain(ctx)
	}
	if d.Alert.Kind == string(ops.AlertRecovered) && !d.Alert.EditOnly && !folded {
		s.markResolved(ctx, d)
	}
}

// compose is what a delivery sends: the alert as posted, with 👀 to take it;
// a reminder, as a reply to the alert it reminds of; or the edit of the alert
// an EditOnly one is about (nil when that alert never reached the room). short
// sends the shortened form; long says whether there is one.
func (s *roomSender) compose(ctx context.Context, d store.Delivery, short bool) (*event.Content, bool, error) {
	a := d.Alert
	if a.EditOnly {
		target, eventID, err := s.bot.store.AlertEvent(ctx, a.AboutID, s.room)
		if err != nil || target == nil {
			return nil, false, err
		}
		resolved := ""
		switch a.Kind {
		case store.KindResolved:
			resolved = a.Message
		case string(ops.AlertRecovered):
			resolved = opscommands.RecoveredLine(a.Time, a.Message)
		}
		md := target.Message
		if short {
			md, _ = shortenAlert(target, s.tooLong)
		}
		edit := opscommands.RenderEdit(editedAlert(target, md, resolved), eventID)
		return &event.Content{Parsed: &edit}, shortens(target), nil
	}
	md := a.Message
	if short {
		md, _ = shortenAlert(a, s.tooLong)
	}
	content := alertContent(a, md)
	raw := map[string]any{}
	switch {
	case a.Kind == store.KindReminder:
		_, eventID, err := s.bot.store.AlertEvent(ctx, a.AboutID, s.room)
		if err != nil {
			return nil, false, err
		}
		if eventID != "" {
			content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(eventID)
		}
		raw[commands.ReactionCommandsKey] = opscommands.AckReactions(a.AboutID)
	case ackable(a.Kind):
		raw[commands.ReactionCommandsKey] = opscommands.AckReactions(a.ID)
	}
	if len(raw) > 0 {
		raw[commands.ReactionMultiUseKey] = true
	}
	return &event.Content{Parsed: content, Raw: raw}, shortens(a), nil
}

// editedAlert is a posted alert as its edits show it: its text (md, perhaps
// shortened), who took it, and how it was resolved.
func editedAlert(a *store.Alert, md, resolved string) string {
	if a.AckedBy != "" {
		md += "\n\n" + opscommands.AckLine(a.AckedBy, a.AckedAt)
	}
	if resolved != "" {
		md += "\n\n" + resolved
	}
	return md
}

// ackable says whether an alert of this kind can be taken with 👀.
func ackable(kind string) bool {
	switch ops.AlertKind(kind) {
	case ops.AlertExited, ops.AlertNotDeployed, ops.AlertUnhealthy, ops.AlertCrashLoop, ops.AlertFlapping,
		ops.AlertUnreachable, ops.AlertEngineDown:
		return true
	}
	return false
}

// cannotPost reports a room that refuses opsroom's messages: in the store
// (for !watch), once in the other rooms, and once in this process's log.
func (s *roomSender) cannotPost(ctx context.Context, err error) {
	if s.problem == nil {
		p := store.RoomProblem{RoomID: s.room, Problem: shortReason(err), Since: time.Now()}
		if tombstone := s.upgradedTo(ctx); tombstone != "" {
			p.Problem += fmt.Sprintf("; the room was upgraded to %s, which matrix.alert_rooms should name instead", tombstone)
		}
		others := s.setBroken(s.room, true)
		var notice *store.Alert
		if len(others) > 0 {
			notice = s.notice("cannot-post", fmt.Sprintf("⚠️ opsroom cannot post alerts to %s: %s\n\n"+
				"Its alerts wait until it can: invite opsroom back or let it post there, or take the room out of `matrix.alert_rooms`.",
				format.SafeMarkdownCode(s.room), format.EscapeMarkdown(p.Problem)))
		}
		if _, err := s.bot.store.SetRoomProblem(ctx, p, notice, others); err != nil {
			s.log.Err(err).Msg("Failed to record that the room refuses alerts")
		}
		s.problem = &p
		s.wakeAll()
	}
	if !s.logged {
		s.logged = true
		s.log.Error().Err(err).Time("since", s.problem.Since).
			Msg("Cannot post alerts to this room; its alerts wait until it can (invite opsroom or let it post there, or take the room out of matrix.alert_rooms)")
	}
}

// canPostAgain ends a room's problem: the other rooms hear of it, once.
func (s *roomSender) canPostAgain(ctx context.Context) {
	others := s.setBroken(s.room, false)
	var notice *store.Alert
	if len(others) > 0 {
		notice = s.notice(string(ops.AlertRecovered), fmt.Sprintf("✅ opsroom can post alerts to %s again (it could not since %s); the alerts it held back follow there",
			format.SafeMarkdownCode(s.room), s.problem.Since.Format("Jan 2 15:04 MST")))
	}
	if _, err := s.bot.store.ClearRoomProblem(ctx, s.room, notice, others); err != nil {
		s.log.Err(err).Msg("Failed to record that the room takes alerts again")
	}
	s.problem, s.logged = nil, false
	s.log.Info().Msg("The room takes alerts again")
	s.wakeAll()
}

// notice is an alert about a room, from opsroom itself.
func (s *roomSender) notice(kind, md string) *store.Alert {
	return &store.Alert{Subject: string(s.room), Kind: kind, Message: md, Mentions: slices.Clone(s.bot.cfg.AlertMention)}
}

// upgradedTo is the room that replaced this one, if it was upgraded ("" if
// not, or if its state cannot be read).
func (s *roomSender) upgradedTo(ctx context.Context) id.RoomID {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var tombstone event.TombstoneEventContent
	if err := s.bot.client.StateEvent(ctx, s.room, event.StateTombstone, "", &tombstone); err != nil {
		return ""
	}
	return tombstone.ReplacementRoom
}

// markResolved edits the problem alert a recovery ends, so that scrolling back
// shows it resolved. Best effort: the recovery itself was posted. It runs in
// the room's sender, so a rate limit here holds up this room only.
func (s *roomSender) markResolved(ctx context.Context, recovery store.Delivery) {
	log := s.log.With().Int64("alert_id", recovery.Alert.ID).Logger()
	problem, eventID, err := s.bot.store.AlertResolvedBy(ctx, recovery)
	if err != nil || problem == nil {
		if err != nil {
			log.Err(err).Msg("Failed to find the alert a recovery resolves")
		}
		return
	}
	resolved := opscommands.RecoveredLine(recovery.Alert.Time, recovery.Alert.Message)
	txnID := fmt.Sprintf("opsroom-resolved-%d-%s", recovery.Alert.ID, recovery.RoomID)
	short, tooLong := false, false
	for try := 1; ; try++ {
		md := problem.Message
		if short {
			md, _ = shortenAlert(problem, tooLong)
		}
		content := opscommands.RenderEdit(editedAlert(problem, md, resolved), eventID)
		_, err := s.bot.client.SendMessageEvent(ctx, recovery.RoomID, event.EventMessage, &content,
			mautrix.ReqSendEvent{TransactionID: txnID})
		if err == nil || ctx.Err() != nil {
			return
		}
		refusal, wait := classify(err)
		switch {
		case refusal != refusedNot && !short && shortens(problem):
			short, tooLong, txnID = true, tooLarge(err), txnID+"-short"
			continue
		case refusal != refusedNot || try >= 5:
			log.Err(err).Msg("Failed to mark the resolved alert")
			return
		}
		sleep(ctx, max(wait, time.Duration(try)*s.bounds.min))
	}
}

// alertContent is an alert as posted: the people it mentions named first, with
// proper m.mentions, so that they are notified and no one else.
func alertContent(a *store.Alert, md string) *event.MessageEventContent {
	if len(a.Mentions) > 0 {
		pills := make([]string, len(a.Mentions))
		for i, u := range a.Mentions {
			pills[i] = format.MarkdownMention(u)
		}
		md = strings.Join(pills, " ") + ": " + md
	}
	content := opscommands.Render(md)
	content.Mentions = &event.Mentions{UserIDs: a.Mentions}
	return &content
}

// shortenAlert is the alert without what makes it long: its first paragraph
// (cut if need be) and a note in place of the rest, the last lines of logs or
// a command's output, saying why they are missing: too long for the
// homeserver, or refused by it. It says whether that is shorter than the alert.
func shortenAlert(a *store.Alert, tooLong bool) (string, bool) {
	head, rest, cut := strings.Cut(a.Message, "\n\n")
	if len(head) > maxShortHead {
		head, cut = cutBytes(head, maxShortHead), true
	}
	if !cut {
		return a.Message, false
	}
	why := "too long to send"
	if !tooLong {
		why = "refused by the homeserver"
	}
	note := "_(the rest of this alert was " + why + ")_"
	if strings.Contains(rest, "```") && !hostAlert(a.Kind) {
		note = fmt.Sprintf("_(the last lines were %s; see %s)_", why, format.SafeMarkdownCode("!logs "+a.Subject))
	}
	return head + "\n\n" + note, true
}

func shortens(a *store.Alert) bool {
	_, ok := shortenAlert(a, true)
	return ok
}

// tooLarge says whether the homeserver refused an event as too large.
func tooLarge(err error) bool {
	var httpErr mautrix.HTTPError
	return errors.As(err, &httpErr) && (httpErr.IsStatus(http.StatusRequestEntityTooLarge) ||
		(httpErr.RespError != nil && httpErr.RespError.ErrCode == mautrix.MTooLarge.ErrCode))
}

// hostAlert says whether an alert of this kind is about a host, not a service.
func hostAlert(kind string) bool {
	return kind == string(ops.AlertUnreachable) || kind == string(ops.AlertEngineDown)
}

// refusal is how the homeserver refused a send.
type refusal int

const (
	refusedNot     refusal = iota // not refused for good: rate limited, away, failing; retry
	refusedContent                // this event: too large, malformed
	refusedByRoom                 // the room: opsroom is not in it, or may not post there
)

// classify says how a send failed (see opscommands.ClassifySend) and, for a
// rate limit, how long the homeserver asked to wait (0 if it did not say).
// Only a refusal of the event or of the room is for good: everything else,
// a lost session (401, which ends the process) included, is worth a retry.
func classify(err error) (refusal, time.Duration) {
	switch failure, wait := opscommands.ClassifySend(err); failure {
	case opscommands.SendRefusedByRoom:
		return refusedByRoom, 0
	case opscommands.SendRefusedEvent:
		return refusedContent, 0
	default:
		return refusedNot, wait
	}
}

// shortReason is a refusal as kept with a failed delivery: one line, bounded.
func shortReason(err error) string {
	return cutBytes(strings.Join(strings.Fields(err.Error()), " "), 300)
}

// cutBytes keeps at most n bytes of s, cut where a character starts and marked "…".
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
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
