package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// WatchState is what the watcher remembers of a service or host.
type WatchState struct {
	Key          string
	State        string
	Alerted      bool
	Since        time.Time
	RestartCount int
	// A flapping service's alerts are held back: since when no change came,
	// and how many were held back.
	Flapping       bool
	FlapLastChange time.Time
	FlapSuppressed int
}

// Alert is one alert.
type Alert struct {
	ID       int64
	Time     time.Time
	Subject  string
	Kind     string
	Message  string // Markdown
	Mentions []id.UserID
	Posted   bool // read by RecentAlerts: it had rooms to go to (false: muted)
}

// Delivery is an alert on its way to one room.
type Delivery struct {
	Alert  *Alert
	RoomID id.RoomID
}

const (
	allWatchStatesQuery = `
		SELECT key, state, alerted, since_ms, restart_count, flapping, flap_last_ms, flap_suppressed FROM watch_state`
	putWatchStateQuery = `
		INSERT INTO watch_state (key, state, alerted, since_ms, restart_count, flapping, flap_last_ms, flap_suppressed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (key) DO UPDATE SET state=excluded.state, alerted=excluded.alerted,
			since_ms=excluded.since_ms, restart_count=excluded.restart_count, flapping=excluded.flapping,
			flap_last_ms=excluded.flap_last_ms, flap_suppressed=excluded.flap_suppressed`
	insertAlertQuery    = `INSERT INTO alerts (time_ms, subject, kind, message, mentions) VALUES ($1, $2, $3, $4, $5) RETURNING id`
	insertDeliveryQuery = `INSERT INTO alert_deliveries (alert_id, room_id) VALUES ($1, $2)`
	pendingQuery        = `
		SELECT a.id, a.time_ms, a.subject, a.kind, a.message, a.mentions, d.room_id
		FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
		WHERE d.event_id = '' ORDER BY a.id, d.room_id`
	resolvedQuery = `
		SELECT a.message, d.event_id FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id
		WHERE a.subject = $1 AND a.id < $2 AND a.kind NOT IN ('recovered', 'flap-ended') AND d.room_id = $3 AND d.event_id != ''
		ORDER BY a.id DESC LIMIT 1`
	deliveredQuery    = `UPDATE alert_deliveries SET event_id=$3, delivered_ms=$4 WHERE alert_id=$1 AND room_id=$2`
	recentAlertsQuery = `
		SELECT id, time_ms, subject, kind, message, EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id)
		FROM alerts WHERE $1 = '' OR subject = $1 ORDER BY id DESC LIMIT $2`
)

// WatchStates returns everything the watcher remembered, by key.
func (s *Store) WatchStates(ctx context.Context) (map[string]WatchState, error) {
	rows, err := s.DB.Query(ctx, allWatchStatesQuery)
	if err != nil {
		return nil, fmt.Errorf("reading watch state: %w", err)
	}
	defer rows.Close()
	out := map[string]WatchState{}
	for rows.Next() {
		var ws WatchState
		var since, flapLast int64
		if err := rows.Scan(&ws.Key, &ws.State, &ws.Alerted, &since, &ws.RestartCount,
			&ws.Flapping, &flapLast, &ws.FlapSuppressed); err != nil {
			return nil, err
		}
		ws.Since, ws.FlapLastChange = fromMilli(since), fromMilli(flapLast)
		out[ws.Key] = ws
	}
	return out, rows.Err()
}

// RecordTransition saves a new remembered state and, when there is one, the
// alert it causes with a pending delivery to each room, all in one transaction:
// an alert is in the store before anyone tries to send it.
func (s *Store) RecordTransition(ctx context.Context, ws WatchState, alert *Alert, rooms []id.RoomID) error {
	return s.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
		if _, err := s.DB.Exec(ctx, putWatchStateQuery, ws.Key, ws.State, ws.Alerted, toMilli(ws.Since), ws.RestartCount,
			ws.Flapping, toMilli(ws.FlapLastChange), ws.FlapSuppressed); err != nil {
			return fmt.Errorf("saving watch state of %s: %w", ws.Key, err)
		}
		if alert == nil {
			return nil
		}
		if alert.Time.IsZero() {
			alert.Time = time.Now()
		}
		err := s.DB.QueryRow(ctx, insertAlertQuery, alert.Time.UnixMilli(), alert.Subject, alert.Kind, alert.Message,
			joinUserIDs(alert.Mentions)).Scan(&alert.ID)
		if err != nil {
			return fmt.Errorf("saving alert for %s: %w", alert.Subject, err)
		}
		for _, room := range rooms {
			if _, err := s.DB.Exec(ctx, insertDeliveryQuery, alert.ID, room); err != nil {
				return fmt.Errorf("saving alert delivery: %w", err)
			}
		}
		entry := &AuditEntry{Time: alert.Time, Command: AuditAlert, Args: alert.Kind, Service: alert.Subject, Result: ResultOK}
		if len(rooms) == 0 {
			entry.Detail = "muted: recorded, not posted"
		}
		return s.Audit().Record(ctx, entry)
	})
}

// PendingDeliveries returns the alerts not yet accepted by the homeserver, oldest first.
func (s *Store) PendingDeliveries(ctx context.Context) ([]Delivery, error) {
	rows, err := s.DB.Query(ctx, pendingQuery)
	if err != nil {
		return nil, fmt.Errorf("reading pending alerts: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		a := &Alert{}
		var t int64
		var mentions string
		var d Delivery
		if err := rows.Scan(&a.ID, &t, &a.Subject, &a.Kind, &a.Message, &mentions, &d.RoomID); err != nil {
			return nil, err
		}
		a.Time, a.Mentions, d.Alert = time.UnixMilli(t), splitUserIDs(mentions), a
		out = append(out, d)
	}
	return out, rows.Err()
}

// MarkDelivered records that the homeserver accepted the alert in the room.
func (s *Store) MarkDelivered(ctx context.Context, d Delivery, eventID id.EventID) error {
	_, err := s.DB.Exec(ctx, deliveredQuery, d.Alert.ID, d.RoomID, eventID, time.Now().UnixMilli())
	return err
}

// RecentAlerts returns the latest n alerts, of one subject or ("") of all, newest first.
func (s *Store) RecentAlerts(ctx context.Context, subject string, n int) ([]*Alert, error) {
	rows, err := s.DB.Query(ctx, recentAlertsQuery, subject, n)
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	defer rows.Close()
	var out []*Alert
	for rows.Next() {
		a := &Alert{}
		var t int64
		if err := rows.Scan(&a.ID, &t, &a.Subject, &a.Kind, &a.Message, &a.Posted); err != nil {
			return nil, err
		}
		a.Time = time.UnixMilli(t)
		out = append(out, a)
	}
	return out, rows.Err()
}

// toMilli and fromMilli keep a time as Unix milliseconds, the zero time as 0.
func toMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func joinUserIDs(ids []id.UserID) string {
	parts := make([]string, len(ids))
	for i, u := range ids {
		parts[i] = string(u)
	}
	return strings.Join(parts, " ")
}

func splitUserIDs(s string) []id.UserID {
	var out []id.UserID
	for _, f := range strings.Fields(s) {
		out = append(out, id.UserID(f))
	}
	return out
}

// AlertResolvedBy returns the alert a recovery resolves in a room: the last
// problem alert of the same subject posted there before it (message and event),
// or "" when there is none.
func (s *Store) AlertResolvedBy(ctx context.Context, recovery Delivery) (string, id.EventID, error) {
	var message string
	var eventID id.EventID
	err := s.DB.QueryRow(ctx, resolvedQuery, recovery.Alert.Subject, recovery.Alert.ID, recovery.RoomID).Scan(&message, &eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return message, eventID, err
}
