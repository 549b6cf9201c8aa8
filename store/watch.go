package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mau.fi/util/dbutil"

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
	// AboutID is the alert this one is about: a reminder replies to it, an
	// EditOnly alert edits it instead of being posted.
	AboutID  int64
	EditOnly bool
	// AckedBy took the alert, at AckedAt; Resolved is when its service or
	// host was seen running again (zero while open); Reminded is how many
	// reminder steps were recorded.
	AckedBy  id.UserID
	AckedAt  time.Time
	Resolved time.Time
	Reminded int
	// Host is the service's host, for grouping; Line the alert as one line
	// of a group's message; GroupWindow, when positive, how close to the last
	// alert of a group on the same host it must come to join it.
	Host        string
	Line        string
	GroupWindow time.Duration
	// GroupID is the first alert of the group this one is in (its own ID for
	// that first one), or 0.
	GroupID int64
	// Undelivered, read by RecentAlerts, are its deliveries that did not
	// arrive: failed for good, or waiting.
	Undelivered []Undelivered
}

// Undelivered is an alert's delivery to a room that has not arrived: Failure
// says why it never will, or is empty while it waits.
type Undelivered struct {
	RoomID  id.RoomID
	Failure string
}

// RoomProblem is an alert room that refuses opsroom's messages, since when
// and why; its alerts wait until it takes them again.
type RoomProblem struct {
	RoomID  id.RoomID
	Problem string
	Since   time.Time
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
	insertAlertQuery = `
		INSERT INTO alerts (time_ms, subject, kind, message, mentions, about_id, edit_only, host, line, group_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`
	insertDeliveryQuery = `INSERT INTO alert_deliveries (alert_id, room_id) VALUES ($1, $2)`
	// alertColumns are what Alert's Scan reads first, from alerts named a.
	alertColumns = `a.id, a.time_ms, a.subject, a.kind, a.message, a.mentions,
		a.about_id, a.edit_only, a.acked_by, a.acked_ms, a.resolved_ms, a.reminded,
		a.host, a.line, COALESCE(a.group_id, 0)`
	nextDeliveryQuery = `
		SELECT ` + alertColumns + `, d.room_id
		FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
		WHERE d.room_id = $1 AND d.event_id = '' AND d.failure = '' ORDER BY d.alert_id LIMIT 1`
	pendingRoomsQuery = `SELECT room_id, COUNT(*) FROM alert_deliveries WHERE event_id = '' AND failure = '' GROUP BY room_id`
	failQuery         = `UPDATE alert_deliveries SET failure=$3, failed_ms=$4 WHERE alert_id=$1 AND room_id=$2 AND event_id = '' AND failure = ''`
	failRoomQuery     = `UPDATE alert_deliveries SET failure=$2, failed_ms=$3 WHERE room_id=$1 AND event_id = '' AND failure = ''`
	undeliveredQuery  = `
		SELECT alert_id, room_id, failure FROM alert_deliveries
		WHERE event_id = '' AND alert_id BETWEEN $1 AND $2 ORDER BY alert_id, room_id`
	roomProblemsQuery      = `SELECT room_id, problem, since_ms FROM alert_room_problems ORDER BY room_id`
	insertRoomProblemQuery = `INSERT INTO alert_room_problems (room_id, problem, since_ms) VALUES ($1, $2, $3) ON CONFLICT (room_id) DO NOTHING`
	deleteRoomProblemQuery = `DELETE FROM alert_room_problems WHERE room_id=$1`
	resolvedQuery          = `
		SELECT ` + alertColumns + `, d.event_id FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id
		WHERE a.subject = $1 AND a.id < $2 AND a.kind IN (` + resolvableKinds + `) AND NOT a.edit_only AND d.room_id = $3 AND d.event_id != ''
		ORDER BY a.id DESC LIMIT 1`
	deliveredQuery    = `UPDATE alert_deliveries SET event_id=$3, delivered_ms=$4 WHERE alert_id=$1 AND room_id=$2`
	recentAlertsQuery = `
		SELECT ` + alertColumns + `, NOT a.edit_only AND EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id)
		FROM alerts a WHERE $1 = '' OR a.subject = $1 ORDER BY a.id DESC LIMIT $2`
)

// WatchStates returns everything the watcher remembered, by key.
func (s *Store) WatchStates(ctx context.Context) (map[string]WatchState, error) {
	states, err := dbutil.RowIterAsMap(queryHelper[*WatchState](s).QueryManyIter(ctx, allWatchStatesQuery),
		func(ws *WatchState) (string, WatchState) { return ws.Key, *ws })
	if err != nil {
		return nil, fmt.Errorf("reading watch state: %w", err)
	}
	return states, nil
}

// Scan implements dbutil.DataStruct.
func (ws *WatchState) Scan(row dbutil.Scannable) (*WatchState, error) {
	var since, flapLast int64
	if err := row.Scan(&ws.Key, &ws.State, &ws.Alerted, &since, &ws.RestartCount,
		&ws.Flapping, &flapLast, &ws.FlapSuppressed); err != nil {
		return nil, err
	}
	ws.Since, ws.FlapLastChange = fromMilli(since), fromMilli(flapLast)
	return ws, nil
}

// RecordTransition saves a new remembered state and, when there is one, the
// alert it causes with a pending delivery to each room, all in one transaction:
// an alert is in the store before anyone tries to send it. A state of running
// resolves the subject's open alerts. An EditOnly alert (a recovery while
// muted, a resolution by a command) goes to the rooms of the open alert it
// edits, whatever rooms says; an EditOnly "resolved" with no open alert to
// edit is not recorded: the alert was resolved already.
func (s *Store) RecordTransition(ctx context.Context, ws WatchState, alert *Alert, rooms []id.RoomID) error {
	return s.fenced(ctx, func(ctx context.Context) error {
		if _, err := s.DB.Exec(ctx, putWatchStateQuery, ws.Key, ws.State, ws.Alerted, toMilli(ws.Since), ws.RestartCount,
			ws.Flapping, toMilli(ws.FlapLastChange), ws.FlapSuppressed); err != nil {
			return fmt.Errorf("saving watch state of %s: %w", ws.Key, err)
		}
		prefix, subject, _ := strings.Cut(ws.Key, ":")
		kinds := problemKinds[prefix]
		var open *Alert
		if kinds != "" && (alert != nil || ws.State == StateRunning) {
			var err error
			if open, err = s.oneAlert(ctx, fmt.Sprintf(openAlertQuery, kinds), subject); err != nil {
				return fmt.Errorf("reading the open alert of %s: %w", subject, err)
			}
		}
		if ws.State == StateRunning && open != nil {
			if _, err := s.DB.Exec(ctx, fmt.Sprintf(resolveQuery, kinds), subject, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("resolving the alerts of %s: %w", subject, err)
			}
		}
		if alert == nil {
			return nil
		}
		if open != nil && (alert.EditOnly || alert.Kind == KindRecovered) {
			alert.AboutID = open.ID
		}
		if alert.EditOnly {
			if open == nil && alert.Kind == KindResolved {
				return nil
			}
			var err error
			if rooms, err = s.alertRooms(ctx, alert.AboutID); err != nil {
				return err
			}
		}
		return s.insertAlert(ctx, alert, rooms)
	})
}

// insertAlert writes an alert, a pending delivery to each room and its audit
// row; within a transaction.
func (s *Store) insertAlert(ctx context.Context, alert *Alert, rooms []id.RoomID) error {
	if alert.Time.IsZero() {
		alert.Time = time.Now()
	}
	if alert.GroupWindow > 0 && len(rooms) > 0 {
		if err := s.findGroup(ctx, alert); err != nil {
			return err
		}
	}
	var group any
	if alert.GroupID != 0 {
		group = alert.GroupID
	}
	err := s.DB.QueryRow(ctx, insertAlertQuery, alert.Time.UnixMilli(), alert.Subject, alert.Kind, alert.Message,
		joinUserIDs(alert.Mentions), alert.AboutID, alert.EditOnly, alert.Host, alert.Line, group).Scan(&alert.ID)
	if err != nil {
		return fmt.Errorf("saving alert for %s: %w", alert.Subject, err)
	}
	for _, room := range rooms {
		if _, err := s.DB.Exec(ctx, insertDeliveryQuery, alert.ID, room); err != nil {
			return fmt.Errorf("saving alert delivery: %w", err)
		}
	}
	if alert.Kind == KindAcknowledged {
		return nil // the !ack (or 👀) that caused it is audited as a command
	}
	entry := &AuditEntry{Time: alert.Time, Command: AuditAlert, Args: alert.Kind, Service: alert.Subject, Result: ResultOK}
	if len(rooms) == 0 && !alert.EditOnly {
		entry.Detail = "muted: recorded, not posted"
	}
	return s.Audit().Record(ctx, entry)
}

// NextDelivery returns the oldest alert waiting for the room (neither
// delivered nor failed), or nil when none waits.
func (s *Store) NextDelivery(ctx context.Context, room id.RoomID) (*Delivery, error) {
	d, err := queryHelper[*Delivery](s).QueryOne(ctx, nextDeliveryQuery, room)
	if err != nil {
		return nil, fmt.Errorf("reading the alerts waiting for %s: %w", room, err)
	}
	return d, nil
}

// Scan implements dbutil.DataStruct: the alert, then the room.
func (d *Delivery) Scan(row dbutil.Scannable) (*Delivery, error) {
	d.Alert = &Alert{}
	_, err := d.Alert.scan(row, &d.RoomID)
	return dbutil.ValueOrErr(d, err)
}

// MarkFailed records that the alert will never reach the room, and why, in
// the delivery and as a failed row of the audit log.
func (s *Store) MarkFailed(ctx context.Context, d Delivery, reason string) error {
	return s.fenced(ctx, func(ctx context.Context) error {
		now := time.Now()
		if _, err := s.DB.Exec(ctx, failQuery, d.Alert.ID, d.RoomID, reason, now.UnixMilli()); err != nil {
			return fmt.Errorf("marking alert %d failed in %s: %w", d.Alert.ID, d.RoomID, err)
		}
		return s.Audit().Record(ctx, &AuditEntry{Time: now, RoomID: d.RoomID, Command: AuditAlert, Args: d.Alert.Kind,
			Service: d.Alert.Subject, Result: ResultFailed, Detail: "not delivered: " + reason})
	})
}

// DropDeliveries fails, with reason, every delivery still waiting for a room
// not in keep (a room taken out of the config), and forgets such rooms'
// problems. It returns how many deliveries it dropped, by room.
func (s *Store) DropDeliveries(ctx context.Context, keep []id.RoomID, reason string) (map[id.RoomID]int, error) {
	dropped := map[id.RoomID]int{}
	err := s.fenced(ctx, func(ctx context.Context) error {
		pending, err := dbutil.RowIterAsMap(queryHelper[*roomCount](s).QueryManyIter(ctx, pendingRoomsQuery),
			func(rc *roomCount) (id.RoomID, int) { return rc.room, rc.n })
		if err != nil {
			return err
		}
		problems, err := s.RoomProblems(ctx)
		if err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		for room, n := range pending {
			if !slices.Contains(keep, room) {
				if _, err := s.DB.Exec(ctx, failRoomQuery, room, reason, now); err != nil {
					return err
				}
				dropped[room] = n
			}
		}
		for _, p := range problems {
			if !slices.Contains(keep, p.RoomID) {
				if _, err := s.DB.Exec(ctx, deleteRoomProblemQuery, p.RoomID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dropping the alerts for rooms no longer configured: %w", err)
	}
	return dropped, nil
}

// roomCount is how many deliveries wait for a room.
type roomCount struct {
	room id.RoomID
	n    int
}

// Scan implements dbutil.DataStruct.
func (rc *roomCount) Scan(row dbutil.Scannable) (*roomCount, error) {
	return dbutil.ValueOrErr(rc, row.Scan(&rc.room, &rc.n))
}

// RoomProblems returns the alert rooms that refuse opsroom's messages.
func (s *Store) RoomProblems(ctx context.Context) ([]RoomProblem, error) {
	problems, err := queryHelper[*RoomProblem](s).QueryMany(ctx, roomProblemsQuery)
	if err != nil {
		return nil, fmt.Errorf("reading the alert rooms' problems: %w", err)
	}
	out := make([]RoomProblem, len(problems))
	for i, p := range problems {
		out[i] = *p
	}
	return out, nil
}

// Scan implements dbutil.DataStruct.
func (p *RoomProblem) Scan(row dbutil.Scannable) (*RoomProblem, error) {
	var since int64
	if err := row.Scan(&p.RoomID, &p.Problem, &since); err != nil {
		return nil, err
	}
	p.Since = time.UnixMilli(since)
	return p, nil
}

// SetRoomProblem records that a room refuses opsroom's messages and, the
// first time only, the notice saying so for the given rooms. It says whether
// the problem is new.
func (s *Store) SetRoomProblem(ctx context.Context, p RoomProblem, notice *Alert, rooms []id.RoomID) (bool, error) {
	added, err := s.changeRoomProblem(ctx, notice, rooms, insertRoomProblemQuery, p.RoomID, p.Problem, p.Since.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("recording that %s refuses alerts: %w", p.RoomID, err)
	}
	return added, nil
}

// ClearRoomProblem forgets a room's problem and, if there was one, records
// the notice that it is over for the given rooms. It says whether there was one.
func (s *Store) ClearRoomProblem(ctx context.Context, room id.RoomID, notice *Alert, rooms []id.RoomID) (bool, error) {
	had, err := s.changeRoomProblem(ctx, notice, rooms, deleteRoomProblemQuery, room)
	if err != nil {
		return false, fmt.Errorf("recording that %s takes alerts again: %w", room, err)
	}
	return had, nil
}

// changeRoomProblem runs query on alert_room_problems and, if it changed a
// row, records the notice (if any) in the same transaction. It says whether
// the row changed.
func (s *Store) changeRoomProblem(ctx context.Context, notice *Alert, rooms []id.RoomID, query string, args ...any) (bool, error) {
	var changed bool
	err := s.fenced(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		changed = true
		if notice == nil {
			return nil
		}
		return s.insertAlert(ctx, notice, rooms)
	})
	return changed, err
}

// MarkDelivered records that the homeserver accepted the alert in the room.
func (s *Store) MarkDelivered(ctx context.Context, d Delivery, eventID id.EventID) error {
	return s.fenced(ctx, func(ctx context.Context) error {
		_, err := s.DB.Exec(ctx, deliveredQuery, d.Alert.ID, d.RoomID, eventID, time.Now().UnixMilli())
		return err
	})
}

// RecentAlerts returns the latest n alerts, of one subject or ("") of all, newest first.
func (s *Store) RecentAlerts(ctx context.Context, subject string, n int) ([]*Alert, error) {
	alerts, err := queryHelper[*Alert](s).QueryMany(ctx, recentAlertsQuery, subject, n)
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	if len(alerts) == 0 {
		return alerts, nil
	}
	return alerts, s.readUndelivered(ctx, alerts)
}

// Scan implements dbutil.DataStruct: alertColumns, then whether the alert had
// rooms to go to.
func (a *Alert) Scan(row dbutil.Scannable) (*Alert, error) {
	return a.scan(row, &a.Posted)
}

// scan reads alertColumns, then the columns a query adds after them into extra.
func (a *Alert) scan(row dbutil.Scannable, extra ...any) (*Alert, error) {
	var t, acked, resolved int64
	var mentions string
	if err := row.Scan(append([]any{&a.ID, &t, &a.Subject, &a.Kind, &a.Message, &mentions,
		&a.AboutID, &a.EditOnly, &a.AckedBy, &acked, &resolved, &a.Reminded, &a.Host, &a.Line, &a.GroupID}, extra...)...); err != nil {
		return nil, err
	}
	a.Time, a.Mentions = time.UnixMilli(t), splitUserIDs(mentions)
	a.AckedAt, a.Resolved = fromMilli(acked), fromMilli(resolved)
	return a, nil
}

// readUndelivered fills in the alerts' deliveries that did not arrive.
func (s *Store) readUndelivered(ctx context.Context, alerts []*Alert) error {
	byID := make(map[int64]*Alert, len(alerts))
	lo, hi := alerts[0].ID, alerts[0].ID
	for _, a := range alerts {
		byID[a.ID] = a
		lo, hi = min(lo, a.ID), max(hi, a.ID)
	}
	err := queryHelper[*undelivered](s).QueryManyIter(ctx, undeliveredQuery, lo, hi).Iter(func(u *undelivered) (bool, error) {
		if a := byID[u.alertID]; a != nil {
			a.Undelivered = append(a.Undelivered, u.Undelivered)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("reading alert deliveries: %w", err)
	}
	return nil
}

// undelivered is a row of undeliveredQuery: a delivery and its alert.
type undelivered struct {
	alertID int64
	Undelivered
}

// Scan implements dbutil.DataStruct.
func (u *undelivered) Scan(row dbutil.Scannable) (*undelivered, error) {
	return dbutil.ValueOrErr(u, row.Scan(&u.alertID, &u.RoomID, &u.Failure))
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
// problem alert of the same subject posted there before it, and its event; nil
// when there is none.
func (s *Store) AlertResolvedBy(ctx context.Context, recovery Delivery) (*Alert, id.EventID, error) {
	if recovery.Alert.AboutID != 0 {
		return s.AlertEvent(ctx, recovery.Alert.AboutID, recovery.RoomID)
	}
	posted, err := queryHelper[*postedAlert](s).QueryOne(ctx, resolvedQuery, recovery.Alert.Subject, recovery.Alert.ID, recovery.RoomID)
	if err != nil {
		return nil, "", fmt.Errorf("reading the alert %d resolves: %w", recovery.Alert.ID, err)
	} else if posted == nil {
		return nil, "", nil
	}
	return posted.alert, posted.eventID, nil
}

// postedAlert is a row of resolvedQuery: an alert, and its event in a room.
type postedAlert struct {
	alert   *Alert
	eventID id.EventID
}

// Scan implements dbutil.DataStruct.
func (p *postedAlert) Scan(row dbutil.Scannable) (*postedAlert, error) {
	p.alert = &Alert{}
	_, err := p.alert.scan(row, &p.eventID)
	return dbutil.ValueOrErr(p, err)
}
