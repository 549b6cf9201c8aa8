package store

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/id"

	"go.mau.fi/util/dbutil"
)

// Board is an alert room's board: the message opsroom keeps pinned there and
// edits in place to list what is broken now.
type Board struct {
	RoomID  id.RoomID
	EventID id.EventID
	// Pinned says opsroom pinned it: a board missing from the room's pins
	// was unpinned by someone.
	Pinned bool
	// Body is the Markdown last sent: an edit is made only when it changes.
	Body string
	// PinProblem is why the homeserver refused to pin it, "" if it did not.
	PinProblem string
}

const (
	getBoardQuery = `SELECT room_id, event_id, pinned, body, pin_problem FROM boards WHERE room_id=$1`
	putBoardQuery = `
		INSERT INTO boards (room_id, event_id, pinned, body, pin_problem) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (room_id) DO UPDATE SET event_id=excluded.event_id, pinned=excluded.pinned,
			body=excluded.body, pin_problem=excluded.pin_problem`
	pinProblemsQuery = `SELECT room_id, event_id, pinned, body, pin_problem FROM boards WHERE pin_problem != '' ORDER BY room_id`
)

// Board returns the room's board, or nil if it has none yet.
func (s *Store) Board(ctx context.Context, room id.RoomID) (*Board, error) {
	b, err := queryHelper[*Board](s).QueryOne(ctx, getBoardQuery, room)
	if err != nil {
		return nil, fmt.Errorf("reading the board of %s: %w", room, err)
	}
	return b, nil
}

// PutBoard saves the room's board.
func (s *Store) PutBoard(ctx context.Context, b Board) error {
	if _, err := s.DB.Exec(ctx, putBoardQuery, b.RoomID, b.EventID, b.Pinned, b.Body, b.PinProblem); err != nil {
		return fmt.Errorf("saving the board of %s: %w", b.RoomID, err)
	}
	return nil
}

// BoardPinProblems returns the boards the homeserver refused to pin.
func (s *Store) BoardPinProblems(ctx context.Context) ([]*Board, error) {
	boards, err := queryHelper[*Board](s).QueryMany(ctx, pinProblemsQuery)
	if err != nil {
		return nil, fmt.Errorf("reading the boards that could not be pinned: %w", err)
	}
	return boards, nil
}

// Scan implements dbutil.DataStruct.
func (b *Board) Scan(row dbutil.Scannable) (*Board, error) {
	return dbutil.ValueOrErr(b, row.Scan(&b.RoomID, &b.EventID, &b.Pinned, &b.Body, &b.PinProblem))
}
