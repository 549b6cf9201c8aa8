package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

const (
	getDeviceIDQuery = `SELECT device_id FROM matrix_session WHERE user_id=$1`
	putDeviceIDQuery = `
		INSERT INTO matrix_session (user_id, device_id) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET device_id=excluded.device_id`
	getFilterIDQuery  = `SELECT filter_id FROM sync_state WHERE user_id=$1`
	getNextBatchQuery = `SELECT next_batch FROM sync_state WHERE user_id=$1`
	putFilterIDQuery  = `
		INSERT INTO sync_state (user_id, filter_id) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET filter_id=excluded.filter_id`
	putNextBatchQuery = `
		INSERT INTO sync_state (user_id, next_batch) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET next_batch=excluded.next_batch`
)

// DeviceID returns the device opsroom logged in with before, or "" on first start,
// so that a restart reuses the device instead of piling up new ones.
func (s *Store) DeviceID(ctx context.Context, userID id.UserID) (id.DeviceID, error) {
	var deviceID id.DeviceID
	err := s.DB.QueryRow(ctx, getDeviceIDQuery, userID).Scan(&deviceID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("reading device ID: %w", err)
	}
	return deviceID, nil
}

// SetDeviceID remembers the device of a fresh login.
func (s *Store) SetDeviceID(ctx context.Context, userID id.UserID, deviceID id.DeviceID) error {
	if _, err := s.DB.Exec(ctx, putDeviceIDQuery, userID, deviceID); err != nil {
		return fmt.Errorf("saving device ID: %w", err)
	}
	return nil
}

// SyncStore persists the sync position, so a restart resumes where it stopped.
func (s *Store) SyncStore() mautrix.SyncStore {
	return syncStore{s}
}

type syncStore struct{ s *Store }

var _ mautrix.SyncStore = syncStore{}

func (ss syncStore) SaveFilterID(ctx context.Context, userID id.UserID, filterID string) error {
	_, err := ss.s.DB.Exec(ctx, putFilterIDQuery, userID, filterID)
	return err
}

func (ss syncStore) LoadFilterID(ctx context.Context, userID id.UserID) (string, error) {
	return ss.load(ctx, getFilterIDQuery, userID)
}

func (ss syncStore) SaveNextBatch(ctx context.Context, userID id.UserID, nextBatch string) error {
	_, err := ss.s.DB.Exec(ctx, putNextBatchQuery, userID, nextBatch)
	return err
}

func (ss syncStore) LoadNextBatch(ctx context.Context, userID id.UserID) (string, error) {
	return ss.load(ctx, getNextBatchQuery, userID)
}

func (ss syncStore) load(ctx context.Context, query string, userID id.UserID) (string, error) {
	var val string
	err := ss.s.DB.QueryRow(ctx, query, userID).Scan(&val)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return val, err
}
