package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/id"
)

// GroupProblemKinds are the alert kinds that start or join a group: a
// service's problems. Host alerts stay alone (they list their services
// already), and a recovery joins the group of the problem it ends.
var GroupProblemKinds = []string{"exited", "crash-loop", "unhealthy", "not-deployed"}

const (
	// The last posted problem alert on the host, if it came within the window
	// and is still open: a new problem never hides in a resolved message.
	groupToJoinQuery = `
		SELECT a.id, COALESCE(a.group_id, a.id) FROM alerts a
		WHERE a.host = $1 AND a.time_ms >= $2 AND a.resolved_ms = 0 AND a.kind IN ('exited', 'crash-loop', 'unhealthy', 'not-deployed')
			AND EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id)
		ORDER BY a.id DESC LIMIT 1`
	// The group of the last problem alert of the subject: a recovery's.
	problemGroupQuery = `
		SELECT COALESCE(group_id, 0) FROM alerts
		WHERE subject = $1 AND kind NOT IN ('recovered', 'flap-ended')
		ORDER BY id DESC LIMIT 1`
	startGroupQuery  = `UPDATE alerts SET group_id = id WHERE id = $1 AND group_id IS NULL`
	groupAlertsQuery = `SELECT ` + alertColumns + `, true FROM alerts a WHERE a.group_id = $1 AND a.id <= $2 ORDER BY a.id`
	groupEventQuery  = `SELECT event_id FROM alert_deliveries WHERE alert_id = $1 AND room_id = $2 AND event_id <> ''`
)

// findGroup sets the group a new alert joins, within a transaction: a
// problem joins the last problem alert posted on its host within the
// window (starting its group if it is alone); a recovery joins its problem's group.
func (s *Store) findGroup(ctx context.Context, alert *Alert) error {
	if alert.Kind == "recovered" {
		err := s.DB.QueryRow(ctx, problemGroupQuery, alert.Subject).Scan(&alert.GroupID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading the group of %s's alert: %w", alert.Subject, err)
		}
		return nil
	}
	if alert.Host == "" || !isGroupProblem(alert.Kind) {
		return nil
	}
	var last, group int64
	err := s.DB.QueryRow(ctx, groupToJoinQuery, alert.Host, alert.Time.Add(-alert.GroupWindow).UnixMilli()).Scan(&last, &group)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading the alerts of host %s to group with: %w", alert.Host, err)
	}
	if _, err := s.DB.Exec(ctx, startGroupQuery, group); err != nil {
		return fmt.Errorf("starting a group of alerts on %s: %w", alert.Host, err)
	}
	alert.GroupID = group
	return nil
}

func isGroupProblem(kind string) bool {
	for _, k := range GroupProblemKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// GroupAlerts returns the alerts of a group up to and including upTo, oldest
// first: what the group's message says once upTo is delivered.
func (s *Store) GroupAlerts(ctx context.Context, group, upTo int64) ([]*Alert, error) {
	alerts, err := queryHelper[*Alert](s).QueryMany(ctx, groupAlertsQuery, group, upTo)
	if err != nil {
		return nil, fmt.Errorf("reading the alerts of group %d: %w", group, err)
	}
	return alerts, nil
}

// GroupEvent returns the event of a group's message in a room (its first
// alert as delivered there), or "" when it was not delivered there.
func (s *Store) GroupEvent(ctx context.Context, group int64, room id.RoomID) (id.EventID, error) {
	var evt id.EventID
	err := s.DB.QueryRow(ctx, groupEventQuery, group, room).Scan(&evt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("reading the message of alert group %d in %s: %w", group, room, err)
	}
	return evt, nil
}
