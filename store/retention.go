package store

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.mau.fi/util/dbutil"
)

// Retention is how long the rows of each growing table are kept; zero keeps
// them for ever. What the running opsroom still needs is kept whatever its
// age: the latest alert of each service or host (a recovery edits it), the
// update a rollback would go back from, runs and confirmations still open.
type Retention struct {
	Audit         time.Duration
	Alerts        time.Duration // alerts and their deliveries
	UpdateRuns    time.Duration
	Confirmations time.Duration
}

const (
	pruneAlertsQuery = `
		DELETE FROM alerts WHERE time_ms < $1
		AND id NOT IN (SELECT MAX(id) FROM alerts GROUP BY subject)`
	pruneUpdateRunsQuery = `
		DELETE FROM update_runs WHERE result <> 'running' AND COALESCE(ended_ms, started_ms) < $1
		AND id NOT IN (
			SELECT MAX(id) FROM update_runs
			WHERE kind = 'update' AND result IN ('succeeded', 'unverified') AND old_commit <> '' AND old_commit <> new_commit
			GROUP BY service)`
	pruneConfirmationsQuery = `DELETE FROM confirmations WHERE state <> 'waiting' AND asked_ms < $1`
	pruneClaimsQuery        = `DELETE FROM command_claims WHERE time_ms < $1`
	claimRetention          = 24 * time.Hour
)

// Pruned counts the rows one pass of Prune deleted, by table.
type Pruned map[string]int64

// Prune deletes the rows older than their retention, as of now.
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) (Pruned, error) {
	out := Pruned{}
	for _, p := range []struct {
		table string
		keep  time.Duration
		query string
	}{
		{"audit_log", r.Audit, pruneAuditQuery},
		{"alerts", r.Alerts, pruneAlertsQuery},
		{"update_runs", r.UpdateRuns, pruneUpdateRunsQuery},
		{"confirmations", r.Confirmations, pruneConfirmationsQuery},
		// A claim is needed while its event may come again: after a takeover,
		// the new active instance syncs from the last position stored.
		{"command_claims", claimRetention, pruneClaimsQuery},
	} {
		if p.keep <= 0 {
			continue
		}
		res, err := s.DB.Exec(ctx, p.query, now.Add(-p.keep).UnixMilli())
		if err != nil {
			return out, fmt.Errorf("pruning %s: %w", p.table, err)
		}
		out[p.table], _ = res.RowsAffected()
	}
	return out, nil
}

// Compact gives the space of deleted rows back: on SQLite the WAL is
// checkpointed into the database file and truncated, and the file vacuumed;
// on PostgreSQL a plain VACUUM makes the space reusable (autovacuum does the
// same; VACUUM FULL, which would shrink the files, locks the tables).
func (s *Store) Compact(ctx context.Context) error {
	if s.DB.Dialect == dbutil.Postgres {
		if _, err := s.DB.Exec(ctx, "VACUUM"); err != nil {
			return fmt.Errorf("vacuuming the database: %w", err)
		}
		return nil
	}
	if _, err := s.DB.Exec(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpointing the database: %w", err)
	}
	if _, err := s.DB.Exec(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("vacuuming the database: %w", err)
	}
	return nil
}

// Size is how much disk the database takes: its file and its write-ahead
// log, or on PostgreSQL the database's size (0 if it cannot be read).
func (s *Store) Size() int64 {
	if s.DB.Dialect == dbutil.Postgres {
		return s.postgresSize()
	}
	var total int64
	for _, suffix := range []string{"", "-wal"} {
		if info, err := os.Stat(s.path + suffix); err == nil {
			total += info.Size()
		}
	}
	return total
}
