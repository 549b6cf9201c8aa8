package bot

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
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

// boardBurst is how long the board waits after a change for the ones that
// come with it (a host going down takes its services along): one edit per burst.
const boardBurst = 2 * time.Second

// boardMarker is a field of the board's content, so that clients and tests
// can tell the board from an alert.
const boardMarker = "org.opsroom.board"

// boards holds what the sync loop tells the boards: a room's pins changed,
// its board was redacted, opsroom may pin now.
type boards struct {
	mu       sync.Mutex
	wake     map[id.RoomID]chan struct{}
	redacted map[id.RoomID]id.EventID
	logged   map[id.RoomID]bool // the pin refusal was logged by this process
}

func newBoards(rooms []id.RoomID) *boards {
	bs := &boards{wake: map[id.RoomID]chan struct{}{}, redacted: map[id.RoomID]id.EventID{}, logged: map[id.RoomID]bool{}}
	for _, r := range rooms {
		bs.wake[r] = make(chan struct{}, 1)
	}
	return bs
}

// boardChanged wakes every room's board: something it shows may have changed.
func (b *Bot) boardChanged() {
	for room := range b.boards.wake {
		b.wakeBoard(room)
	}
}

func (b *Bot) wakeBoard(room id.RoomID) {
	if ch := b.boards.wake[room]; ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// onBoardState wakes a room's board when its pins or power levels change
// (someone unpinned it; opsroom may pin now), or its board is redacted.
func (b *Bot) onBoardState(_ context.Context, evt *event.Event) {
	if b.boards.wake[evt.RoomID] == nil || evt.Sender == b.client.UserID {
		return
	}
	if evt.Type == event.EventRedaction {
		redacts := evt.Redacts
		if c, ok := evt.Content.Parsed.(*event.RedactionEventContent); ok && c.Redacts != "" {
			redacts = c.Redacts
		}
		b.boards.mu.Lock()
		b.boards.redacted[evt.RoomID] = redacts
		b.boards.mu.Unlock()
	}
	b.wakeBoard(evt.RoomID)
}

// runBoards keeps every alert room's board until ctx ends.
func (b *Bot) runBoards(ctx context.Context) {
	var wg sync.WaitGroup
	for room, wake := range b.boards.wake {
		wg.Go(func() { b.runBoard(ctx, room, wake) })
	}
	wg.Wait()
}

// runBoard keeps one room's board: at start and after each burst of changes
// it makes sure the board exists and is pinned, and edits it if what it shows changed.
func (b *Bot) runBoard(ctx context.Context, room id.RoomID, wake <-chan struct{}) {
	log := zerolog.Ctx(ctx).With().Str("component", "board").Stringer("room_id", room).Logger()
	ctx = log.WithContext(ctx)
	bounds := backoff{min: retryMin, max: retryMax}
	var wait time.Duration
	first := true
	for {
		err := b.updateBoard(ctx, room, first)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait = min(max(2*wait, bounds.min), bounds.max)
			log.Debug().Err(err).Stringer("retry_in", wait).Msg("Failed to update the board; will retry")
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		wait, first = 0, false
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		sleep(ctx, boardBurst)
		select {
		case <-wake:
		default:
		}
	}
}

// updateBoard makes the room's board right: posted (again, if it was redacted
// or unpinned), pinned where opsroom may pin, and showing what is broken now.
// At start (first) it also checks that the board it remembers was not redacted meanwhile.
func (b *Bot) updateBoard(ctx context.Context, room id.RoomID, first bool) error {
	log := zerolog.Ctx(ctx)
	board, err := b.store.Board(ctx, room)
	if err != nil {
		return err
	}
	if board == nil {
		board = &store.Board{RoomID: room}
	}
	b.boards.mu.Lock()
	redacted := board.EventID != "" && b.boards.redacted[room] == board.EventID
	delete(b.boards.redacted, room)
	b.boards.mu.Unlock()
	if first && board.EventID != "" && !redacted {
		redacted = b.wasRedacted(ctx, room, board.EventID)
	}
	pins, err := b.pins(ctx, room)
	if err != nil {
		return err
	}
	md, err := b.boardMarkdown(ctx, board.PinProblem)
	if err != nil {
		return err
	}
	old := board.EventID
	unpinned := old != "" && board.Pinned && !slices.Contains(pins, old)
	if old == "" || redacted || unpinned {
		log.Info().Bool("redacted", redacted).Bool("unpinned", unpinned).Stringer("old_event_id", old).Msg("Posting the board")
		content := opscommands.Render(md)
		resp, err := b.client.SendMessageEvent(ctx, room, event.EventMessage,
			&event.Content{Parsed: &content, Raw: map[string]any{boardMarker: true}})
		if err != nil {
			return err
		}
		board.EventID, board.Body, board.Pinned = resp.EventID, md, false
		if err := b.store.PutBoard(ctx, *board); err != nil {
			return err
		}
		if unpinned {
			// The old board stays in the timeline: it must not go on saying something is broken.
			edit := opscommands.RenderEdit("📋 This board is no longer kept up to date: the pinned one is.", old)
			if _, err := b.client.SendMessageEvent(ctx, room, event.EventMessage, &edit); err != nil {
				log.Warn().Err(err).Msg("Failed to mark the old board as replaced")
			}
		}
	}
	if !slices.Contains(pins, board.EventID) {
		pins = slices.DeleteFunc(pins, func(e id.EventID) bool { return e == old })
		pins = append(pins, board.EventID)
		_, err := b.client.SendStateEvent(ctx, room, event.StatePinnedEvents, "", &event.PinnedEventsEventContent{Pinned: pins})
		switch failure, _ := opscommands.ClassifySend(err); {
		case err == nil:
			board.Pinned = true
			if board.PinProblem != "" {
				log.Info().Msg("The board is pinned now")
				board.PinProblem = ""
				b.boards.mu.Lock()
				b.boards.logged[room] = false
				b.boards.mu.Unlock()
			}
		case failure == opscommands.SendRefusedByRoom:
			if board.PinProblem == "" {
				board.PinProblem = shortReason(err)
			}
			b.boards.mu.Lock()
			logged := b.boards.logged[room]
			b.boards.logged[room] = true
			b.boards.mu.Unlock()
			if !logged {
				log.Error().Err(err).Msg("Cannot pin the board in this room; give opsroom the power to change pinned events (e.g. Moderator)")
			}
		default:
			return err
		}
		if err := b.store.PutBoard(ctx, *board); err != nil {
			return err
		}
	}
	if md, err = b.boardMarkdown(ctx, board.PinProblem); err != nil {
		return err
	}
	if md == board.Body {
		return nil
	}
	edit := opscommands.RenderEdit(md, board.EventID)
	if _, err := b.client.SendMessageEvent(ctx, room, event.EventMessage, &edit); err != nil {
		return err
	}
	board.Body = md
	return b.store.PutBoard(ctx, *board)
}

// pins are the room's pinned events.
func (b *Bot) pins(ctx context.Context, room id.RoomID) ([]id.EventID, error) {
	var content event.PinnedEventsEventContent
	err := b.client.StateEvent(ctx, room, event.StatePinnedEvents, "", &content)
	if errors.Is(err, mautrix.MNotFound) {
		return nil, nil
	}
	return content.Pinned, err
}

// wasRedacted says whether the event was redacted (false if it cannot tell).
func (b *Bot) wasRedacted(ctx context.Context, room id.RoomID, eventID id.EventID) bool {
	evt, err := b.client.GetEvent(ctx, room, eventID)
	if err != nil {
		return errors.Is(err, mautrix.MNotFound)
	}
	return evt.Unsigned.RedactedBecause != nil || len(evt.Content.VeryRaw) <= 2
}

// boardMarkdown is the board as it is now, with a note when it could not be pinned.
func (b *Bot) boardMarkdown(ctx context.Context, pinProblem string) (string, error) {
	now := time.Now()
	rows, err := b.brokenNow(ctx, now)
	if err != nil {
		return "", err
	}
	windows, err := b.openWindows(ctx, now)
	if err != nil {
		return "", err
	}
	note := ""
	if pinProblem != "" {
		note = "⚠️ opsroom cannot pin this board (" + format.EscapeMarkdown(pinProblem) +
			"): give it the power to change pinned events (e.g. Moderator) and it pins it."
	}
	return opscommands.BoardMarkdown(rows, windows, note), nil
}

// openWindows are the maintenance windows open now, within their time.
func (b *Bot) openWindows(ctx context.Context, now time.Time) ([]*store.Maintenance, error) {
	open, err := b.store.OpenMaintenance(ctx, now)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(open, func(m *store.Maintenance) bool { return !m.End.After(now) }), nil
}

// brokenNow is every watched service and host that is not up, from what the
// watcher last stored, oldest first.
func (b *Bot) brokenNow(ctx context.Context, now time.Time) ([]opscommands.BoardRow, error) {
	states, err := b.store.WatchStates(ctx)
	if err != nil {
		return nil, err
	}
	mutes, err := b.store.ActiveMutes(ctx, now)
	if err != nil {
		return nil, err
	}
	windows, err := b.openWindows(ctx, now)
	if err != nil {
		return nil, err
	}
	acks, err := b.acknowledgements(ctx)
	if err != nil {
		return nil, err
	}
	var rows []opscommands.BoardRow
	for key, ws := range states {
		if ws.State == "" || ws.State == string(ops.StateRunning) {
			continue
		}
		row := opscommands.BoardRow{State: ws.State, Since: ws.Since}
		if host, ok := strings.CutPrefix(key, "host:"); ok {
			row.Host = host
		} else if name, ok := strings.CutPrefix(key, "service:"); ok && b.fleet != nil {
			svc, err := b.fleet.Lookup(name)
			if err != nil {
				continue // no longer in the config
			}
			row.Service, row.Host = svc.Name, svc.Host
			_, row.Muted = mutes[svc.Name]
		} else {
			continue
		}
		subject := row.Service
		if subject == "" {
			subject = row.Host
		}
		row.AckedBy = acks[subject]
		for _, m := range windows {
			row.Maintenance = row.Maintenance || m.Covers(row.Service, row.Host)
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Since.Equal(rows[j].Since) {
			return rows[i].Since.Before(rows[j].Since)
		}
		return rows[i].Service+"@"+rows[i].Host < rows[j].Service+"@"+rows[j].Host
	})
	return rows, nil
}

// acknowledgements says, by service or host, who took its open alert.
func (b *Bot) acknowledgements(ctx context.Context) (map[string]string, error) {
	acks, err := b.store.OpenAcknowledgements(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(acks))
	for subject, by := range acks {
		out[subject] = string(by)
	}
	return out, nil
}
