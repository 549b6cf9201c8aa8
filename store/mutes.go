package store

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"

	"maunium.net/go/mautrix/id"
)

// Mute is a service whose alerts are recorded but not posted, until a time.
type Mute struct {
	Service string
	Until   time.Time
	By      id.UserID
}

const (
	putMuteQuery = `
		INSERT INTO mutes (service, until_ms, muted_by) VALUES ($1, $2, $3)
		ON CONFLICT (service) DO UPDATE SET until_ms=excluded.until_ms, muted_by=excluded.muted_by`
	deleteMuteQuery  = `DELETE FROM mutes WHERE service=$1`
	getMuteQuery     = `SELECT service, until_ms, muted_by FROM mutes WHERE service=$1 AND until_ms > $2`
	activeMutesQuery = `SELECT service, until_ms, muted_by FROM mutes WHERE until_ms > $1`
)

// SetMute mutes a service until m.Until.
func (s *Store) SetMute(ctx context.Context, m Mute) error {
	if _, err := s.DB.Exec(ctx, putMuteQuery, m.Service, m.Until.UnixMilli(), m.By); err != nil {
		return fmt.Errorf("muting %s: %w", m.Service, err)
	}
	return nil
}

// Unmute ends a mute; it says whether there was one.
func (s *Store) Unmute(ctx context.Context, service string) (bool, error) {
	res, err := s.DB.Exec(ctx, deleteMuteQuery, service)
	if err != nil {
		return false, fmt.Errorf("unmuting %s: %w", service, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ActiveMute returns the service's mute in force at now, or nil.
func (s *Store) ActiveMute(ctx context.Context, service string, now time.Time) (*Mute, error) {
	m, err := queryHelper[*Mute](s).QueryOne(ctx, getMuteQuery, service, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("reading the mute of %s: %w", service, err)
	}
	return m, nil
}

// ActiveMutes returns the mutes in force at now, by service.
func (s *Store) ActiveMutes(ctx context.Context, now time.Time) (map[string]Mute, error) {
	mutes, err := dbutil.RowIterAsMap(queryHelper[*Mute](s).QueryManyIter(ctx, activeMutesQuery, now.UnixMilli()),
		func(m *Mute) (string, Mute) { return m.Service, *m })
	if err != nil {
		return nil, fmt.Errorf("reading mutes: %w", err)
	}
	return mutes, nil
}

// Scan implements dbutil.DataStruct.
func (m *Mute) Scan(row dbutil.Scannable) (*Mute, error) {
	var until int64
	if err := row.Scan(&m.Service, &until, &m.By); err != nil {
		return nil, err
	}
	m.Until = time.UnixMilli(until)
	return m, nil
}
