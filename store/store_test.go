package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testworld.StopPostgres()
	os.Exit(code)
}

// eachDialect runs test on a SQLite file and on PostgreSQL (a throw-away
// cluster's database; skipped under -short or without PostgreSQL), as
// subtests named sqlite and postgres: newDatabase makes that subtest's database.
func eachDialect(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, test)
	}
}

// newDatabase is a new database of the dialect eachDialect's subtest names:
// a SQLite file's path, or a PostgreSQL URI.
func newDatabase(t *testing.T) string {
	t.Helper()
	if strings.HasSuffix(t.Name(), "/postgres") {
		return testworld.PostgresDatabase(t)
	}
	return filepath.Join(t.TempDir(), "opsroom.db")
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := newDatabase(t)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestSessionSurvivesReopen(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, path := openTemp(t)
		user := id.UserID("@opsroom:example.org")

		if dev, err := s.DeviceID(ctx, user); err != nil || dev != "" {
			t.Fatalf("fresh store: DeviceID = %q, %v; want empty", dev, err)
		}
		if err := s.SetDeviceID(ctx, user, "DEV1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SyncStore().SaveNextBatch(ctx, user, "s42"); err != nil {
			t.Fatal(err)
		}
		if err := s.SyncStore().SaveFilterID(ctx, user, "f1"); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()

		s2, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s2.Close()
		if dev, _ := s2.DeviceID(ctx, user); dev != "DEV1" {
			t.Errorf("after reopen DeviceID = %q, want DEV1", dev)
		}
		if nb, _ := s2.SyncStore().LoadNextBatch(ctx, user); nb != "s42" {
			t.Errorf("after reopen next batch = %q, want s42", nb)
		}
		if f, _ := s2.SyncStore().LoadFilterID(ctx, user); f != "f1" {
			t.Errorf("after reopen filter = %q, want f1 (saving next batch must not clear it)", f)
		}
	})
}

func TestAuditRecordsAndReadsBack(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		code := 1
		entries := []*AuditEntry{
			{Sender: "@eve:example.org", RoomID: "!r:example.org", Command: "restart", Args: "bridge", Service: "bridge", Result: ResultDenied, Detail: "sender not allowed"},
			{Sender: "@alice:example.org", RoomID: "!r:example.org", Command: "restart", Args: "bridge", Service: "bridge", Result: ResultFailed, ExitCode: &code, Duration: 1500 * time.Millisecond},
		}
		for _, e := range entries {
			if err := s.Audit().Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Audit().Recent(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d entries, want 2", len(got))
		}
		if got[0].Result != ResultFailed || got[0].ExitCode == nil || *got[0].ExitCode != 1 || got[0].Duration != 1500*time.Millisecond {
			t.Errorf("newest entry = %+v, want the failed restart with exit 1 and 1.5 s", got[0])
		}
		if got[1].Result != ResultDenied || got[1].ExitCode != nil || got[1].Sender != "@eve:example.org" {
			t.Errorf("oldest entry = %+v, want eve's denied restart without exit code", got[1])
		}
	})
}

func TestUpdateRunLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		run := &UpdateRun{Service: "bridge", Sender: "@alice:example.org", RoomID: "!r:example.org"}
		if err := s.Updates().Start(ctx, run); err != nil {
			t.Fatal(err)
		}
		run.ProgressEventID = "$progress"
		run.Stage, run.OldCommit = "build", "aaaaaaa"
		if err := s.Updates().SetProgressEvent(ctx, run); err != nil {
			t.Fatal(err)
		}
		if err := s.Updates().SetStage(ctx, run); err != nil {
			t.Fatal(err)
		}
		running, err := s.Updates().Running(ctx)
		if err != nil || len(running) != 1 || running[0].Stage != "build" || running[0].ProgressEventID != "$progress" {
			t.Fatalf("running runs = %+v, %v; want the one at stage build", running, err)
		}
		if last, _ := s.Updates().LastSuccessfulUpdate(ctx, "bridge"); last != nil {
			t.Errorf("no run succeeded yet, got %+v", last)
		}
		run.Result, run.NewCommit = UpdateSucceeded, "bbbbbbb"
		if err := s.Updates().Finish(ctx, run); err != nil {
			t.Fatal(err)
		}
		// A second Finish (say, an interrupted mark racing the real end) changes nothing.
		late := *run
		late.Result = UpdateInterrupted
		_ = s.Updates().Finish(ctx, &late)
		last, err := s.Updates().LastSuccessfulUpdate(ctx, "bridge")
		if err != nil || last == nil || last.Kind != RunUpdate || last.OldCommit != "aaaaaaa" || last.NewCommit != "bbbbbbb" || last.Ended.IsZero() {
			t.Errorf("last successful = %+v, %v", last, err)
		}
		if running, _ := s.Updates().Running(ctx); len(running) != 0 {
			t.Errorf("finished run still listed as running")
		}
	})
}

// deployed records a finished run of the given kind, from old to new.
func deployed(t *testing.T, s *Store, kind RunKind, service, old, new string, result UpdateResult) *UpdateRun {
	t.Helper()
	ctx := context.Background()
	run := &UpdateRun{Kind: kind, Service: service, Sender: "@alice:example.org", RoomID: "!r:example.org"}
	if err := s.Updates().Start(ctx, run); err != nil {
		t.Fatal(err)
	}
	run.Result, run.OldCommit, run.NewCommit = result, old, new
	if err := s.Updates().Finish(ctx, run); err != nil {
		t.Fatal(err)
	}
	return run
}

func TestARunKeepsItsKind(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		update := &UpdateRun{Service: "bridge", Sender: "@alice:example.org", RoomID: "!r:example.org"}
		rollback := &UpdateRun{Kind: RunRollback, Service: "web", Sender: "@alice:example.org", RoomID: "!r:example.org"}
		for _, run := range []*UpdateRun{update, rollback} {
			if err := s.Updates().Start(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
		if update.Kind != RunUpdate {
			t.Errorf("a run started without a kind is a %q, want an update", update.Kind)
		}
		running, err := s.Updates().Running(ctx)
		if err != nil || len(running) != 2 {
			t.Fatalf("running runs = %+v, %v; want two", running, err)
		}
		if running[0].Kind != RunUpdate || running[1].Kind != RunRollback {
			t.Errorf("running runs read back as %q and %q, want update and rollback", running[0].Kind, running[1].Kind)
		}
	})
}

func TestRollbackTargetCountsOnlyUpdatesThatChangedTheCommit(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		// Given: an update A -> B, then a rollback B -> A.
		deployed(t, s, RunUpdate, "bridge", "aaaaaaa", "bbbbbbb", UpdateSucceeded)
		deployed(t, s, RunRollback, "bridge", "bbbbbbb", "aaaaaaa", UpdateSucceeded)
		// When: the rollback target is read again. Then: still A, not back to B.
		last, err := s.Updates().LastSuccessfulUpdate(ctx, "bridge")
		if err != nil || last == nil || last.OldCommit != "aaaaaaa" {
			t.Fatalf("after a rollback the last update = %+v, %v; want the one from aaaaaaa", last, err)
		}

		// Given: an update that found nothing new, and one that failed.
		deployed(t, s, RunUpdate, "bridge", "bbbbbbb", "ccccccc", UpdateSucceeded)
		deployed(t, s, RunUpdate, "bridge", "ccccccc", "ccccccc", UpdateSucceeded)
		deployed(t, s, RunUpdate, "bridge", "ccccccc", "ddddddd", UpdateFailed)
		last, err = s.Updates().LastSuccessfulUpdate(ctx, "bridge")
		if err != nil || last == nil || last.OldCommit != "bbbbbbb" || last.NewCommit != "ccccccc" {
			t.Errorf("last update = %+v, %v; want bbbbbbb -> ccccccc, past the one that changed nothing and the failed one", last, err)
		}

		// A service rolled back but never updated through opsroom has none.
		deployed(t, s, RunRollback, "web", "eeeeeee", "fffffff", UpdateSucceeded)
		if last, err := s.Updates().LastSuccessfulUpdate(ctx, "web"); err != nil || last != nil {
			t.Errorf("web's last update = %+v, %v; want none", last, err)
		}
	})
}

func TestUpdateRunsFromBeforeKindsReadAsUpdates(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		path := newDatabase(t)
		// Given: a database at v9, before update runs had a kind, with a finished
		// run and one cut off.
		old, err := open(ctx, path, upgradeTable[:9])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.DB.Exec(ctx, `SELECT kind FROM update_runs`); err == nil {
			t.Fatal("the v9 database has update_runs.kind already")
		}
		if _, err := old.DB.Exec(ctx, `INSERT INTO update_runs (service, sender, room_id, started_ms, ended_ms, old_commit, new_commit, result)
			VALUES ('bridge', '@alice:example.org', '!r:example.org', 1, 2, 'aaaaaaa', 'bbbbbbb', 'succeeded'),
			       ('bridge', '@alice:example.org', '!r:example.org', 3, NULL, 'bbbbbbb', '', 'running')`); err != nil {
			t.Fatal(err)
		}
		_ = old.Close()

		// When: opsroom opens it.
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("migrating a v9 database: %v", err)
		}
		defer s.Close()

		// Then: both runs are updates.
		last, err := s.Updates().LastSuccessfulUpdate(ctx, "bridge")
		if err != nil || last == nil || last.Kind != RunUpdate || last.OldCommit != "aaaaaaa" {
			t.Errorf("the old successful run = %+v, %v; want an update from aaaaaaa", last, err)
		}
		running, err := s.Updates().Running(ctx)
		if err != nil || len(running) != 1 || running[0].Kind != RunUpdate {
			t.Errorf("the old unfinished run = %+v, %v; want one update", running, err)
		}
	})
}

func TestAuditRowsAreNeverRewrittenButAgeOut(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		old := &AuditEntry{Time: time.Now().Add(-48 * time.Hour), Sender: "@alice:example.org", RoomID: "!r:example.org", Command: "restart", Service: "bridge", Result: ResultOK}
		fresh := &AuditEntry{Sender: "@alice:example.org", RoomID: "!r:example.org", Command: "status", Service: "web", Result: ResultOK}
		for _, e := range []*AuditEntry{old, fresh} {
			if err := s.Audit().Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.DB.Exec(ctx, `UPDATE audit_log SET result='ok', sender='@mallory:example.org'`); err == nil {
			t.Errorf("an audit row was rewritten")
		}
		if got, err := s.Audit().Recent(ctx, "web", 10); err != nil || len(got) != 1 || got[0].Command != "status" {
			t.Errorf("Recent(web) = %+v, %v; want the status entry alone", got, err)
		}
		n, err := s.Audit().Prune(ctx, time.Now().Add(-24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("Prune removed %d rows (%v), want 1", n, err)
		}
		if got, _ := s.Audit().Recent(ctx, "", 10); len(got) != 1 || got[0].Command != "status" {
			t.Errorf("after pruning: %+v, want the fresh entry alone", got)
		}
	})
}

func TestConfirmationsEndOnceAndSurviveAsWaiting(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		a := &Confirmation{RoomID: "!r:example.org", Sender: "@alice:example.org", Command: "update", Service: "homeserver"}
		b := &Confirmation{RoomID: "!r:example.org", Sender: "@alice:example.org", Command: "restart", Service: "web"}
		for _, c := range []*Confirmation{a, b} {
			if err := s.AskConfirmation(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if a.ID == 0 || b.ID <= a.ID {
			t.Fatalf("IDs %d, %d: want increasing numbers", a.ID, b.ID)
		}
		b.PromptID = "$prompt"
		if err := s.SetConfirmationPrompt(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.EndConfirmation(ctx, a.ID, ConfirmConfirmed); err != nil {
			t.Fatal(err)
		}
		_ = s.EndConfirmation(ctx, a.ID, ConfirmExpired) // too late: it is no longer waiting
		waiting, err := s.WaitingConfirmations(ctx)
		if err != nil || len(waiting) != 1 || waiting[0].ID != b.ID || waiting[0].PromptID != "$prompt" {
			t.Fatalf("waiting = %+v, %v; want only b with its prompt", waiting, err)
		}
		var state string
		if err := s.DB.QueryRow(ctx, `SELECT state FROM confirmations WHERE id=$1`, a.ID).Scan(&state); err != nil || state != "confirmed" {
			t.Errorf("a's state = %q (%v), want confirmed (the later expiry must not overwrite it)", state, err)
		}
	})
}

func TestWatchStateSurvivesReopenWithItsFlap(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, path := openTemp(t)
		since := time.UnixMilli(time.Now().UnixMilli())
		flapping := WatchState{Key: "service:web", State: "exited", Alerted: true, Since: since, RestartCount: 3,
			Flapping: true, FlapLastChange: since.Add(time.Minute), FlapSuppressed: 4}
		calm := WatchState{Key: "host:vps", State: "running", Since: since}
		for _, ws := range []WatchState{flapping, calm} {
			if err := s.RecordTransition(ctx, ws, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.Close()
		s2, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		got, err := s2.WatchStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []WatchState{flapping, calm} {
			g := got[want.Key]
			if g.State != want.State || g.Alerted != want.Alerted || !g.Since.Equal(want.Since) || g.RestartCount != want.RestartCount ||
				g.Flapping != want.Flapping || !g.FlapLastChange.Equal(want.FlapLastChange) || g.FlapSuppressed != want.FlapSuppressed {
				t.Errorf("%s after reopen: %+v, want %+v", want.Key, g, want)
			}
		}
		if !got["host:vps"].FlapLastChange.IsZero() {
			t.Errorf("a zero time came back as %s", got["host:vps"].FlapLastChange)
		}
	})
}

// An alert is a row of the audit log too, written with it: !history of a
// service tells what happened to it, not only what was done to it.
func TestAlertsAreAuditedWithTheirService(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		ws := WatchState{Key: "service:web", State: "exited", Alerted: true, Since: time.Now()}
		posted := &Alert{Subject: "web", Kind: "exited", Message: "web exited"}
		if err := s.RecordTransition(ctx, ws, posted, []id.RoomID{"!ops:example.org"}); err != nil {
			t.Fatal(err)
		}
		muted := &Alert{Subject: "web", Kind: "recovered", Message: "web recovered"}
		if err := s.RecordTransition(ctx, ws, muted, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordTransition(ctx, WatchState{Key: "service:db", State: "running"}, nil, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Audit().Recent(ctx, "web", 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("Recent(web) = %d entries, %v; want the two alerts", len(got), err)
		}
		if e := got[1]; e.Command != AuditAlert || e.Args != "exited" || e.Result != ResultOK || e.Sender != "" || e.Detail != "" {
			t.Errorf("the posted alert's row: %+v", e)
		}
		if e := got[0]; e.Args != "recovered" || e.Detail != "muted: recorded, not posted" {
			t.Errorf("the muted alert's row: %+v", e)
		}
	})
}

// Each room's queue is its own, oldest first; a delivery that failed for good
// leaves it, and says why in RecentAlerts and the audit log.
func TestDeliveriesQueuePerRoomAndAFailedOneLeavesTheQueue(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		a, b := id.RoomID("!a:example.org"), id.RoomID("!b:example.org")
		first := &Alert{Subject: "web", Kind: "exited", Message: "web exited"}
		second := &Alert{Subject: "db", Kind: "exited", Message: "db exited"}
		for _, al := range []*Alert{first, second} {
			if err := s.RecordTransition(ctx, WatchState{Key: "service:" + al.Subject}, al, []id.RoomID{a, b}); err != nil {
				t.Fatal(err)
			}
		}
		next := func(room id.RoomID) int64 {
			t.Helper()
			d, err := s.NextDelivery(ctx, room)
			if err != nil {
				t.Fatal(err)
			}
			if d == nil {
				return 0
			}
			return d.Alert.ID
		}
		if next(a) != first.ID || next(b) != first.ID {
			t.Fatalf("next in a, b = %d, %d; want the first alert %d in both", next(a), next(b), first.ID)
		}
		if err := s.MarkFailed(ctx, Delivery{Alert: first, RoomID: a}, "M_TOO_LARGE (HTTP 413): too big"); err != nil {
			t.Fatal(err)
		}
		if next(a) != second.ID || next(b) != first.ID {
			t.Errorf("after the first failed in a: next in a, b = %d, %d; want %d, %d", next(a), next(b), second.ID, first.ID)
		}
		if err := s.MarkDelivered(ctx, Delivery{Alert: second, RoomID: a}, "$x"); err != nil {
			t.Fatal(err)
		}
		if next(a) != 0 {
			t.Errorf("a's queue holds %d, want it empty", next(a))
		}
		got, err := s.RecentAlerts(ctx, "web", 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("RecentAlerts(web) = %v, %v", got, err)
		}
		want := []Undelivered{{RoomID: a, Failure: "M_TOO_LARGE (HTTP 413): too big"}, {RoomID: b}}
		if u := got[0].Undelivered; len(u) != 2 || u[0] != want[0] || u[1] != want[1] {
			t.Errorf("undelivered = %+v, want %+v", u, want)
		}
		audit, err := s.Audit().Recent(ctx, "web", 1)
		if err != nil || len(audit) != 1 || audit[0].Result != ResultFailed || audit[0].RoomID != a || audit[0].Detail != "not delivered: M_TOO_LARGE (HTTP 413): too big" {
			t.Errorf("the failure's audit row: %+v, %v", audit, err)
		}

		dropped, err := s.DropDeliveries(ctx, []id.RoomID{a}, "no longer configured")
		if err != nil || len(dropped) != 1 || dropped[b] != 2 {
			t.Errorf("DropDeliveries keeping a = %v, %v; want b's 2 dropped", dropped, err)
		}
		if next(b) != 0 {
			t.Errorf("b's queue holds %d after it was dropped", next(b))
		}
	})
}

// A room that refuses alerts is recorded once, with its notice for the other
// rooms written with it; clearing it writes the all-clear once.
func TestARoomProblemIsRecordedOnceWithItsNotice(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		bad, good := id.RoomID("!bad:example.org"), id.RoomID("!good:example.org")
		since := time.UnixMilli(time.Now().UnixMilli())
		for i, want := range []bool{true, false} {
			notice := &Alert{Subject: string(bad), Kind: "cannot-post", Message: "cannot post"}
			added, err := s.SetRoomProblem(ctx, RoomProblem{RoomID: bad, Problem: "M_FORBIDDEN", Since: since.Add(time.Duration(i) * time.Minute)}, notice, []id.RoomID{good})
			if err != nil || added != want {
				t.Fatalf("SetRoomProblem #%d = %v, %v; want %v", i+1, added, err, want)
			}
		}
		problems, err := s.RoomProblems(ctx)
		if err != nil || len(problems) != 1 || problems[0] != (RoomProblem{RoomID: bad, Problem: "M_FORBIDDEN", Since: since}) {
			t.Errorf("RoomProblems = %+v, %v; want the first one recorded", problems, err)
		}
		for i, want := range []bool{true, false} {
			notice := &Alert{Subject: string(bad), Kind: "recovered", Message: "can post again"}
			had, err := s.ClearRoomProblem(ctx, bad, notice, []id.RoomID{good})
			if err != nil || had != want {
				t.Fatalf("ClearRoomProblem #%d = %v, %v; want %v", i+1, had, err, want)
			}
		}
		alerts, err := s.RecentAlerts(ctx, string(bad), 10)
		if err != nil || len(alerts) != 2 || alerts[0].Kind != "recovered" || alerts[1].Kind != "cannot-post" {
			t.Errorf("notices about the room: %+v, %v; want one that it cannot post, one that it can again", alerts, err)
		}
		if problems, _ := s.RoomProblems(ctx); len(problems) != 0 {
			t.Errorf("RoomProblems after clearing = %+v", problems)
		}
	})
}
