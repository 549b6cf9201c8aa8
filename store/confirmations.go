package store

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"

	"maunium.net/go/mautrix/id"
)

// ConfirmState is where a confirmation stands.
type ConfirmState string

const (
	ConfirmWaiting   ConfirmState = "waiting"
	ConfirmConfirmed ConfirmState = "confirmed"
	ConfirmDenied    ConfirmState = "denied"
	ConfirmExpired   ConfirmState = "expired"
	ConfirmDropped   ConfirmState = "dropped" // a restart of opsroom ended the wait
)

// Confirmation is a command held back until someone reacts ✅. Its ID is the
// number the prompt shows, unique across restarts.
type Confirmation struct {
	ID       int64
	RoomID   id.RoomID
	PromptID id.EventID
	Sender   id.UserID
	Command  string
	Service  string
	Asked    time.Time
}

const (
	askConfirmationQuery = `
		INSERT INTO confirmations (room_id, sender, command, service, asked_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id`
	setPromptQuery       = `UPDATE confirmations SET prompt_id=$2 WHERE id=$1`
	endConfirmationQuery = `UPDATE confirmations SET state=$2 WHERE id=$1 AND state='waiting'`
	waitingQuery         = `
		SELECT id, room_id, prompt_id, sender, command, service, asked_ms FROM confirmations WHERE state='waiting' ORDER BY id`
)

// AskConfirmation records a new wait and sets c.ID.
func (s *Store) AskConfirmation(ctx context.Context, c *Confirmation) error {
	if c.Asked.IsZero() {
		c.Asked = time.Now()
	}
	err := s.DB.QueryRow(ctx, askConfirmationQuery, c.RoomID, c.Sender, c.Command, c.Service, c.Asked.UnixMilli()).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("recording a confirmation for %s of %s: %w", c.Command, c.Service, err)
	}
	return nil
}

// SetConfirmationPrompt records the prompt's event, which a restart edits.
func (s *Store) SetConfirmationPrompt(ctx context.Context, c *Confirmation) error {
	if _, err := s.DB.Exec(ctx, setPromptQuery, c.ID, c.PromptID); err != nil {
		return fmt.Errorf("recording the prompt of confirmation %d: %w", c.ID, err)
	}
	return nil
}

// EndConfirmation closes a wait; only a waiting one changes.
func (s *Store) EndConfirmation(ctx context.Context, confirmID int64, state ConfirmState) error {
	if _, err := s.DB.Exec(ctx, endConfirmationQuery, confirmID, state); err != nil {
		return fmt.Errorf("closing confirmation %d: %w", confirmID, err)
	}
	return nil
}

// WaitingConfirmations are the waits still open, oldest first.
func (s *Store) WaitingConfirmations(ctx context.Context) ([]*Confirmation, error) {
	waiting, err := queryHelper[*Confirmation](s).QueryMany(ctx, waitingQuery)
	if err != nil {
		return nil, fmt.Errorf("reading waiting confirmations: %w", err)
	}
	return waiting, nil
}

// Scan implements dbutil.DataStruct.
func (c *Confirmation) Scan(row dbutil.Scannable) (*Confirmation, error) {
	var asked int64
	if err := row.Scan(&c.ID, &c.RoomID, &c.PromptID, &c.Sender, &c.Command, &c.Service, &asked); err != nil {
		return nil, err
	}
	c.Asked = time.UnixMilli(asked)
	return c, nil
}
