package store

import (
	"context"
	"database/sql"
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
