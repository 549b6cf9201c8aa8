package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mau.fi/util/dbutil"

	"maunium.net/go/mautrix/id"
)

// Maintenance scopes: what a window covers.
const (
	ScopeService = "service"
	ScopeHost    = "host"
	ScopeAll     = "all"
	// ScopeList is a scheduled window's services and hosts: Name lists them
	// as "service:web host:spark", separated by spaces.
	ScopeList = "list"
)

// Maintenance is a maintenance window: the alerts of what it covers are
// recorded, not posted, from Start until End (or until it ends early).
type Maintenance struct {
	ID       int64
	Scope    string // ScopeService, ScopeHost or ScopeAll
	Name     string // the service or host; "" for ScopeAll
	Start    time.Time
	End      time.Time // when it is planned to end
	Reason   string
	By       id.UserID // "" for a scheduled window
	EndEarly bool      // it ends once everything in it is back up
	// Schedule names the scheduled window and occurrence it is; "" if started from the room.
	Schedule string
	Ended    time.Time // zero while open
	EndedWhy string
}

// Covers says whether the window covers the service (on host), or the host itself (service "").
func (m *Maintenance) Covers(service, host string) bool {
	switch m.Scope {
	case ScopeAll:
		return true
	case ScopeHost:
		return m.Name == host
	case ScopeList:
		services, hosts := m.Targets()
		return slices.Contains(hosts, host) || (service != "" && slices.Contains(services, service))
	}
	return service != "" && m.Name == service
}

// Targets are the services and hosts a window names (none for ScopeAll).
func (m *Maintenance) Targets() (services, hosts []string) {
	switch m.Scope {
	case ScopeService:
		return []string{m.Name}, nil
	case ScopeHost:
		return nil, []string{m.Name}
	case ScopeList:
		for _, t := range strings.Fields(m.Name) {
			if name, ok := strings.CutPrefix(t, "host:"); ok {
				hosts = append(hosts, name)
			} else if name, ok := strings.CutPrefix(t, "service:"); ok {
				services = append(services, name)
			}
		}
	}
	return services, hosts
}

// ListTargets is the Name of a ScopeList window for the services and hosts.
func ListTargets(services, hosts []string) string {
	var parts []string
	for _, s := range services {
		parts = append(parts, "service:"+s)
	}
	for _, h := range hosts {
		parts = append(parts, "host:"+h)
	}
	return strings.Join(parts, " ")
}

const (
	maintenanceColumns     = `id, scope, name, start_ms, end_ms, reason, started_by, end_early, schedule, ended_ms, ended_why`
	insertMaintenanceQuery = `
		INSERT INTO maintenance (scope, name, start_ms, end_ms, reason, started_by, end_early, schedule)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	insertScheduledQuery   = insertMaintenanceQuery + ` ON CONFLICT (schedule) WHERE schedule != '' DO NOTHING`
	extendMaintenanceQuery = `
		UPDATE maintenance SET end_ms=$3, reason=$4, started_by=$5
		WHERE scope=$1 AND name=$2 AND ended_ms IS NULL AND schedule = ''`
	openMaintenanceQuery = `SELECT ` + maintenanceColumns + ` FROM maintenance WHERE ended_ms IS NULL AND start_ms <= $1 ORDER BY id`
	endMaintenanceQuery  = `
		UPDATE maintenance SET ended_ms=$2, ended_why=CASE WHEN ended_why != '' THEN ended_why ELSE $3 END
		WHERE id=$1 AND ended_ms IS NULL`
	closeMaintenanceQuery = `UPDATE maintenance SET end_ms=$2, ended_why=$3 WHERE id=$1 AND ended_ms IS NULL AND end_ms > $2`
	alertsBetweenQuery    = `SELECT ` + alertColumns + `, EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id)
		FROM alerts a WHERE a.time_ms >= $1 AND a.time_ms <= $2 ORDER BY a.id`
)

// StartMaintenance opens a window. A window from the room for what an open
// one from the room already covers (the same scope and name) replaces its
// end and reason instead: it says whether it did.
func (s *Store) StartMaintenance(ctx context.Context, m Maintenance) (extended bool, err error) {
	err = s.fenced(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, extendMaintenanceQuery, m.Scope, m.Name, m.End.UnixMilli(), m.Reason, m.By)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			extended = true
			return nil
		}
		_, err = s.DB.Exec(ctx, insertMaintenanceQuery, m.Scope, m.Name, m.Start.UnixMilli(), m.End.UnixMilli(), m.Reason, m.By, m.EndEarly, "")
		return err
	})
	if err != nil {
		return false, fmt.Errorf("starting maintenance of %s %s: %w", m.Scope, m.Name, err)
	}
	return extended, nil
}

// StartScheduled opens a scheduled window's occurrence (m.Schedule) unless it
// was opened before, and says whether it opened it now: each occurrence
// starts once, however often opsroom restarts during it, and never again after it ended.
// The notice announcing it, if any, is recorded for the rooms with it.
func (s *Store) StartScheduled(ctx context.Context, m Maintenance, notice *Alert, rooms []id.RoomID) (bool, error) {
	var started bool
	err := s.fenced(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, insertScheduledQuery, m.Scope, m.Name, m.Start.UnixMilli(), m.End.UnixMilli(), m.Reason, "", m.EndEarly, m.Schedule)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		started = n > 0
		if !started || notice == nil {
			return nil
		}
		return s.insertAlert(ctx, notice, rooms)
	})
	if err != nil {
		return false, fmt.Errorf("starting the scheduled maintenance %s: %w", m.Schedule, err)
	}
	return started, nil
}

// OpenMaintenance returns the windows started by now and not ended, those
// past their planned end included (they wait to be ended), oldest first.
func (s *Store) OpenMaintenance(ctx context.Context, now time.Time) ([]*Maintenance, error) {
	out, err := queryHelper[*Maintenance](s).QueryMany(ctx, openMaintenanceQuery, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("reading maintenance windows: %w", err)
	}
	return out, nil
}

// InMaintenance returns the open window, within its planned time, that covers
// the service on host (or the host itself, service ""), or nil.
func (s *Store) InMaintenance(ctx context.Context, service, host string, now time.Time) (*Maintenance, error) {
	open, err := s.OpenMaintenance(ctx, now)
	if err != nil {
		return nil, err
	}
	for _, m := range open {
		if m.End.After(now) && m.Covers(service, host) {
			return m, nil
		}
	}
	return nil, nil
}

// EndMaintenance closes a window, saying why, and records its summary (if
// any) for the rooms, in one transaction. It says whether the window was
// still open (a window is ended once).
func (s *Store) EndMaintenance(ctx context.Context, id int64, why string, now time.Time, summary *Alert, rooms []id.RoomID) (bool, error) {
	var ended bool
	err := s.fenced(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, endMaintenanceQuery, id, now.UnixMilli(), why)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		ended = true
		if summary == nil {
			return nil
		}
		return s.insertAlert(ctx, summary, rooms)
	})
	if err != nil {
		return false, fmt.Errorf("ending maintenance window %d: %w", id, err)
	}
	return ended, nil
}

// AlertsBetween returns the alerts of the given subjects (nil: every
// subject) raised from from to to, oldest first.
func (s *Store) AlertsBetween(ctx context.Context, subjects []string, from, to time.Time) ([]*Alert, error) {
	all, err := queryHelper[*Alert](s).QueryMany(ctx, alertsBetweenQuery, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	if subjects == nil {
		return all, nil
	}
	return slices.DeleteFunc(all, func(a *Alert) bool { return !slices.Contains(subjects, a.Subject) }), nil
}

// Scan implements dbutil.DataStruct.
func (m *Maintenance) Scan(row dbutil.Scannable) (*Maintenance, error) {
	var start, end int64
	var ended sql.NullInt64
	if err := row.Scan(&m.ID, &m.Scope, &m.Name, &start, &end, &m.Reason, &m.By, &m.EndEarly, &m.Schedule, &ended, &m.EndedWhy); err != nil {
		return nil, err
	}
	m.Start, m.End = time.UnixMilli(start), time.UnixMilli(end)
	if ended.Valid {
		m.Ended = time.UnixMilli(ended.Int64)
	}
	return m, nil
}

// CloseMaintenance ends an open window's time now, saying why; the bot's
// maintenance loop then ends it with its summary.
func (s *Store) CloseMaintenance(ctx context.Context, id int64, now time.Time, why string) error {
	if _, err := s.DB.Exec(ctx, closeMaintenanceQuery, id, now.UnixMilli(), why); err != nil {
		return fmt.Errorf("ending maintenance window %d: %w", id, err)
	}
	return nil
}
