package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"

	"maunium.net/go/mautrix/id"
)

// Result says how a command ended, as recorded in the audit log.
type Result string

const (
	ResultOK      Result = "ok"      // ran and succeeded
	ResultFailed  Result = "failed"  // ran; the remote command or the host failed
	ResultInvalid Result = "invalid" // refused before running: unknown service, bad argument
	ResultDenied  Result = "denied"  // refused: sender or room not allowed

	ResultPending   Result = "pending"   // waiting for a confirmation; a later row says how it ended
	ResultCancelled Result = "cancelled" // not run: denied, or not confirmed in time
)

// AuditAlert is the Command of an audit row that records an alert the watcher
// raised (Args is its kind, Service its service or host); it has no sender.
const AuditAlert = "alert"

// AuditEntry is one row of the audit log: a command, allowed or refused, or an alert.
type AuditEntry struct {
	ID       int64
	Time     time.Time
	Sender   id.UserID
	RoomID   id.RoomID
	EventID  id.EventID
	Command  string
	Args     string
	Service  string
	Result   Result
	ExitCode *int // set when a remote command ran and exited
	Duration time.Duration
	Detail   string // the error or refusal reason, short
}

const (
	insertAuditQuery = `
		INSERT INTO audit_log (time_ms, sender, room_id, event_id, command, args, service, result, exit_code, duration_ms, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	recentAuditQuery = `
		SELECT id, time_ms, sender, room_id, event_id, command, args, service, result, exit_code, duration_ms, detail
		FROM audit_log WHERE $1 = '' OR service = $1 ORDER BY id DESC LIMIT $2`
	pruneAuditQuery = `DELETE FROM audit_log WHERE time_ms < $1`
)

// AuditQuery reads and writes the audit log.
type AuditQuery struct {
	*dbutil.QueryHelper[*AuditEntry]
}

// Audit returns the audit log's queries.
func (s *Store) Audit() AuditQuery {
	return AuditQuery{queryHelper[*AuditEntry](s)}
}

// Record appends e to the audit log. A zero Time means now.
func (aq AuditQuery) Record(ctx context.Context, e *AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	err := aq.Exec(ctx, insertAuditQuery,
		e.Time.UnixMilli(), e.Sender, e.RoomID, e.EventID, e.Command, e.Args, e.Service, e.Result,
		e.ExitCode, e.Duration.Milliseconds(), e.Detail)
	if err != nil {
		return fmt.Errorf("recording audit entry for %s: %w", e.Command, err)
	}
	return nil
}

// Recent returns the latest n entries, of one service or ("") of all, newest first.
func (aq AuditQuery) Recent(ctx context.Context, service string, n int) ([]*AuditEntry, error) {
	return aq.QueryMany(ctx, recentAuditQuery, service, n)
}

// Prune deletes the entries older than before (the retention period); rows
// are deleted whole, never rewritten. It returns how many went.
func (aq AuditQuery) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := aq.GetDB().Exec(ctx, pruneAuditQuery, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("pruning the audit log: %w", err)
	}
	return res.RowsAffected()
}

// Scan implements dbutil.DataStruct.
func (e *AuditEntry) Scan(row dbutil.Scannable) (*AuditEntry, error) {
	var timeMS, durationMS int64
	var exitCode sql.NullInt64
	err := row.Scan(&e.ID, &timeMS, &e.Sender, &e.RoomID, &e.EventID, &e.Command, &e.Args, &e.Service,
		&e.Result, &exitCode, &durationMS, &e.Detail)
	if err != nil {
		return nil, err
	}
	e.Time = time.UnixMilli(timeMS)
	e.Duration = time.Duration(durationMS) * time.Millisecond
	if exitCode.Valid {
		code := int(exitCode.Int64)
		e.ExitCode = &code
	}
	return e, nil
}

// Change is the last change opsroom made to a service from the room: who ran
// which command when, and for an update or rollback the commit it deployed.
type Change struct {
	Command string // restart, stop, start, update, rollback
	Sender  id.UserID
	Time    time.Time
	Commit  string // update, rollback: the commit deployed; "" if unknown
}

const (
	lastChangeQuery = `
		SELECT command, sender, time_ms FROM audit_log
		WHERE service = $1 AND result = 'ok' AND sender <> '' AND time_ms <= $2
			AND command IN ('restart', 'stop', 'start', 'update', 'rollback')
		ORDER BY id DESC LIMIT 1`
	changeCommitQuery = `
		SELECT new_commit FROM update_runs
		WHERE service = $1 AND result = 'succeeded' AND started_ms >= $2 AND started_ms <= $3
		ORDER BY id DESC LIMIT 1`
)

// LastChange returns the last command that changed the service and succeeded
// at or before the given time, from the audit log; nil when there is none.
func (s *Store) LastChange(ctx context.Context, service string, before time.Time) (*Change, error) {
	var c Change
	var t int64
	err := s.DB.QueryRow(ctx, lastChangeQuery, service, before.UnixMilli()).Scan(&c.Command, &c.Sender, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading the last change of %s: %w", service, err)
	}
	c.Time = time.UnixMilli(t)
	if c.Command == "update" || c.Command == "rollback" {
		// The run starts just after the command's audit row takes its time.
		err := s.DB.QueryRow(ctx, changeCommitQuery, service, t, before.UnixMilli()).Scan(&c.Commit)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("reading the commit %s deployed: %w", service, err)
		}
	}
	return &c, nil
}
