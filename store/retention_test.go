package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestPruneKeepsWhatIsStillNeeded: old rows go, but not the latest alert of a
// subject (a recovery edits it), the update a rollback would go back from, a
// run still running, or a confirmation still waiting.
func TestPruneKeepsWhatIsStillNeeded(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		now := time.Now()
		old, recent := now.Add(-100*24*time.Hour).UnixMilli(), now.Add(-time.Hour).UnixMilli()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := s.DB.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for _, a := range []struct {
			id      int
			at      int64
			subject string
		}{{1, old, "web"}, {2, old, "web"}, {3, old, "db"}, {4, recent, "api"}} {
			exec(`INSERT INTO alerts (id, time_ms, subject, kind, message) VALUES ($1, $2, $3, 'exited', 'x')`, a.id, a.at, a.subject)
			exec(`INSERT INTO alert_deliveries (alert_id, room_id, event_id) VALUES ($1, '!r', '$e')`, a.id)
		}
		for _, r := range []struct {
			id                int
			kind, result      string
			oldC, newC        string
			started, finished any
		}{
			{1, "update", "succeeded", "a", "b", old, old},   // the rollback target of web: kept
			{2, "update", "failed", "b", "c", old, old},      // old: pruned
			{3, "rollback", "succeeded", "b", "a", old, old}, // old: pruned
			{4, "update", "running", "b", "", old, nil},      // running: kept
			{5, "update", "succeeded", "a", "b", recent, recent},
		} {
			service := "web"
			if r.id == 5 {
				service = "api"
			}
			exec(`INSERT INTO update_runs (id, kind, service, sender, room_id, started_ms, ended_ms, old_commit, new_commit, result)
				VALUES ($1, $2, $3, '@a:x', '!r', $4, $5, $6, $7, $8)`, r.id, r.kind, service, r.started, r.finished, r.oldC, r.newC, r.result)
		}
		exec(`INSERT INTO confirmations (id, room_id, sender, command, service, asked_ms, state) VALUES
			(1, '!r', '@a:x', 'update', 'web', $1, 'confirmed'), (2, '!r', '@a:x', 'update', 'web', $1, 'waiting'),
			(3, '!r', '@a:x', 'update', 'web', $2, 'denied')`, old, recent)

		month := 30 * 24 * time.Hour
		got, err := s.Prune(ctx, Retention{Alerts: month, UpdateRuns: month, Confirmations: month}, now)
		if err != nil {
			t.Fatal(err)
		}
		ids := func(q string) (out []int) {
			t.Helper()
			rows, err := s.DB.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id int
				_ = rows.Scan(&id)
				out = append(out, id)
			}
			return out
		}
		for q, want := range map[string][]int{
			`SELECT id FROM alerts ORDER BY id`:                {2, 3, 4},
			`SELECT alert_id FROM alert_deliveries ORDER BY 1`: {2, 3, 4},
			`SELECT id FROM update_runs ORDER BY id`:           {1, 4, 5},
			`SELECT id FROM confirmations ORDER BY id`:         {2, 3},
		} {
			if have := ids(q); !slices.Equal(have, want) {
				t.Errorf("%s: %v, want %v", q, have, want)
			}
		}
		if got["alerts"] != 1 || got["update_runs"] != 2 || got["confirmations"] != 1 {
			t.Errorf("pruned %v", got)
		}
		if err := s.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if s.Size() <= 0 {
			t.Errorf("database size %d", s.Size())
		}
	})
}
