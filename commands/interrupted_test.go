package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/store"
)

func TestAnInterruptedRunSaysWhetherItWasAnUpdateOrARollback(t *testing.T) {
	const (
		older  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		newer  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		newest = "cccccccccccccccccccccccccccccccccccccccc"
	)
	last := &store.UpdateRun{Service: "app", OldCommit: older, NewCommit: newer, Result: store.UpdateSucceeded}
	for _, c := range []struct {
		name     string
		run      store.UpdateRun
		last     *store.UpdateRun
		rollback bool
	}{
		{"a rollback, whose target is recorded as it starts", store.UpdateRun{Stage: "fetch", NewCommit: older}, last, true},
		{"a rollback cut off before its first stage", store.UpdateRun{NewCommit: older}, last, true},
		{"an update still fetching: no target yet", store.UpdateRun{Stage: "fetch"}, last, false},
		{"an update to the remote's tip", store.UpdateRun{Stage: "build", OldCommit: newer, NewCommit: newest}, last, false},
		{"an update of a service never updated before", store.UpdateRun{Stage: "build", NewCommit: older}, nil, false},
		{"after a run that changed nothing, which no rollback goes back from",
			store.UpdateRun{Stage: "fetch", NewCommit: older}, &store.UpdateRun{OldCommit: older, NewCommit: older}, false},
	} {
		if got := isRollback(&c.run, c.last); got != c.rollback {
			t.Errorf("%s: isRollback = %v, want %v", c.name, got, c.rollback)
		}
	}

	run := &store.UpdateRun{Service: "app", Sender: "@alice:example.org", Stage: "fetch",
		Started: time.Date(2026, 11, 24, 14, 2, 0, 0, time.Local)}
	md, stage := interruptedNotice(run, true)
	mustShow(t, shown(md), "⚠️ Rollback of **app** was interrupted by a restart of opsroom at stage fetch (started by @alice:example.org at 14:02).",
		"`!status app`")
	if stage != "fetch" {
		t.Errorf("stage %q, want fetch", stage)
	}
	run.Stage = ""
	md, stage = interruptedNotice(run, false)
	mustShow(t, shown(md), "⚠️ Update of **app** was interrupted by a restart of opsroom at stage start")
	if stage != "start" {
		t.Errorf("stage %q, want start", stage)
	}
}

// A rollback cut off by a stop of opsroom is called a rollback at its next
// start: deploy records the rollback's target as it starts, and
// MarkInterrupted reads it back.
func TestAnInterruptedRollbackSaysRollback(t *testing.T) {
	w := newHostWorld(t)
	// A successful update of slow to roll back from, as deploy records one.
	prev := &store.UpdateRun{Service: "slow", Sender: hostWorldSender, RoomID: "!ops:wrappers.test"}
	if err := w.store.Updates().Start(w.ctx, prev); err != nil {
		t.Fatal(err)
	}
	prev.Result, prev.OldCommit, prev.NewCommit = store.UpdateSucceeded, strings.Repeat("a", 40), strings.Repeat("b", 40)
	if err := w.store.Updates().Finish(w.ctx, prev); err != nil {
		t.Fatal(err)
	}

	done := make(chan []string)
	go func() { done <- w.send("!rollback slow") }()
	// opsroom stops while the rollback fetches (slow's fetch takes 30 s): at
	// its next start the run is still running in the database.
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := w.store.Updates().Running(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 1 && runs[0].ProgressEventID != "" && runs[0].Stage == "fetch" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollback is not recorded at stage fetch with its progress message: %+v", runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := MarkInterrupted(w.ctx, w.cli, w.store); err != nil {
		t.Fatal(err)
	}
	said := strings.Join(append(<-done, w.room.take()...), "\n---\n")
	mustShow(t, said, "⚠️ Rollback of **slow** was interrupted by a restart of opsroom at stage fetch")
	if strings.Contains(said, "Update of **slow** was interrupted") {
		t.Errorf("the interrupted rollback is called an update:\n%s", said)
	}
}
