package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"

	"maunium.net/go/mautrix/id"
)

// Kinds of alert rows the store treats apart (the watcher's kinds are ops's).
const (
	KindRecovered = "recovered"
	// KindResolved edits the alert a command fixed: "✅ Resolved by …".
	KindResolved = "resolved"
	// KindAcknowledged edits the alert someone took: "👀 Acknowledged by …".
	KindAcknowledged = "acknowledged"
	// KindReminder is posted as a reply to an alert no one took.
	KindReminder = "reminder"
	// StateRunning is the watch state that resolves a subject's alerts.
	StateRunning = "running"
)

// problemKinds are, by watch-state key prefix, the kinds of alert that stay
// open until the service or host runs again (SQL lists).
var problemKinds = map[string]string{
	"service": `'exited', 'not-deployed', 'unhealthy', 'crash-loop', 'flapping'`,
	"host":    `'unreachable', 'engine-down'`,
}

// resolvableKinds are the alerts a later one can mark resolved: the problems,
// and a room's "cannot post" notice.
const resolvableKinds = `'exited', 'not-deployed', 'unhealthy', 'crash-loop', 'flapping', 'unreachable', 'engine-down', 'cannot-post'`

// remindedKinds are the problems that are reminded while no one takes them.
const remindedKinds = `'exited', 'not-deployed', 'unhealthy', 'crash-loop', 'unreachable', 'engine-down'`

const (
	// openAlertQuery (with the subject's problem kinds) is its open alert: the latest, unresolved.
	openAlertQuery = `
		SELECT ` + alertColumns + ` FROM alerts a
		WHERE a.subject = $1 AND a.kind IN (%s) AND NOT a.edit_only AND a.resolved_ms = 0
		ORDER BY a.id DESC LIMIT 1`
	resolveQuery = `
		UPDATE alerts SET resolved_ms = $2 WHERE subject = $1 AND kind IN (%s) AND NOT edit_only AND resolved_ms = 0`
	// alertRoomsQuery is where an alert went or goes: its deliveries not failed.
	alertRoomsQuery = `SELECT room_id FROM alert_deliveries WHERE alert_id = $1 AND failure = '' ORDER BY room_id`
	alertEventQuery = `
		SELECT ` + alertColumns + `, d.event_id FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id
		WHERE a.id = $1 AND d.room_id = $2 AND d.event_id != ''`
	getAlertQuery = `SELECT ` + alertColumns + ` FROM alerts a WHERE a.id = $1`
	ackQuery      = `
		UPDATE alerts SET acked_by = $2, acked_ms = $3 WHERE id = $1 AND acked_by = '' AND resolved_ms = 0`
	// remindableQuery is every open alert no one took that reached a room,
	// the latest of its subject, with its reminders so far.
	remindableQuery = `
		SELECT ` + alertColumns + ` FROM alerts a
		WHERE a.kind IN (` + remindedKinds + `) AND NOT a.edit_only AND a.resolved_ms = 0 AND a.acked_by = ''
			AND EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.failure = '')
			AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.subject = a.subject AND b.id > a.id
				AND b.kind IN (` + resolvableKinds + `) AND NOT b.edit_only)
		ORDER BY a.id`
	remindedQuery = `UPDATE alerts SET reminded = $3 WHERE id = $1 AND reminded = $2 AND resolved_ms = 0 AND acked_by = ''`
)

// bareAlert is an Alert read from alertColumns alone.
type bareAlert Alert

// Scan implements dbutil.DataStruct.
func (b *bareAlert) Scan(row dbutil.Scannable) (*bareAlert, error) {
	_, err := (*Alert)(b).scan(row)
	return dbutil.ValueOrErr(b, err)
}

// oneAlert reads the one alert query returns, or nil.
func (s *Store) oneAlert(ctx context.Context, query string, args ...any) (*Alert, error) {
	b, err := queryHelper[*bareAlert](s).QueryOne(ctx, query, args...)
	return (*Alert)(b), err
}

// Why an alert cannot be acknowledged.
var (
	ErrNoSuchAlert   = errors.New("no such alert")
	ErrNotAckable    = errors.New("not an alert about a problem")
	ErrAlreadyAcked  = errors.New("already acknowledged")
	ErrAlertResolved = errors.New("already resolved")
)

// alertRooms are the rooms alert went (or goes) to.
func (s *Store) alertRooms(ctx context.Context, alert int64) ([]id.RoomID, error) {
	rows, err := s.DB.Query(ctx, alertRoomsQuery, alert)
	rooms, err := dbutil.NewRowIterWithError(rows, dbutil.ScanSingleColumn[id.RoomID], err).AsList()
	if err != nil {
		return nil, fmt.Errorf("reading where alert %d went: %w", alert, err)
	}
	return rooms, nil
}

// AlertEvent returns an alert and its event in a room; nil when it was not
// posted there (yet).
func (s *Store) AlertEvent(ctx context.Context, alert int64, room id.RoomID) (*Alert, id.EventID, error) {
	posted, err := queryHelper[*postedAlert](s).QueryOne(ctx, alertEventQuery, alert, room)
	if err != nil {
		return nil, "", fmt.Errorf("reading alert %d in %s: %w", alert, room, err)
	} else if posted == nil {
		return nil, "", nil
	}
	return posted.alert, posted.eventID, nil
}

// Alert returns one alert, or nil.
func (s *Store) Alert(ctx context.Context, n int64) (*Alert, error) {
	a, err := s.oneAlert(ctx, getAlertQuery, n)
	if err != nil {
		return nil, fmt.Errorf("reading alert %d: %w", n, err)
	}
	return a, nil
}

// AckAlert records that by took alert n at at, and the edit that says so in
// each room the alert went to. A reminder stands for the alert it reminds of.
// It returns the alert taken; with ErrAlreadyAcked, the alert says by whom.
func (s *Store) AckAlert(ctx context.Context, n int64, by id.UserID, at time.Time) (*Alert, error) {
	var taken *Alert
	err := s.fenced(ctx, func(ctx context.Context) error {
		a, err := s.Alert(ctx, n)
		if err != nil {
			return err
		}
		if a != nil && a.Kind == KindReminder {
			if a, err = s.Alert(ctx, a.AboutID); err != nil {
				return err
			}
		}
		taken = a
		switch {
		case a == nil:
			return ErrNoSuchAlert
		case a.EditOnly || !isProblem(a.Kind):
			return ErrNotAckable
		case a.AckedBy != "":
			return ErrAlreadyAcked
		case !a.Resolved.IsZero():
			return ErrAlertResolved
		}
		res, err := s.DB.Exec(ctx, ackQuery, a.ID, by, at.UnixMilli())
		if err != nil {
			return fmt.Errorf("acknowledging alert %d: %w", a.ID, err)
		}
		if changed, _ := res.RowsAffected(); changed == 0 {
			return ErrAlreadyAcked
		}
		a.AckedBy, a.AckedAt = by, at
		rooms, err := s.alertRooms(ctx, a.ID)
		if err != nil {
			return err
		}
		edit := &Alert{Time: at, Subject: a.Subject, Kind: KindAcknowledged, Message: string(by), AboutID: a.ID, EditOnly: true}
		return s.insertAlert(ctx, edit, rooms)
	})
	if errors.Is(err, ErrAlreadyAcked) && taken != nil {
		if again, rerr := s.Alert(ctx, taken.ID); rerr == nil && again != nil {
			taken = again
		}
	}
	return taken, err
}

// isProblem says whether an alert of kind is about a problem that can be taken.
func isProblem(kind string) bool {
	switch kind {
	case "exited", "not-deployed", "unhealthy", "crash-loop", "flapping", "unreachable", "engine-down":
		return true
	}
	return false
}

// Remindable returns the open alerts no one took that reached a room (each
// its subject's latest), oldest first.
func (s *Store) Remindable(ctx context.Context) ([]*Alert, error) {
	bare, err := queryHelper[*bareAlert](s).QueryMany(ctx, remindableQuery)
	if err != nil {
		return nil, fmt.Errorf("reading the alerts to remind of: %w", err)
	}
	alerts := make([]*Alert, len(bare))
	for i, b := range bare {
		alerts[i] = (*Alert)(b)
	}
	return alerts, nil
}

// RecordReminder records that alert's reminders went from step from to step
// to, and the reminder (a reply to the alert in each room it went to). It
// says false, recording nothing, when the alert moved on meanwhile (taken,
// resolved, reminded by another): never two reminders for one step.
func (s *Store) RecordReminder(ctx context.Context, alert *Alert, from, to int, reminder *Alert) (bool, error) {
	var recorded bool
	err := s.fenced(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, remindedQuery, alert.ID, from, to)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		rooms, err := s.alertRooms(ctx, alert.ID)
		if err != nil {
			return err
		}
		reminder.Kind, reminder.AboutID, reminder.Subject = KindReminder, alert.ID, alert.Subject
		recorded = true
		return s.insertAlert(ctx, reminder, rooms)
	})
	if err != nil {
		return false, fmt.Errorf("recording a reminder of alert %d: %w", alert.ID, err)
	}
	return recorded, nil
}

// openAcksQuery lists who took each open alert, newest last, by subject.
const openAcksQuery = `SELECT subject, acked_by FROM alerts WHERE acked_by <> '' AND resolved_ms = 0 AND about_id = 0 ORDER BY id`

// OpenAcknowledgements says, by subject (a service or a host), who took its open alert.
func (s *Store) OpenAcknowledgements(ctx context.Context) (map[string]id.UserID, error) {
	acks, err := dbutil.RowIterAsMap(queryHelper[*openAck](s).QueryManyIter(ctx, openAcksQuery),
		func(a *openAck) (string, id.UserID) { return a.subject, a.by })
	if err != nil {
		return nil, fmt.Errorf("reading acknowledgements: %w", err)
	}
	return acks, nil
}

// openAck is a row of openAcksQuery.
type openAck struct {
	subject string
	by      id.UserID
}

// Scan implements dbutil.DataStruct.
func (a *openAck) Scan(row dbutil.Scannable) (*openAck, error) {
	return dbutil.ValueOrErr(a, row.Scan(&a.subject, &a.by))
}
